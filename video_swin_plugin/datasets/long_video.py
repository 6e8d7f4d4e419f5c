"""Long recordings scored in intervals (e.g. 30-s sleep epochs) -> samples of K consecutive clips.

Annotation: a CSV with header ``video,start,end,label`` (seconds as floats; ``label`` a class
name from ``classes``), one row per scored interval, many rows per video; ``video`` is a path
relative to ``data_prefix['video']``. Videos are ordinary files, decoded by path with the
staging reader (:class:`~.video_transforms.ClipGridDecode`), which seeks to the frames asked
for instead of loading the file.

Clips lie on the clip grid of :mod:`video_swin_plugin.clip_grid` (the one staging uses): clip
k starts at ``k * clip_stride_sec`` and spans ``clip_len`` frames ``frame_interval`` apart. A
clip takes the label of the interval its centre falls in, or -1 (unscored) where none does.

Two timelines:

* ``timeline='grid'`` (training a memory model): a window is K *consecutive clips of the grid*,
  scored or not, exactly as staging feeds them; an unscored clip is a memory step without loss
  (label -1). ``burn_in`` B > 0 prepends the B grid clips before each window as memory-only
  steps, so a window starts from a memory that has seen its recent past. Windows without a
  scored clip are skipped. Most of a real night is never scored in detail; what happens there
  (a cue, a position change) can only be learned if training sees it.
* ``timeline='scored'`` (test windows, and clip models): a window is K consecutive *scored*
  clips; clips in unscored gaps are skipped. In ``test_mode`` a last window ending at the
  video's last scored clip covers the tail.

Training windows start every ``window_stride`` clips (default K: no overlap). ``new_clips``
marks the clips (after the burn-in) no earlier window covered, so a metric counts every clip
once.

Split train / val / test by recording or animal, never by clip or window: neighbouring epochs of
one night are nearly identical, and a clip-level split leaks them across the split. Use
:func:`split_by_recording`.
"""
import csv
import os
import warnings
import os.path as osp
from collections import OrderedDict
from dataclasses import asdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmaction.datasets import BaseActionDataset
from mmengine.logging import print_log

from ..clip_grid import UNSCORED, ClipSchedule
from ..errors import AnnotationError, ConfigError, UsageError
from ..video_reader import probe_video
from ..registry import DATASETS
from ..text_files import open_text
# the samplers lived here before; importable from here as before
from .recording_samplers import InterleavedRecordingSampler, RecordingStreamSampler  # noqa: F401,E501

REQUIRED_COLUMNS = ('video', 'start', 'end', 'label')


def read_intervals(ann_file: str, classes: Sequence[str]) -> 'OrderedDict[str, list]':
    """Read and check a ``video,start,end,label`` CSV.

    Returns ``{video: [(start, end, label_index, line_number), ...]}`` sorted by start, videos
    in order of first appearance. Raises :class:`AnnotationError` naming the file and line on
    missing columns, a bad number, an unknown label, ``end <= start`` or overlapping intervals.
    """
    class_index = {name: i for i, name in enumerate(classes)}
    videos: 'OrderedDict[str, list]' = OrderedDict()
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    with open_text(ann_file) as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise AnnotationError(f'{ann_file}, line 1: missing column(s) {missing}; the header '
                                  f'must hold {",".join(REQUIRED_COLUMNS)}, got {header}')
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            where = f'{ann_file}, line {line}'
            values = {c: (row.get(c) or '').strip() for c in REQUIRED_COLUMNS}
            if not values['video']:
                raise AnnotationError(f'{where}: empty "video" field')
            try:
                start, end = float(values['start']), float(values['end'])
            except ValueError:
                raise AnnotationError(f'{where}: "start" and "end" must be seconds as numbers, '
                                      f'got {values["start"]!r}, {values["end"]!r}') from None
            if not (np.isfinite(start) and np.isfinite(end)) or start < 0:
                raise AnnotationError(f'{where}: start {start} / end {end} must be finite, '
                                      'start >= 0')
            if end <= start:
                raise AnnotationError(f'{where}: end ({end}) must be greater than start ({start})')
            if values['label'] not in class_index:
                raise AnnotationError(f'{where}: unknown label {values["label"]!r}; expected one '
                                      f'of the config\'s classes {list(classes)}')
            videos.setdefault(values['video'], []).append(
                (start, end, class_index[values['label']], line))
    if not videos:
        raise AnnotationError(f'{ann_file}: no annotated intervals below the header')
    for video, rows in videos.items():
        rows.sort()
        for prev, cur in zip(rows, rows[1:]):
            if cur[0] < prev[1]:
                raise AnnotationError(
                    f'{ann_file}, line {cur[3]}: interval [{cur[0]}, {cur[1]}) of {video} '
                    f'overlaps [{prev[0]}, {prev[1]}) on line {prev[3]}')
    return videos


def window_starts(num: int, num_clips: int, window_stride: int, cover_tail: bool) -> List[int]:
    """First clip of each window of ``num_clips`` among ``num`` clips."""
    if num < num_clips:
        return []
    starts = list(range(0, num - num_clips + 1, window_stride))
    if cover_tail and starts[-1] + num_clips < num:
        starts.append(num - num_clips)
    return starts


@DATASETS.register_module()
class LongVideoDataset(BaseActionDataset):
    """Windows of K consecutive labelled clips from long, interval-scored recordings.

    Each item holds ``filename``, ``frame_inds`` (K * clip_len frame indices, clip by clip), ``video_info``,
    ``clip_len``, ``frame_interval``, ``num_clips`` (= K, so ``FormatShape('NCTHW')`` gives
    ``(K, C, T, H, W)``), ``label`` (K class indices), and for metrics ``video``,
    ``clip_index`` (position among the video's labelled clips), ``clip_start`` (seconds) and
    ``new_clips`` (True where no earlier window of this dataset covered the clip).

    Args:
        ann_file (str): The ``video,start,end,label`` CSV.
        pipeline (list): Transforms, starting with ``ClipGridDecode``.
        classes (Sequence[str]): Class names; the index of a name is its label.
        clip_len (int): Frames per clip. Defaults to 32.
        frame_interval (int): Step between a clip's frames. Defaults to 2.
        clip_stride_sec (float): Seconds between the starts of consecutive clips.
            Defaults to 2.0.
        num_clips (int): K, consecutive clips per sample. Defaults to 8.
        window_stride (int, optional): Labelled clips between window starts. Defaults to None
            (= ``num_clips``).
        data_prefix (dict): ``dict(video=folder)`` the CSV's paths are relative to.
        test_mode (bool): Also cover each video's tail with one overlapping window.
            Defaults to False.
        timeline (str): ``'scored'`` (windows of consecutive scored clips) or ``'grid'``
            (windows of consecutive grid clips, unscored ones labelled -1; training only).
            Defaults to ``'scored'``.
        burn_in (int): With ``timeline='grid'``, memory-only grid clips before each window
            (label -1; fewer near the start of a recording). Defaults to 0.
    """

    def __init__(self, ann_file: str, pipeline: List[Union[dict, Callable]],
                 classes: Sequence[str], clip_len: int = 32, frame_interval: int = 2,
                 clip_stride_sec: float = 2.0, num_clips: int = 8,
                 window_stride: Optional[int] = None, data_prefix: dict = dict(video=''),
                 test_mode: bool = False, timeline: str = 'scored', burn_in: int = 0,
                 **kwargs) -> None:
        if not classes:
            raise ValueError('LongVideoDataset needs the class names (classes=...)')
        if num_clips < 1:
            raise ConfigError(f'num_clips must be >= 1, got {num_clips}')
        self.classes = tuple(classes)
        self.schedule = ClipSchedule(clip_len, frame_interval, float(clip_stride_sec))
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.clip_stride_sec = float(clip_stride_sec)
        self.num_clips = num_clips
        self.window_stride = window_stride or num_clips
        if timeline not in ('scored', 'grid'):
            raise ConfigError(f"timeline must be 'scored' or 'grid', got {timeline!r}")
        if timeline == 'grid' and test_mode:
            raise ConfigError("timeline='grid' is for training; test windows hold the scored "
                              'clips (staging, tools/stream_infer.py, covers the whole grid)')
        if burn_in < 0 or (burn_in and timeline != 'grid'):
            raise ConfigError(f"burn_in ({burn_in}) must be >= 0 and needs timeline='grid' "
                              '(burn-in clips are grid clips before the window)')
        self.timeline = timeline
        self.burn_in = burn_in
        super().__init__(ann_file, pipeline=pipeline, data_prefix=data_prefix,
                         test_mode=test_mode, metainfo=dict(classes=self.classes), **kwargs)

    def load_data_list(self) -> List[dict]:
        videos = read_intervals(self.ann_file, self.classes)
        prefix = self.data_prefix.get('video', '')
        data_list = []
        for video, intervals in videos.items():
            path = osp.join(prefix, video)
            if not osp.isfile(path):
                raise AnnotationError(f'{self.ann_file}, line {intervals[0][3]}: video file '
                                      f'not found: {path}')
            info = probe_video(path)
            info_dict = asdict(info)  # ClipGridDecode reads the frames without probing again
            fps = info.fps
            labels = self.schedule.clip_labels(intervals, fps,
                                               self.schedule.num_clips(info.num_frames, fps))
            if self.timeline == 'grid':
                windows = grid_windows(labels, self.num_clips, self.window_stride, self.burn_in)
                data_list += [self._item(path, video, info_dict, fps, labels, window, burn)
                              for window, burn in windows]
                if not windows:
                    print_log(f'{path}: no window of {self.num_clips} grid clips holds a scored '
                              'clip; skipped', logger='current', level=30)
                continue
            clips = np.flatnonzero(labels != UNSCORED)  # grid indices of the labelled clips
            starts = window_starts(len(clips), self.num_clips, self.window_stride,
                                   self.test_mode)
            if not starts:
                print_log(f'{path}: {len(clips)} labelled clips, fewer than num_clips='
                          f'{self.num_clips}; skipped', logger='current', level=30)
            covered = 0
            for s in starts:
                window = clips[s:s + self.num_clips]
                index = np.arange(s, s + self.num_clips)
                data_list.append(dict(
                    filename=path, video=video, video_info=info_dict,
                    frame_inds=np.array([self.schedule.frame_indices(k, fps) for k in window],
                                        dtype=np.int64).reshape(-1),
                    clip_len=self.clip_len, frame_interval=self.frame_interval,
                    num_clips=self.num_clips, label=labels[window],
                    clip_index=index,
                    clip_start=np.array([self.schedule.clip_times(k, fps)[0] for k in window]),
                    new_clips=index >= covered))
                covered = s + self.num_clips
        return data_list

    def _item(self, path: str, video: str, info: dict, fps: float, labels: np.ndarray,
              window: np.ndarray, burn: int) -> dict:
        """A grid-timeline sample: grid clips ``window`` (the first ``burn`` memory-only)."""
        label = labels[window].copy()
        label[:burn] = UNSCORED
        return dict(
            filename=path, video=video, video_info=info,
            frame_inds=np.array([self.schedule.frame_indices(k, fps) for k in window],
                                dtype=np.int64).reshape(-1),
            clip_len=self.clip_len, frame_interval=self.frame_interval,
            num_clips=len(window), label=label, clip_index=window, burn_in=burn,
            clip_start=np.array([self.schedule.clip_times(k, fps)[0] for k in window]),
            new_clips=np.arange(len(window)) >= burn)


def grid_windows(labels: np.ndarray, num_clips: int, window_stride: int,
                 burn_in: int = 0) -> List[Tuple[np.ndarray, int]]:
    """``(grid clip indices, burn-in length)`` of each training window on the grid.

    Main parts of ``num_clips`` clips start every ``window_stride`` clips; each is preceded by
    ``min(burn_in, start)`` burn-in clips, and a window near the start of the recording that
    cannot have them all is lengthened at the end instead, so every window holds
    ``num_clips + burn_in`` clips (batches need one length). Windows whose main part holds no
    scored clip (``labels`` >= 0) are skipped."""
    n, length = len(labels), num_clips + burn_in
    out = []
    for s in range(0, n - length + 1 + burn_in, window_stride):
        first = max(0, s - burn_in)
        if first + length > n:
            break
        burn = s - first
        if (labels[first + burn:first + length] != UNSCORED).any():
            out.append((np.arange(first, first + length), burn))
    return out


def split_by_recording(ann_file: str, out_files: Dict[str, str],
                       fractions: Dict[str, float], group_by: Optional[Callable] = None,
                       seed: int = 0) -> Dict[str, List[str]]:
    """Split a ``video,start,end,label`` CSV by recording (or animal), never by clip.

    Args:
        ann_file (str): The full CSV.
        out_files (dict): Split name -> CSV path to write, e.g. ``{'train': ..., 'test': ...}``.
        fractions (dict): Split name -> fraction of the groups (summing to 1).
        group_by (callable, optional): ``video path -> group key`` (e.g. the animal id, so all
            nights of one sow land in one split). Defaults to the video path itself.
        seed (int): Shuffling seed. Defaults to 0.

    Returns:
        Split name -> the group keys in it. Every row of a group goes to the same split.

    Raises:
        UsageError: a split with a fraction above 0 would get no group (a split with fraction 0
            is written empty, with a warning).
    """
    if set(out_files) != set(fractions):
        raise ValueError(f'out_files {sorted(out_files)} and fractions {sorted(fractions)} '
                         'must name the same splits')
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f'fractions must sum to 1, got {sum(fractions.values())}')
    group_by = group_by or (lambda video: video)
    with open_text(ann_file) as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if 'video' not in header:
            raise AnnotationError(f'{ann_file}, line 1: no "video" column in {header}')
        rows = list(reader)
    groups = sorted({group_by(r['video']) for r in rows})
    np.random.default_rng(seed).shuffle(groups)
    names = list(fractions)
    counts = [int(round(fractions[n] * len(groups))) for n in names]
    counts[-1] = len(groups) - sum(counts[:-1])
    empty = [n for n, c in zip(names, counts) if c <= 0 and fractions[n] > 0]
    if empty:  # a training or test set without a recording fails much later, or silently
        raise UsageError(f'{ann_file}: {len(groups)} recording groups cannot fill the splits '
                         f'{fractions}: {empty} would hold none; give fewer splits, larger '
                         'fractions or more recordings')
    for n in names:
        if fractions[n] == 0:
            warnings.warn(f'split_by_recording: split {n!r} has fraction 0 and stays empty')
    assigned, start = {}, 0
    for name, count in zip(names, counts):
        assigned[name] = sorted(groups[start:start + count])
        start += count
    split_of = {g: name for name, gs in assigned.items() for g in gs}
    for name in names:
        os.makedirs(osp.dirname(osp.abspath(out_files[name])), exist_ok=True)
        with open(out_files[name], 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(r for r in rows if split_of[group_by(r['video'])] == name)
    return assigned
