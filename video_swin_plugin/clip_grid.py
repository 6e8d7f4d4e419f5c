"""The clip grid: which frames make clip ``k`` of a recording, and which stage it is scored as.

One definition serves every part that cuts a recording into clips: the training windows
(``LongVideoDataset``), the streaming reader, the agreement with a scorer's labels and the
per-clip embeddings. A model trained on one grid and run on another would be wrong without
any error, so there is exactly one place that decides "first frame, span, label at the
centre", and one config key per setting: ``clip_len``, ``frame_interval``, ``clip_stride_sec``.
No mmengine or mmaction import here.
"""
import math
from dataclasses import asdict, dataclass
from typing import List, Mapping, Sequence, Tuple

import numpy as np

from .errors import ConfigError

UNSCORED = -1
GRID_KEYS = ('clip_len', 'frame_interval', 'clip_stride_sec')


@dataclass(frozen=True)
class ClipSchedule:
    """Clip ``k`` is ``clip_len`` frames ``frame_interval`` apart, its first frame the one
    nearest ``k * clip_stride_sec`` seconds. One clip accounts for ``clip_stride_sec`` of the
    timeline; it is scored as the stage at the centre of its frames."""
    clip_len: int
    frame_interval: int
    clip_stride_sec: float

    def __post_init__(self):
        if self.clip_len < 1 or self.frame_interval < 1:
            raise ConfigError(f'clip_len and frame_interval must be >= 1, got {self.clip_len}, '
                              f'{self.frame_interval}')
        if not self.clip_stride_sec > 0:
            raise ConfigError(f'clip_stride_sec must be > 0, got {self.clip_stride_sec}')

    @property
    def span(self) -> int:
        """Frames from a clip's first to its last sampled frame, inclusive."""
        return (self.clip_len - 1) * self.frame_interval + 1

    def first_frame(self, k: int, fps: float) -> int:
        return int(round(k * self.clip_stride_sec * fps))

    def frame_indices(self, k: int, fps: float) -> List[int]:
        first = self.first_frame(k, fps)
        return [first + i * self.frame_interval for i in range(self.clip_len)]

    def clip_times(self, k: int, fps: float) -> Tuple[float, float]:
        """Start and end (s) of clip ``k``: its first frame to the end of its last frame."""
        first = self.first_frame(k, fps)
        return first / fps, (first + self.span) / fps

    def centre_times(self, num_clips: int, fps: float) -> np.ndarray:
        """Seconds at the centre of each clip's frames (its first and last frame averaged),
        for clips ``0..num_clips-1``."""
        # np.round rounds half to even, as Python's round in first_frame
        first = np.round(np.arange(num_clips) * self.clip_stride_sec * fps)
        return (first + (self.span - 1) / 2) / fps

    def num_clips(self, num_frames: int, fps: float) -> int:
        """Clips whose frames all lie in ``[0, num_frames)``."""
        if num_frames < self.span:
            return 0
        k = int(math.floor((num_frames - self.span) / (self.clip_stride_sec * fps))) + 2
        while k > 0 and self.first_frame(k - 1, fps) + self.span > num_frames:
            k -= 1
        return k

    def clip_labels(self, intervals: Sequence[Tuple[float, float, int]], fps: float,
                    num_clips: int) -> np.ndarray:
        """The scored stage of each clip: the label of the interval ``[start, end)`` its centre
        falls in, ``UNSCORED`` (-1) where none does. ``intervals``: ``(start_sec, end_sec,
        label, ...)`` tuples that do not overlap."""
        labels = np.full(num_clips, UNSCORED, dtype=np.int64)
        if not len(intervals) or not num_clips:
            return labels
        rows = sorted((float(iv[0]), float(iv[1]), int(iv[2])) for iv in intervals)
        starts, ends, values = (np.array(col) for col in zip(*rows))
        centres = self.centre_times(num_clips, fps)
        i = np.searchsorted(starts, centres, side='right') - 1  # last interval starting <= centre
        inside = (i >= 0) & (centres < ends[np.maximum(i, 0)])
        labels[inside] = values[i[inside]]
        return labels

    def to_dict(self) -> dict:
        return asdict(self)


def schedule_from_config(cfg: Mapping) -> ClipSchedule:
    """The grid a config's model was trained with.

    Read from the top-level ``clip_grid = dict(clip_len=..., frame_interval=...,
    clip_stride_sec=...)`` and from every train/val/test dataset that sets ``clip_len``
    (``LongVideoDataset``); where several are given they must agree, so a model is never run
    on another grid than the one it was trained on.
    """
    if cfg.get('stream_cfg', None) is not None:
        raise ConfigError('the config key stream_cfg is now clip_grid, with clip_len, '
                          'frame_interval and clip_stride_sec (seconds between clip starts)')
    found = []
    if cfg.get('clip_grid', None) is not None:
        found.append(('clip_grid', cfg['clip_grid']))
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name, None)
        dataset = loader.get('dataset', None) if loader else None
        if dataset is not None and 'clip_len' in dataset:
            found.append((f'{name}.dataset', dataset))
    if not found:
        raise ConfigError('the config sets no clip grid: add clip_grid=dict(clip_len=..., '
                          'frame_interval=..., clip_stride_sec=...) or a dataset with them')
    grids = []
    for where, source in found:
        missing = [k for k in ('clip_len', 'clip_stride_sec') if source.get(k, None) is None]
        if missing:
            raise ConfigError(f'{where} sets no {" or ".join(missing)} (the clip grid needs '
                              f'{", ".join(GRID_KEYS)}); got keys {sorted(source)}')
        grids.append((where, ClipSchedule(int(source['clip_len']),
                                          int(source.get('frame_interval', 1)),
                                          float(source['clip_stride_sec']))))
    for where, grid in grids[1:]:
        if grid != grids[0][1]:
            raise ConfigError(f'the config has two clip grids: {grids[0][0]} '
                              f'{grids[0][1].to_dict()} and {where} {grid.to_dict()}; a model '
                              'must be run on the grid it was trained on')
    return grids[0][1]
