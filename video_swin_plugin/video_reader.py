"""Reading a long video as a stream of clips, with bounded memory and decoding in the background.

``ClipReader`` decodes a file once, front to back, with PyAV (packet by packet, never the whole
file) and assembles the clips of a :class:`ClipSchedule`. Only the frames of the clips being
assembled are held, so memory is bounded by one clip span whatever the duration. Frames are
placed by their timestamps, so a packet that fails to decode leaves a hole that is reported
(file and time) instead of shifting every later frame. ``prefetch`` runs any iterator in a
background thread behind a bounded queue, so decoding overlaps with the model.
"""
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import av
import numpy as np

from .clip_grid import ClipSchedule
from .errors import VideoReadError


@dataclass
class VideoInfo:
    path: str
    fps: float
    num_frames: int  # from the container header; 0 when it does not say
    duration: float  # seconds, from the header (0 when unknown)
    height: int
    width: int


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


def _open(path: str):
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoReadError(f'{path}: cannot open as a video: {e}') from e
    if not container.streams.video:
        container.close()
        raise VideoReadError(f'{path}: no video stream')
    return container


def probe_video(path: str) -> VideoInfo:
    """Frame rate, frame count and duration from the header, without decoding."""
    container = _open(path)
    try:
        return _info(path, container.streams.video[0], container)
    finally:
        container.close()


def _info(path, stream, container) -> VideoInfo:
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
    return VideoInfo(str(path), fps, num_frames, duration, stream.codec_context.height,
                     stream.codec_context.width)


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

    Decode errors are collected in ``errors`` (time and message) and the clips whose frames
    are missing are yielded with ``frames=None`` and a reason; clips the header promises but
    the file does not hold (a truncated file) are yielded the same way.
    """

    # seek this far before the first frame needed, so that decoding restarts at a keyframe
    # well before it whatever the GOP structure (identical frames to a front-to-back pass)
    SEEK_MARGIN_SEC = 2.0
    TAIL_TOLERANCE_SEC = 1.0

    def __init__(self, path: str, schedule: ClipSchedule,
                 transform: Optional[Callable[[List[np.ndarray]], object]] = None,
                 start_clip: int = 0, max_clips: Optional[int] = None) -> None:
        self.path = str(path)
        self.schedule = schedule
        self.transform = transform
        self.start_clip = start_clip
        self.max_clips = max_clips
        self.info = probe_video(self.path)
        self.num_clips = schedule.num_clips(self.info.num_frames, self.info.fps)
        self.errors: List[DecodeError] = []
        self._last_time = 0.0
        self._last_index = -1

    def _frames(self, container, stream) -> Iterator[Tuple[int, 'av.VideoFrame']]:
        """(frame index, frame) in presentation order; decode errors are recorded and
        skipped, a failing demuxer ends the stream."""
        fps, tb = self.info.fps, stream.time_base
        t0 = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        counter = -1
        if self.start_clip > 0:
            first = self.schedule.first_frame(self.start_clip, fps) / fps
            target = max(0.0, first - self.SEEK_MARGIN_SEC) + t0
            container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as e:  # the container itself is broken from here on
                self.errors.append(DecodeError(self._last_time, f'demuxing failed: {e}'))
                return
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                t = float(packet.pts * tb) - t0 if packet.pts is not None else self._last_time
                self.errors.append(DecodeError(round(t, 3), f'decode error: {e}'))
                continue
            for frame in frames:
                if frame.pts is not None:
                    index = int(round((float(frame.pts * tb) - t0) * fps))
                else:  # no timestamp: count
                    index = counter + 1
                if index <= counter:  # duplicate or out of order timestamp: keep the first
                    continue
                counter = index
                self._last_time = index / fps
                self._last_index = index
                yield index, frame

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
        container = _open(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = 'AUTO'
            # clips k..hi can need a given frame; hi grows as frames arrive
            for index, frame in self._frames(container, stream):
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
