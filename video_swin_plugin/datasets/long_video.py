"""Long recordings scored in intervals (e.g. 30-s sleep epochs) -> samples of K consecutive clips.

Annotation: a CSV with header ``video,start,end,label`` (seconds as floats; ``label`` a class
name from ``classes``), one row per scored interval, many rows per video; ``video`` is a path
relative to ``data_prefix['video']``. Videos are ordinary files, decoded by path with the
staging reader (:class:`~.video_transforms.ClipGridDecode`), which seeks to the frames asked
for instead of loading the file.

Clips lie on the clip grid of :mod:`video_swin_plugin.clip_grid` (the one staging uses): clip
k starts at ``k * clip_stride_sec`` and spans ``clip_len`` frames ``frame_interval`` apart. A
clip takes the label of the interval its centre falls in; clips whose centre falls in an
unlabelled gap are skipped, so a window's clips are consecutive
*labelled* clips of one video. A sample is ``num_clips`` (K) such clips; training windows start
every ``window_stride`` labelled clips (default K: no overlap). In ``test_mode`` a last window
ending at the video's last labelled clip covers the tail, and ``new_clips`` marks the clips no
earlier window covered, so a metric counts every clip once.

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
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
from torch.utils.data import Sampler
from mmaction.datasets import BaseActionDataset
from mmengine.logging import print_log

from ..clip_grid import UNSCORED, ClipSchedule
from ..errors import AnnotationError, ConfigError, UsageError
from ..video_reader import probe_video
from ..registry import DATA_SAMPLERS, DATASETS
from ..text_files import open_text

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
    """

    def __init__(self, ann_file: str, pipeline: List[Union[dict, Callable]],
                 classes: Sequence[str], clip_len: int = 32, frame_interval: int = 2,
                 clip_stride_sec: float = 2.0, num_clips: int = 8,
                 window_stride: Optional[int] = None, data_prefix: dict = dict(video=''),
                 test_mode: bool = False, **kwargs) -> None:
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


@DATA_SAMPLERS.register_module()
class RecordingStreamSampler(Sampler):
    """Feeds each batch slot whole recordings, window by window in time order (for random state
    passing in ``SequenceRecognizer3D``: a slot's next window continues its last one).

    There are ``batch_size * num_replicas`` slots (streams); rank r owns slots
    ``r * batch_size ... (r + 1) * batch_size - 1`` and its batch t holds window t of each of
    them. Each epoch the recordings are shuffled and dealt out whole, longest first, each to the
    slot with the fewest windows so far (balanced by window count); a slot walks its recordings
    one after another, so no recording is split across slots or ranks within an epoch and every
    window is used once. All ranks run the same number of batches (DDP needs it): the longest
    stream's length, the same every epoch. A shorter stream is topped up by walking its own
    recordings again from the start (the recognizer resets there); with fewer recordings than
    slots, an empty slot borrows a recording (a warning says so).

    Args:
        dataset (LongVideoDataset): The dataset (its items carry ``video`` and ``clip_index``).
        batch_size (int): Must equal the dataloader's ``batch_size``.
        shuffle (bool): Shuffle the recordings each epoch. Defaults to True.
        seed (int, optional): Seed; mmengine passes the run's (the same on every rank).
            Defaults to None (0).
        num_replicas (int, optional): Number of ranks. Defaults to None (the world size).
        rank (int, optional): This rank. Defaults to None (the process's rank).
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = True,
                 seed: Optional[int] = None, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None) -> None:
        from mmengine.dist import get_dist_info
        world_rank, world_size = get_dist_info()
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = 0 if seed is None else seed
        self.world_size = world_size if num_replicas is None else num_replicas
        self.rank = world_rank if rank is None else rank
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'rank {self.rank} outside [0, {self.world_size})')
        self.epoch = 0
        by_video: 'OrderedDict[str, list]' = OrderedDict()
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            by_video.setdefault(info['video'], []).append((int(info['clip_index'][0]), i))
        self.videos = [[i for _, i in sorted(windows)] for windows in by_video.values()]
        self.num_streams = batch_size * self.world_size
        if len(self.videos) < self.num_streams:
            print_log(f'RecordingStreamSampler: {len(self.videos)} recordings for '
                      f'{self.num_streams} batch slots (batch_size {batch_size} x '
                      f'{self.world_size} ranks); some slots repeat a recording',
                      logger='current', level=30)
        # The same every epoch: the deal depends on the recordings' lengths, not their order
        self.stream_length = max(map(len, self.streams()), default=0)

    def recordings(self) -> List[List[int]]:
        """This epoch's recordings (indices into ``self.videos``) of each slot, all ranks."""
        order = np.arange(len(self.videos))
        rng = np.random.default_rng(self.seed + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        # longest first, each to the least-filled slot; a stable sort keeps the shuffled order
        # among recordings of equal length (LPT scheduling, within 4/3 of the best balance)
        longest_first = sorted(order, key=lambda v: -len(self.videos[v]))
        slots: List[List[int]] = [[] for _ in range(self.num_streams)]
        filled = [0] * self.num_streams
        for v in longest_first:
            k = int(np.argmin(filled))
            slots[k].append(int(v))
            filled[k] += len(self.videos[v])
        if self.shuffle:  # which rank and slot gets the longest recordings varies too
            slots = [slots[k] for k in rng.permutation(self.num_streams)]
        position = {int(v): p for p, v in enumerate(order)}
        return [sorted(slot, key=position.__getitem__) for slot in slots]

    def streams(self) -> List[List[int]]:
        """This epoch's streams of dataset indices, all ranks, before topping up."""
        return [[i for v in slot for i in self.videos[v]] for slot in self.recordings()]

    def __iter__(self) -> Iterator[int]:
        streams, length = self.streams(), self.stream_length
        if not length:
            return
        mine = []
        for k in range(self.rank * self.batch_size, (self.rank + 1) * self.batch_size):
            stream = streams[k] or self.videos[k % len(self.videos)]  # an empty slot borrows
            mine.append([stream[t % len(stream)] for t in range(length)])
        for t in range(length):
            for stream in mine:
                yield stream[t]

    def __len__(self) -> int:
        return self.stream_length * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


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
