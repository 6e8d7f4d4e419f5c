"""``CheckedVideoDataset``: mmaction2's ``VideoDataset`` with errors that name the bad input.

mmaction2's ``VideoDataset`` reads ``path label`` lines with bare ``int()``/tuple unpacking, takes a
one-field line for an unlabelled video, and lets a missing or broken video fail deep inside decord.
Here every problem is reported with the annotation file and line, or the video file:

- a line with too few fields or a label that is not an integer;
- a video that does not exist or is empty (0 bytes), checked when the list is read;
- a video that cannot be decoded, when its sample is loaded.
"""
import os
import os.path as osp
from typing import List

from mmaction.datasets import VideoDataset

from ..errors import AnnotationError, VideoReadError
from ..registry import DATASETS
from ..text_files import open_text


@DATASETS.register_module()
class CheckedVideoDataset(VideoDataset):
    """``VideoDataset`` that checks its annotation lines and videos.

    Args:
        check_videos (bool): Check, while reading the list, that each video exists and is not
            empty. Defaults to True.
        allow_unlabeled (bool): Accept one-field lines (a video without label, label -1) as
            mmaction2 does for inference lists. Defaults to False, so a line that lost its
            label is an error.
        **kwargs: As :class:`mmaction.datasets.VideoDataset`.
    """

    def __init__(self, *args, check_videos: bool = True, allow_unlabeled: bool = False,
                 **kwargs) -> None:
        self.check_videos = check_videos
        self.allow_unlabeled = allow_unlabeled
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'annotation file not found: {self.ann_file}')
        data_list = []
        with open_text(self.ann_file) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                data_list.append(self._parse_line(line, f'{self.ann_file}:{lineno}'))
        return data_list

    def _parse_line(self, line: str, where: str) -> dict:
        fields = line.strip().split(self.delimiter)
        if len(fields) < 2 and not self.allow_unlabeled:
            raise AnnotationError(f'{where}: expected "<video> <label>", got {line.strip()!r} '
                                  f'(too few fields)')
        if len(fields) > 2 and not self.multi_class:
            raise AnnotationError(f'{where}: expected "<video> <label>", got {line.strip()!r} '
                                  f'(too many fields; multi_class=False)')
        filename, raw_labels = fields[0], fields[1:]
        labels = []
        for raw in raw_labels:
            try:
                labels.append(int(raw))
            except ValueError:
                raise AnnotationError(f'{where}: label {raw!r} is not an integer') from None
        if self.num_classes is not None:
            for label in labels:
                if not 0 <= label < self.num_classes:
                    raise AnnotationError(f'{where}: label {label} outside [0, '
                                          f'{self.num_classes})')
        if self.data_prefix.get('video'):
            filename = osp.join(self.data_prefix['video'], filename)
        if self.check_videos:
            if not osp.isfile(filename):
                raise FileNotFoundError(f'{where}: video not found: {filename}')
            if os.path.getsize(filename) == 0:
                raise VideoReadError(f'{where}: video is empty (0 bytes): {filename}')
        if self.multi_class:
            label = labels
        else:
            label = labels[0] if labels else -1
        return dict(filename=filename, label=label)

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as e:  # decoding errors name no file; add it
            filename = self.get_data_info(idx).get('filename', '?')
            raise VideoReadError(f'cannot read video {filename}: {type(e).__name__}: {e}') from e
