"""Reading a video's frames on the clip grid, the same way for training and for staging.

Frame ``i`` of a video is the frame shown at ``t0 + i / fps`` (``t0``: the time of the first
frame shown, ``fps``: the stream's average rate). :func:`decoded_frames` gives every decodable
frame its index that way, whatever the container does with timestamps:

* Decoders emit frames in presentation order, but some containers attach the packets' order
  instead (MPEG-4 part 2 in AVI with B-frames: 1, 2, 4, 3, ...). The timestamps of a few
  frames are sorted and handed out in the order the frames came, so the frames keep the
  decoder's order and a lost frame still leaves a gap where it was.
* Variable frame rate: a frame fills the grid slots up to the next frame for at most
  ``MAX_FILL_SEC`` (the frame on screen at that time); two frames in one slot keep the first.
  A longer gap (a damaged stretch) stays a hole that clips report as missing frames.
* No timestamps at all (raw ``.h264``/``.h265`` streams): frames are counted.

:class:`ClipReader` decodes a file once, front to back, packet by packet, and assembles the
clips of a :class:`ClipSchedule` (host memory bounded by one clip span); :func:`read_frames`
seeks and decodes the frames a training window needs. Both go through :func:`decoded_frames`,
so a clip has the same pixels in training and in staging. FFmpeg's frame threads decode.
``prefetch`` runs any iterator in a background thread behind a bounded queue, so decoding
overlaps with the model.
"""
import heapq
import os
import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import av
import numpy as np

from .clip_grid import ClipSchedule
from .errors import VideoReadError

REORDER_WINDOW = 8  # frames whose timestamps are sorted together (B-frame reordering depth)
MAX_FILL_SEC = 0.5  # a frame stands in for missing grid slots up to this long
SEEK_MARGIN_SEC = 2.0  # seek this far before the first frame needed (to a keyframe before it)
SEEK_AHEAD_SEC = 2 * SEEK_MARGIN_SEC  # a stretch no clip needs longer than this is skipped
PROBE_PACKETS = 256  # packets decoded at most to find the first frame


@dataclass
class VideoInfo:
    path: str
    fps: float
    num_frames: int  # from the container header, else duration * fps; 0 when neither is known
    duration: float  # seconds, from the header (0 when unknown)
    height: int
    width: int
    start_time: float = 0.0  # t0: seconds of the first frame shown (frame 0)
    timestamps: bool = True  # frames carry timestamps (False: raw streams; counted, no seeking)


@dataclass
class DecodedClip:
    """One clip of the schedule: ``frames`` (list of HxWx3 uint8 RGB, or whatever the reader's
    transform returns) or ``None`` with ``reason`` when it could not be read."""
    index: int
    start: float
    end: float
    frames: object = None
    reason: Optional[str] = None


@dataclass
class DecodeError:
    time: float  # seconds from the start of the video
    message: str


def open_video(path: str):
    """The container of ``path`` with its first video stream set to decode with FFmpeg's
    frame threads.

    Raises:
        VideoReadError: a missing, empty or unreadable file, or one without video.
    """
    if not os.path.isfile(path):
        raise VideoReadError(f'{path}: no such video file')
    if os.path.getsize(path) == 0:
        raise VideoReadError(f'{path}: empty file (0 bytes)')
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoReadError(f'{path}: cannot open as a video: {e}') from e
    if not container.streams.video:
        container.close()
        raise VideoReadError(f'{path}: no video stream')
    container.streams.video[0].thread_type = 'AUTO'
    return container


def probe_video(path: str) -> VideoInfo:
    """Frame rate, frame count, duration and size from the header, and the time of the first
    frame shown (decoding up to the first frame)."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or float(rate) <= 0:
            raise VideoReadError(f'{path}: the video stream states no frame rate')
        fps = float(rate)
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        num_frames = int(stream.frames or 0) or int(round(duration * fps))
        first = _first_frame(container, stream)
        if first is None:
            raise VideoReadError(f'{path}: no frame could be decoded from its first '
                                 f'{PROBE_PACKETS} packets')
        timestamps = first.pts is not None
        start = float(first.pts * stream.time_base) if timestamps else 0.0
        return VideoInfo(str(path), fps, num_frames, duration, stream.codec_context.height,
                         stream.codec_context.width, start, timestamps)
    finally:
        container.close()


def _first_frame(container, stream) -> Optional['av.VideoFrame']:
    """The first frame shown: the smallest timestamp among the first frames decoded."""
    frames = []
    try:
        for n, packet in enumerate(container.demux(stream)):
            try:
                frames += packet.decode()
            except av.FFmpegError:
                pass
            if len(frames) >= REORDER_WINDOW or n >= PROBE_PACKETS:
                break
        if len(frames) < REORDER_WINDOW:
            frames += stream.codec_context.decode(None)  # drain the decoder
    except av.FFmpegError:
        pass
    if not frames:
        return None
    if any(f.pts is None for f in frames):
        return frames[0]
    return min(frames, key=lambda f: f.pts)


def decoded_frames(container, info: VideoInfo, errors: List[DecodeError],
                   start_sec: float = 0.0) -> Iterator[Tuple[int, 'av.VideoFrame']]:
    """``(frame index, frame)`` of the video in ``container`` in increasing index order (see
    the module docstring), from about ``start_sec`` on (seeking to a keyframe before it when
    the frames carry timestamps; earlier frames may come too). Decode errors are appended to
    ``errors`` and skipped; a failing demuxer ends the stream."""
    stream = container.streams.video[0]
    fps, tb, t0 = info.fps, stream.time_base, info.start_time
    if info.timestamps and start_sec > SEEK_MARGIN_SEC:
        target = start_sec - SEEK_MARGIN_SEC + t0
        container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
    pending: deque = deque()  # frames in decoder order, waiting for their timestamp
    stamps: List[int] = []  # heap of the pending frames' timestamps
    last: Optional[int] = None  # index of the last frame given out
    held = None  # that frame, to fill short gaps after it
    max_fill = int(MAX_FILL_SEC * fps)

    def give(frame, pts) -> Iterator[Tuple[int, 'av.VideoFrame']]:
        nonlocal last, held
        if pts is None:
            index = 0 if last is None else last + 1
        else:
            index = int(round((float(pts * tb) - t0) * fps))
        if last is not None and index <= last:
            return  # a second frame in one grid slot: the first one stays
        if last is not None and 1 < index - last <= max_fill + 1:
            for i in range(last + 1, index):  # variable frame rate: the frame on screen
                yield i, held
        last, held = index, frame
        yield index, frame

    def decoded() -> Iterator['av.VideoFrame']:
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as e:  # the container itself is broken from here on
                errors.append(DecodeError(_seconds(last, fps), f'demuxing failed: {e}'))
                return
            try:
                yield from packet.decode()
            except av.FFmpegError as e:
                t = float(packet.pts * tb) - t0 if packet.pts is not None else \
                    _seconds(last, fps)
                errors.append(DecodeError(round(t, 3), f'decode error: {e}'))

    for frame in decoded():
        pending.append(frame)
        if frame.pts is not None:
            heapq.heappush(stamps, frame.pts)
        while len(pending) > REORDER_WINDOW:
            first = pending.popleft()
            yield from give(first, heapq.heappop(stamps) if first.pts is not None else None)
    while pending:
        first = pending.popleft()
        yield from give(first, heapq.heappop(stamps) if first.pts is not None else None)


def _seconds(index: Optional[int], fps: float) -> float:
    return 0.0 if index is None else round(index / fps, 3)


def read_frames(path: str, indices: Sequence[int],
                info: Optional[VideoInfo] = None) -> List[np.ndarray]:
    """The frames ``indices`` (HxWx3 uint8 RGB, in the order asked) of the video at ``path``,
    decoded as :class:`ClipReader` decodes them (seeking near each stretch of them, as a
    training window of clips far apart needs).

    Raises:
        VideoReadError: the file cannot be read, or some frames cannot be decoded (named).
    """
    info = info or probe_video(path)
    wanted = set(int(i) for i in indices)
    if not wanted:
        return []
    got: Dict[int, np.ndarray] = {}
    errors: List[DecodeError] = []
    container = open_video(path)
    try:
        for lo, hi in _runs(sorted(wanted), SEEK_AHEAD_SEC * info.fps if info.timestamps
                            else float('inf')):
            frames = decoded_frames(container, info, errors, lo / info.fps)
            for index, frame in frames:
                if index > hi:
                    break
                if index in wanted:
                    got[index] = frame.to_ndarray(format='rgb24')
            frames.close()
            if not info.timestamps:
                break  # one pass from the start covers every run
    finally:
        container.close()
    missing = sorted(wanted - set(got))
    if missing:
        where = f'{missing[0] / info.fps:.2f}-{missing[-1] / info.fps:.2f} s'
        detail = f' ({errors[0].message})' if errors else \
            ' (past the last decodable frame)' if missing[0] > max(got, default=-1) else ''
        raise VideoReadError(f'{path}: {len(missing)} of the {len(wanted)} frames asked for, at '
                             f'{where}, could not be decoded{detail}')
    return [got[int(i)] for i in indices]


def _runs(indices: Sequence[int], gap: float) -> List[Tuple[int, int]]:
    """``(first, last)`` of the runs of sorted ``indices`` split where two are more than
    ``gap`` apart (each run is decoded after its own seek)."""
    runs = [[indices[0], indices[0]]]
    for i in indices[1:]:
        if i - runs[-1][1] > gap:
            runs.append([i, i])
        else:
            runs[-1][1] = i
    return [tuple(r) for r in runs]


class ClipReader:
    """Yields the clips of one video in order as :class:`DecodedClip`.

    Args:
        path (str): the video file.
        schedule (ClipSchedule): which frames make each clip.
        transform (callable, optional): applied to the clip's list of RGB frames in the
            reading thread (resize, crop, to tensor). Defaults to none.
        start_clip (int): first clip to yield; the reader seeks to a keyframe before it (used
            to resume). Defaults to 0.
        max_clips (int, optional): stop after this many clips. Defaults to all.
        seek_ahead_sec (float, optional): seek past a stretch no clip needs when it is longer
            than this (same frames as decoding through it). None decodes every frame.
            Defaults to ``SEEK_AHEAD_SEC``.

    Decode errors are collected in ``errors`` (time and message) and the clips whose frames
    are missing are yielded with ``frames=None`` and a reason; clips the header promises but
    the file does not hold (a truncated file) are yielded the same way.
    """

    TAIL_TOLERANCE_SEC = 1.0

    def __init__(self, path: str, schedule: ClipSchedule,
                 transform: Optional[Callable[[List[np.ndarray]], object]] = None,
                 start_clip: int = 0, max_clips: Optional[int] = None,
                 seek_ahead_sec: Optional[float] = SEEK_AHEAD_SEC) -> None:
        self.path = str(path)
        self.seek_ahead_sec = seek_ahead_sec
        self.schedule = schedule
        self.transform = transform
        self.start_clip = start_clip
        self.max_clips = max_clips
        self.info = probe_video(self.path)
        self.num_clips = schedule.num_clips(self.info.num_frames, self.info.fps)
        self.errors: List[DecodeError] = []
        self.seeks = 0  # stretches skipped by seeking ahead
        self._last_index = -1

    def _finish(self, k: int, buffer: Dict[int, np.ndarray], end_of_file: bool) -> DecodedClip:
        fps = self.info.fps
        start, end = self.schedule.clip_times(k, fps)
        indices = self.schedule.frame_indices(k, fps)
        missing = [i for i in indices if i not in buffer]
        if not missing:
            frames = [buffer[i] for i in indices]
            return DecodedClip(k, start, end, self.transform(frames) if self.transform else
                               frames)
        if end_of_file:
            reason = 'past the last decodable frame (truncated or corrupt file end)'
        else:
            near = [e for e in self.errors if start - 1.0 <= e.time <= end + 1.0]
            reason = 'frames missing' + (f' ({near[0].message})' if near else '')
        return DecodedClip(k, start, end, None, reason)

    def __iter__(self) -> Iterator[DecodedClip]:
        fps, sched = self.info.fps, self.schedule
        # a header without a frame count: clips are found as frames arrive
        stop_clip = self.num_clips if self.info.num_frames else 1 << 62
        if self.max_clips is not None:
            stop_clip = min(stop_clip, self.start_clip + self.max_clips)
        k = self.start_clip
        if k >= stop_clip:
            return
        buffer: Dict[int, np.ndarray] = {}
        container = open_video(self.path)
        try:
            start_sec, jumped_to = sched.first_frame(k, fps) / fps, None
            while True:
                frames = decoded_frames(container, self.info, self.errors, start_sec)
                for index, frame in frames:
                    self._last_index = index
                    while k < stop_clip and index > sched.frame_indices(k, fps)[-1]:
                        yield self._finish(k, buffer, end_of_file=False)
                        k += 1
                        first = sched.first_frame(k, fps)
                        for old in [i for i in buffer if i < first]:
                            del buffer[old]
                    if k >= stop_clip:
                        return
                    if self._needed(index, k, stop_clip):
                        buffer[index] = frame.to_ndarray(format='rgb24')
                    elif self._skip_to(index, k) not in (None, jumped_to):
                        break  # a long stretch no clip needs: seek past it
                else:
                    break  # end of file
                frames.close()
                start_sec = jumped_to = self._skip_to(index, k)
                self.seeks += 1
            # end of file: what is left was promised by the header but not delivered; a header
            # that overstates by less than a second (rounded durations) is not worth a report
            promised = self.info.num_frames - 1 - self._last_index > self.TAIL_TOLERANCE_SEC * fps
            while k < stop_clip:
                complete = all(i in buffer for i in sched.frame_indices(k, fps))
                if not complete and not promised:
                    return
                yield self._finish(k, buffer, end_of_file=not complete)
                k += 1
        finally:
            container.close()

    def _skip_to(self, index: int, k: int) -> Optional[float]:
        """Seconds to seek to when the next frame needed (clip ``k``'s first) is more than
        ``seek_ahead_sec`` past frame ``index`` (a sparse clip grid: decoding every frame in
        between would cost more than seeking to a keyframe before it), else None."""
        if self.seek_ahead_sec is None or not self.info.timestamps:
            return None
        first = self.schedule.first_frame(k, self.info.fps)
        return first / self.info.fps if (first - index) / self.info.fps > \
            self.seek_ahead_sec else None

    def _needed(self, index: int, k: int, stop_clip: int) -> bool:
        fps, sched = self.info.fps, self.schedule
        j = k
        while j < stop_clip and sched.first_frame(j, fps) <= index:
            first = sched.first_frame(j, fps)
            if (index - first) % sched.frame_interval == 0 and index - first < sched.span:
                return True
            j += 1
        return False


_END = object()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(iterable: Iterable, maxsize: int = 4) -> Iterator:
    """Iterate ``iterable`` in a background thread, at most ``maxsize`` items ahead.

    Exceptions in the thread are re-raised in the consumer; closing the generator (or leaving
    the loop) stops the thread. PyAV and torch release the GIL while they decode and compute,
    so reading overlaps with the model.
    """
    items: 'queue.Queue' = queue.Queue(maxsize=max(1, maxsize))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        iterator = iter(iterable)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # noqa: B902  (handed to the consumer)
            put(_Raised(e))
        finally:
            close = getattr(iterator, 'close', None)
            if close is not None:  # a generator: run its cleanup (closes the file) here
                close()

    thread = threading.Thread(target=work, name='clip-reader', daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)
