"""Staging whole recordings clip by clip, with the recurrent memory carried along.

Two layers:

* :class:`StreamingClassifier` - a model plus a clip schedule. ``run(video)`` yields one
  :class:`ClipResult` per scheduled clip, in order, and owns nothing between calls: the memory
  comes in as an argument and goes out with every result (the ``generate`` loop of nanoGPT is
  the model). Decoding (PyAV, packet by packet) runs in a background thread behind a bounded
  queue, so host memory is bounded by a few clips whatever the recording's length.
* :func:`stream_videos` - the job behind ``tools/stream_infer.py``: per video a CSV, a
  summary JSON and a hypnogram PNG, written atomically; a resumable state (clips done, the
  memory after the last one) saved as it goes, so a killed run continues where it stopped
  and ends with the same files; unreadable files and stretches reported and skipped.
"""
import csv
import hashlib
import io
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .reports import (ClipTable, atomic_write_bytes, atomic_write_text, csv_header, final_csv,
                      find_class, format_row, hypnogram_png, merge_stretches, read_rows,
                      stage_statistics, to_json, WAKE_NAMES)
from .smoothing import SMOOTH_MODES, UNSCORED, smooth_labels
from .video_stream import ClipReader, ClipSchedule, VideoReadError, prefetch

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.ts')
STATE_VERSION = 1


# ---- building from a config ---------------------------------------------------------------------
def schedule_from_config(cfg) -> ClipSchedule:
    """The clip schedule a model was trained with: ``cfg.stream_cfg`` if present, else the
    test (then val, then train) dataset's ``clip_len``, ``frame_interval`` and clip stride."""
    source = cfg.get('stream_cfg', None)
    if source is None:
        for name in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
            loader = cfg.get(name, None)
            dataset = loader.get('dataset') if loader else None
            if dataset is not None and 'clip_len' in dataset:
                source = dataset
                break
    if source is None:
        raise KeyError('the config sets no clip schedule: add stream_cfg=dict(clip_len=..., '
                       'frame_interval=..., stride_sec=...) or a test dataset with clip_len, '
                       'frame_interval and a clip stride')
    stride = None
    for key in ('stride_sec', 'clip_stride', 'clip_stride_sec', 'stride'):
        if source.get(key, None) is not None:
            stride = float(source[key])
            break
    if stride is None:
        raise KeyError(f'the clip schedule in the config ({dict(source)}) has no stride_sec')
    return ClipSchedule(int(source['clip_len']), int(source.get('frame_interval', 1)), stride)


# pipeline steps that read or pack data (done by the stream itself) and steps that act on frames
_READ_STEPS = ('Init', 'Decode', 'SampleFrames', 'Sample', 'FormatShape', 'PackActionInputs',
               'LongVideo', 'Clips')
_FRAME_STEPS = ('Resize', 'CenterCrop')


def frame_transform_from_config(cfg) -> 'FrameTransform':
    """The test pipeline's frame transforms (Resize, CenterCrop), built by mmaction2 so the
    frames the model sees are exactly those of ``tools/test.py``."""
    pipeline = cfg.get('test_pipeline', None)
    if pipeline is None:
        loader = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None)
        pipeline = loader['dataset'].get('pipeline', []) if loader else []
    steps = []
    for step in pipeline:
        kind = step['type'].split('.')[-1]
        if kind in _FRAME_STEPS:
            steps.append(dict(step))
        elif not any(word in kind for word in _READ_STEPS):
            raise ValueError(f'test pipeline step {kind!r} is not supported for streaming (only '
                             f'{", ".join(_FRAME_STEPS)} act on the frames); use one crop')
    return FrameTransform(steps)


class FrameTransform:
    """A clip's list of RGB frames -> ``uint8 Tensor[3, T, H, W]`` through mmaction2's own
    frame transforms (configs as in a test pipeline)."""

    def __init__(self, steps: Sequence[dict] = ()) -> None:
        from mmaction.registry import TRANSFORMS
        self.steps = [dict(s) for s in steps]
        self.transforms = [TRANSFORMS.build(dict(s, type=s['type'].split('.')[-1]))
                           for s in self.steps]

    def __call__(self, frames: List[np.ndarray]) -> torch.Tensor:
        results = dict(imgs=frames, img_shape=frames[0].shape[:2], modality='RGB')
        for t in self.transforms:
            results = t(results)
        clip = np.stack(results['imgs'])  # [T, H, W, 3]
        return torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))  # [3,T,H,W]


def build_model(config, checkpoint: Optional[str] = None, device: str = 'cpu',
                cfg_options: Optional[Dict] = None):
    """``(cfg, model)``: the project's ``init_recognizer`` (strict load, mismatched keys
    named), in eval mode."""
    from .inference import init_recognizer
    model = init_recognizer(config, checkpoint, device, cfg_options)
    if not hasattr(model, 'predict_clip'):
        raise TypeError(f'{type(model).__name__} has no init_memory/predict_clip; streaming '
                        'needs a recognizer like SequenceRecognizer3D')
    return model.cfg, model


def classes_from_config(cfg, num_classes: int) -> List[str]:
    for source in (cfg, cfg.get('test_dataloader', {}).get('dataset', {}) or {}):
        names = source.get('classes', None)
        if names:
            return list(names)
    return [f'class{i}' for i in range(num_classes)]


# ---- one video, clip by clip --------------------------------------------------------------------
@dataclass
class ClipResult:
    """One scheduled clip. ``scores`` (softmax, ``[num_classes]``) and ``label`` are None when
    the clip could not be read (``skipped`` says why). ``memory`` is the state after this clip:
    pass it as ``memory`` to continue, or save it to resume."""
    video: str
    clip: int
    start: float
    end: float
    scores: Optional[np.ndarray]
    label: Optional[int]
    memory: object
    skipped: Optional[str] = None


def _tree_map(fn, obj):
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tree_map(fn, o) for o in obj)
    if isinstance(obj, dict):
        return {k: _tree_map(fn, v) for k, v in obj.items()}
    return obj


class StreamingClassifier:
    """Classifies the clips of long videos one after another, carrying the model's memory.

    Args:
        config (str | Config): a config with a recognizer that has ``init_memory`` and
            ``predict_clip`` (e.g. ``SequenceRecognizer3D``), a clip schedule and a test
            pipeline.
        checkpoint (str, optional): weights, loaded strictly.
        cfg_options (dict, optional): config overrides, as ``--cfg-options``.
        device (str): Defaults to ``'cpu'``.
        schedule (ClipSchedule, optional): overrides the config's.
        queue_size (int): decoded clips kept ready ahead of the model. Defaults to 4.

    Example::

        clf = StreamingClassifier('configs/.../tiny.py', 'demo/model.pth')
        for r in clf.run('night1.mp4'):
            print(r.start, clf.classes[r.label] if r.label is not None else r.skipped)
    """

    def __init__(self, config=None, checkpoint: Optional[str] = None, device: str = 'cpu',
                 schedule: Optional[ClipSchedule] = None, queue_size: int = 4, *,
                 model=None, classes: Optional[Sequence[str]] = None,
                 transform: Optional[Callable] = None,
                 cfg_options: Optional[Dict] = None) -> None:
        if model is None:
            cfg, model = build_model(config, checkpoint, device, cfg_options)
            schedule = schedule or schedule_from_config(cfg)
            transform = transform or frame_transform_from_config(cfg)
            classes = classes or classes_from_config(cfg, model.cls_head.num_classes)
        elif schedule is None or classes is None:
            raise ValueError('a model given directly needs a schedule and classes')
        self.model = model.eval()
        self.device = torch.device(device)
        self.schedule = schedule
        self.transform = transform or FrameTransform()
        self.classes = list(classes)
        self.queue_size = queue_size

    @classmethod
    def from_model(cls, model, classes: Sequence[str], schedule: ClipSchedule,
                   transform: Optional[Callable] = None, device: str = 'cpu',
                   queue_size: int = 4) -> 'StreamingClassifier':
        """Wrap a built model (anything with ``init_memory`` and ``predict_clip``)."""
        return cls(model=model, classes=classes, schedule=schedule, transform=transform,
                   device=device, queue_size=queue_size)

    def init_memory(self):
        """The state at the start of a recording (the model's learned initial memory)."""
        with torch.inference_mode():
            return self.model.init_memory(1)

    def reader(self, video: str, start_clip: int = 0,
               max_clips: Optional[int] = None) -> ClipReader:
        return ClipReader(video, self.schedule, self.transform, start_clip, max_clips)

    def run(self, video: str, memory=None, start_clip: int = 0,
            max_clips: Optional[int] = None,
            reader: Optional[ClipReader] = None) -> Iterator[ClipResult]:
        """Yield a :class:`ClipResult` for each scheduled clip of ``video`` from
        ``start_clip`` on, in order.

        Args:
            video (str): a video file.
            memory: the state to start from: None = reset (``init_memory``); the ``memory`` of
                a previous result to continue (resume, or carry across files of a session).
            start_clip (int): first clip; decoding seeks there. Defaults to 0.
            max_clips (int, optional): stop after this many clips.
            reader (ClipReader, optional): one made by :meth:`reader` (to read its ``info``
                and ``errors``).

        Raises:
            VideoReadError: the file cannot be opened as a video (the message names it).
        """
        reader = reader or self.reader(video, start_clip, max_clips)
        if memory is None:
            memory = self.init_memory()
        memory = _tree_map(lambda t: t.to(self.device), memory)
        for clip in prefetch(reader, self.queue_size):
            if clip.frames is None:
                yield ClipResult(str(video), clip.index, clip.start, clip.end, None, None,
                                 memory, clip.reason)
                continue
            with torch.inference_mode():
                scores, memory = self.model.predict_clip(clip.frames[None].to(self.device),
                                                         memory)
            scores = scores[0].float().cpu().numpy().astype(np.float64)
            yield ClipResult(str(video), clip.index, clip.start, clip.end, scores,
                             int(scores.argmax()), memory)

    def fingerprint(self) -> str:
        """A hash of the weights, classes, schedule and frame transforms: what decides the
        per-clip outputs (a resumed run must have the same)."""
        h = hashlib.sha1()
        for key, value in sorted(self.model.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        h.update(json.dumps([self.classes, asdict(self.schedule),
                             getattr(self.transform, 'steps', repr(self.transform))],
                            sort_keys=True, default=str).encode())
        return h.hexdigest()


# ---- the job: many videos, files, resume ------------------------------------------------------
@dataclass
class Smoothing:
    """Median window (clips), its mode, and the minimum bout length (seconds, 0 = off)."""
    size: int = 9
    mode: str = 'centred'
    min_bout_sec: float = 0.0

    def __post_init__(self):
        if self.mode not in SMOOTH_MODES:
            raise ValueError(f'smooth mode must be one of {SMOOTH_MODES}, got {self.mode!r}')
        if self.size < 1:
            raise ValueError(f'smoothing window must be >= 1 clip, got {self.size}')


def find_videos(inputs: Sequence[str]) -> List[Tuple[str, str]]:
    """``(path, name)`` for each file given and each video under each folder given (sorted);
    ``name`` is the path inside the folder (or the file name), used in outputs."""
    found = []
    for item in inputs:
        if os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs.sort()
                for f in sorted(files):
                    if f.lower().endswith(VIDEO_EXTENSIONS):
                        path = os.path.join(root, f)
                        found.append((path, os.path.relpath(path, item).replace(os.sep, '/')))
        elif os.path.exists(item):
            found.append((item, os.path.basename(item)))
        else:
            raise FileNotFoundError(f'no such video or folder: {item}')
    return found


def output_stem(name: str) -> str:
    return os.path.splitext(name)[0].replace('/', '__')


def _natural_key(text: str):
    return [int(p) if p.isdigit() else p for p in re.split(r'(\d+)', text)]


def group_sessions(videos: Sequence[Tuple[str, str]],
                   pattern: Optional[str]) -> List[List[Tuple[str, str]]]:
    """Without a pattern every video is its own session. With one, videos whose names give the
    same key (the ``session`` group of the regex, else group 1, else the whole match) form a
    session, in time order = natural sort of the name (``cam_2`` before ``cam_10``)."""
    if not pattern:
        return [[v] for v in videos]
    regex = re.compile(pattern)
    groups: Dict[str, List[Tuple[str, str]]] = {}
    for path, name in videos:
        m = regex.search(name)
        if m is None:
            raise ValueError(f'{name}: does not match the session pattern {pattern!r}')
        key = (m.group('session') if 'session' in regex.groupindex
               else m.group(1) if regex.groups else m.group(0))
        groups.setdefault(key, []).append((path, name))
    return [sorted(g, key=lambda v: _natural_key(v[1])) for _, g in sorted(groups.items())]


def load_truth(path: str, classes: Sequence[str]) -> Dict[str, List[Tuple[float, float, int]]]:
    """The scorer's intervals per video from a long-recording CSV (``video,start,end,label``,
    seconds), read and checked by the dataset's reader (errors name file and line)."""
    from ..datasets.long_video import read_intervals
    return {video: [(s, e, label) for s, e, label, _ in rows]
            for video, rows in read_intervals(path, classes).items()}


def truth_for_clips(intervals: Sequence[Tuple[float, float, int]], schedule: ClipSchedule,
                    fps: float, num_clips: int) -> np.ndarray:
    """The scorer's stage at each clip's centre (the centre frame, as ``LongVideoDataset``
    labels clips); -1 where no interval covers it."""
    out = np.full(num_clips, UNSCORED, dtype=np.int64)
    centres = np.array([(schedule.first_frame(k, fps) + (schedule.span - 1) / 2) / fps
                        for k in range(num_clips)])
    for s, e, label in intervals:
        out[(centres >= s) & (centres < e)] = label
    return out


def _match_truth(truth: Dict[str, list], name: str, path: str) -> Optional[list]:
    if name in truth:
        return truth[name]
    norm = {os.path.normpath(k): v for k, v in truth.items()}
    if os.path.normpath(path) in norm:
        return norm[os.path.normpath(path)]
    same = [k for k in truth if os.path.basename(k) == os.path.basename(name)]
    if len(same) > 1:
        raise ValueError(f'{name}: several videos in the labels share its file name: {same}')
    return truth[same[0]] if same else None


def agreement(truth: np.ndarray, pred: np.ndarray, classes: Sequence[str]) -> Dict:
    """Accuracy, Cohen's kappa, macro-F1 and confusion (rows truth, columns predicted) on the
    clips both scored, with the project's staging metrics."""
    from ..evaluation.staging import staging_scores
    keep = (truth != UNSCORED) & (pred != UNSCORED)
    scores = staging_scores(truth[keep], pred[keep], len(classes), classes)
    scores = {k: (v.tolist() if isinstance(v, np.ndarray) else
                  None if isinstance(v, float) and not np.isfinite(v) else
                  round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()}
    return dict(clips=int(keep.sum()), **scores)


class _Stop(Exception):
    """The run's clip budget (``max_clips``) is spent."""


class StreamJob:
    """Stages many videos into ``out_dir``; see :func:`stream_videos`."""

    def __init__(self, classifier: StreamingClassifier, out_dir: str,
                 smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                 save_every: Optional[int] = None, max_clips: Optional[int] = None,
                 progress: bool = True, log: Callable[[str], None] = None,
                 save_interval_sec: float = 1.0) -> None:
        self.clf = classifier
        self.out_dir = out_dir
        self.smoothing = smoothing
        self.truth = load_truth(labels, classifier.classes) if labels else None
        self.labels_path = labels
        self.save_every = save_every
        self.save_interval_sec = save_interval_sec
        self.budget = max_clips
        self.progress = progress
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.model_fp = classifier.fingerprint()
        os.makedirs(out_dir, exist_ok=True)

    # -- files of one video
    def paths(self, name: str) -> Dict[str, str]:
        stem = os.path.join(self.out_dir, output_stem(name))
        return dict(csv=stem + '.csv', json=stem + '.json', png=stem + '.png',
                    state=stem + '.state.pt', part=stem + '.rows.part')

    @staticmethod
    def _load_state(path: str) -> Optional[dict]:
        if not os.path.exists(path):
            return None
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as e:  # noqa: B902  (a damaged state means starting the video over)
            print(f'{path}: unreadable resume state ({e}); starting this video over',
                  file=sys.stderr)
            return None
        return state if state.get('version') == STATE_VERSION else None

    def _save_state(self, path: str, state: dict) -> None:
        buf = io.BytesIO()
        torch.save(dict(state, memory=_tree_map(lambda t: t.detach().cpu(), state['memory'])),
                   buf)
        atomic_write_bytes(path, buf.getvalue())

    def _fingerprint(self, path: str, previous: Optional[str]) -> str:
        st = os.stat(path)
        return hashlib.sha1(json.dumps([self.model_fp, os.path.abspath(path), st.st_size,
                                        st.st_mtime_ns, previous]).encode()).hexdigest()

    def _post_settings(self) -> dict:
        return dict(asdict(self.smoothing), labels=self.labels_path)

    # -- the job
    def run(self, videos: Sequence[Tuple[str, str]],
            session_pattern: Optional[str] = None) -> Dict:
        """Stage every video; returns (and writes to ``run_report.json``) a report of each
        video's status."""
        names = [output_stem(n) for _, n in videos]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f'several inputs would write the same outputs: {dup}')
        report = dict(videos=[], stopped=False)
        started = time.time()
        try:
            for session in group_sessions(videos, session_pattern):
                memory, previous = None, None
                for path, name in session:
                    entry = dict(video=name, path=path)
                    report['videos'].append(entry)
                    try:
                        memory, previous = self.process(path, name, memory, previous,
                                                        entry, carry=bool(session_pattern))
                    except (VideoReadError, OSError, ValueError, RuntimeError) as e:
                        # one bad file never stops the others; its saved state is kept
                        if not isinstance(e, VideoReadError):
                            e = f'{path}: {type(e).__name__}: {e}'
                        entry.update(status='failed', error=str(e))
                        self.log(f'SKIPPED {e}')
                        atomic_write_text(self.paths(name)['json'], to_json(
                            dict(video=name, path=path, status='failed', error=str(e))))
        except _Stop:
            report['stopped'] = True
        report['wall_s'] = round(time.time() - started, 3)
        atomic_write_text(os.path.join(self.out_dir, 'run_report.json'), to_json(report))
        return report

    def process(self, path: str, name: str, memory_in, previous_fp: Optional[str],
                entry: dict, carry: bool):
        """Stage one video (resuming or skipping as its state says). Returns the memory after
        its last clip and its fingerprint, for the next file of a session."""
        files = self.paths(name)
        fp = self._fingerprint(path, previous_fp if carry else None)
        state = self._load_state(files['state'])
        if state is not None and state['fingerprint'] != fp:
            self.log(f'{name}: the model, video or session changed since the saved state; '
                     'starting this video over')
            state = None
        if state is not None and state['done']:
            outputs = all(os.path.exists(files[k]) for k in ('csv', 'json', 'png'))
            if outputs and state.get('post') == self._post_settings():
                entry.update(status='done', note='finished earlier, not recomputed',
                             clips=state['next_clip'])
                self.log(f'{name}: finished earlier, skipped')
            else:
                table = (read_rows(files['csv'], self.clf.classes, smoothed=True)
                         if os.path.exists(files['csv']) and not os.path.exists(files['part'])
                         else read_rows(files['part'], self.clf.classes, smoothed=False))
                self._finish(path, name, files, state, table)
                entry.update(status='done', note='re-summarised with new settings',
                             clips=state['next_clip'])
            if os.path.exists(files['part']):
                os.unlink(files['part'])
            return (state['memory'] if carry else None), fp

        reader = self.clf.reader(path)  # raises VideoReadError for an unreadable file
        if state is None:
            state = dict(version=STATE_VERSION, fingerprint=fp, next_clip=0, rows_bytes=0,
                         skipped=[], errors=[], done=False, post=None,
                         memory=memory_in if carry and memory_in is not None
                         else self.clf.init_memory(), info=asdict(reader.info))
            header = ','.join(csv_header(self.clf.classes, smoothed=False)) + '\n'
            with open(files['part'], 'w', newline='') as f:
                f.write(header)
            state['rows_bytes'] = len(header.encode())
            self._save_state(files['state'], state)
            resumed = False
        else:
            resumed = True
            if (not os.path.exists(files['part'])
                    or os.path.getsize(files['part']) < state['rows_bytes']):
                raise RuntimeError(f"{files['part']}: the rows the resume state counts on are "
                                   f'missing; delete {files["state"]} to restart this video')
            with open(files['part'], 'r+b') as f:  # drop rows written after the last save
                f.truncate(state['rows_bytes'])
        start = state['next_clip']
        budget = None if self.budget is None else self.budget
        reader = self.clf.reader(path, start_clip=start, max_clips=budget)
        todo = max(0, reader.num_clips - start)
        if resumed:
            self.log(f'{name}: resuming at clip {start} of {reader.num_clips}')
        bar = None
        if self.progress and todo:
            from mmengine.utils import ProgressBar
            self.log(f'{name}: {todo} clips')
            bar = ProgressBar(todo, file=sys.stderr)
        done_here, last_save = 0, time.monotonic()
        writer_file = open(files['part'], 'a', newline='')
        try:
            writer = csv.writer(writer_file, lineterminator='\n')
            for r in self.clf.run(path, state['memory'], start, reader=reader):
                if r.skipped is not None:
                    state['skipped'] = merge_stretches(
                        # a clip stands for stride_sec of the timeline
                        state['skipped'] + [dict(start=round(r.start, 3), end=round(max(
                            r.end, r.start + self.clf.schedule.stride_sec), 3),
                            reason=r.skipped, clips=1)],
                        gap=self.clf.schedule.stride_sec)
                else:
                    writer.writerow(format_row(name, r.clip, r.start, r.end,
                                               self.clf.classes[r.label], r.scores))
                state['memory'] = r.memory
                state['next_clip'] = r.clip + 1
                done_here += 1
                if bar is not None:
                    bar.update()
                # save every save_every clips, or when save_interval_sec has passed (a state
                # save costs a few ms; a kill loses at most that much work)
                if ((self.save_every and done_here % self.save_every == 0)
                        or time.monotonic() - last_save >= self.save_interval_sec):
                    self._checkpoint(writer_file, files, state, reader)
                    last_save = time.monotonic()
                if self.budget is not None:
                    self.budget -= 1
                    if self.budget <= 0:
                        self._checkpoint(writer_file, files, state, reader)
                        raise _Stop()
            self._checkpoint(writer_file, files, state, reader)
        finally:
            writer_file.close()
            if bar is not None:
                bar.file.write('\n')
            entry.update(status='stopped', clips=state['next_clip'], computed=done_here)
        # the whole schedule was read: the video is finished
        state['errors'] = [asdict(e) for e in reader.errors][:1000]
        table = read_rows(files['part'], self.clf.classes, smoothed=False)
        self._finish(path, name, files, state, table)
        os.unlink(files['part'])
        entry.update(status='done', skipped=len(state['skipped']))
        if state['skipped']:
            self.log(f'{name}: {sum(s["clips"] for s in state["skipped"])} clips unreadable: '
                     + '; '.join(f'{s["start"]:.1f}-{s["end"]:.1f} s ({s["reason"]})'
                                 for s in state['skipped'][:5]))
        return (state['memory'] if carry else None), fp

    def _checkpoint(self, writer_file, files: dict, state: dict, reader: ClipReader) -> None:
        writer_file.flush()
        os.fsync(writer_file.fileno())
        state['rows_bytes'] = writer_file.tell()
        state['errors'] = [dict(time=e.time, message=e.message) for e in reader.errors][:1000]
        self._save_state(files['state'], state)

    def _finish(self, path: str, name: str, files: dict, state: dict, table: ClipTable) -> None:
        """Smooth, summarise and write the CSV, summary and hypnogram; then mark done."""
        classes, sched = self.clf.classes, self.clf.schedule
        n = int(state['next_clip'])
        valid = np.zeros(n, bool)
        valid[table.clip] = True
        dense_probs = table.dense(table.probs, n, fill=0.0)
        raw = table.dense(table.labels, n)
        min_bout = int(round(self.smoothing.min_bout_sec / sched.stride_sec))
        smoothed = smooth_labels(dense_probs, self.smoothing.size, self.smoothing.mode,
                                 max(1, min_bout), valid)
        wake = find_class(classes, WAKE_NAMES)
        info = state['info']
        summary = dict(
            video=name, path=path, status='done', classes=classes,
            schedule=dict(asdict(sched), fps=info['fps']),
            duration_s=round(info['duration'], 3),
            clips=dict(scheduled=n, scored=int(valid.sum()), skipped=int(n - valid.sum())),
            smoothing=dict(size=self.smoothing.size, mode=self.smoothing.mode,
                           min_bout_sec=self.smoothing.min_bout_sec, min_bout_clips=min_bout),
            smoothed=stage_statistics(smoothed, classes, sched.stride_sec, wake),
            raw=stage_statistics(raw, classes, sched.stride_sec, wake),
            skipped=state['skipped'], decode_errors=state['errors'][:100],
            decode_error_count=len(state['errors']))
        truth = None
        if self.truth is not None:
            intervals = _match_truth(self.truth, name, path)
            if intervals is None:
                summary['agreement'] = dict(labels=self.labels_path, note='video not in labels')
            else:
                truth = truth_for_clips(intervals, sched, info['fps'], n)
                summary['agreement'] = dict(labels=self.labels_path,
                                            raw=agreement(truth, raw, classes),
                                            smoothed=agreement(truth, smoothed, classes))
        png = hypnogram_png(raw, smoothed, dense_probs, classes, sched.stride_sec, name, truth,
                            state['skipped'])
        atomic_write_text(files['csv'], final_csv(name, table, smoothed[table.clip], classes))
        atomic_write_text(files['json'], to_json(summary))
        atomic_write_bytes(files['png'], png)
        state.update(done=True, post=self._post_settings())
        self._save_state(files['state'], state)


def stream_videos(classifier: StreamingClassifier, inputs: Sequence[str], out_dir: str,
                  smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                  session: Optional[str] = None, save_every: Optional[int] = None,
                  max_clips: Optional[int] = None, progress: bool = True,
                  save_interval_sec: float = 1.0) -> Dict:
    """Stage every video in ``inputs`` (files or folders) into ``out_dir``.

    Per video ``<name>.csv`` (``video,clip,start,end,label,smoothed_label,p_<class>...``),
    ``<name>.json`` (stage times and shares, bouts, transitions, latencies, skipped stretches,
    agreement with ``labels``) and ``<name>.png`` (hypnogram); ``<name>.state.pt`` holds the
    resume state (clips done and the memory after the last one). Rerun with the same arguments
    after a crash: finished videos are skipped, an unfinished one continues from its last saved
    clip, and the outputs equal those of an uninterrupted run. ``session`` (a regex) groups
    files of one recording session, in name order, and carries the memory across them.
    ``max_clips`` stops the whole run after that many clips (the state is saved). The state is
    saved every ``save_every`` clips if given, else whenever ``save_interval_sec`` has passed
    since the last save (``save_every=1``: after every clip), and at the end of each video.
    """
    job = StreamJob(classifier, out_dir, smoothing, labels, save_every, max_clips, progress,
                    save_interval_sec=save_interval_sec)
    return job.run(find_videos(inputs), session)
