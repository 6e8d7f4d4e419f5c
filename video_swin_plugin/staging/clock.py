"""Clock time of recordings: when each file started, and the lights-off / lights-on window.

A file's start comes from, in this order: ``--start`` (ISO 8601, for the first file of the
run's one session), its name (``--start-from-name REGEX FORMAT``: the regex's group ``start``,
else group 1, else the whole match, parsed with ``datetime.strptime(FORMAT)``), the container's
``creation_time`` tag (cameras and ffmpeg write it; UTC), and for a later file of a session the
end of the previous file (said so: gaps between such files are unknown). Otherwise it is
unknown, and outputs say so.
"""
import datetime as dt
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import UsageError

Video = Tuple[str, str]  # (path, name)

SOURCE_OPTION = '--start'
SOURCE_NAME = 'file name'
SOURCE_CONTAINER = 'container creation_time'
SOURCE_PREVIOUS = 'end of the previous file'
SOURCE_UNKNOWN = 'unknown'


@dataclass
class RecordingClock:
    """A file's clock start (None when unknown) and where it came from."""
    start: Optional[dt.datetime]
    source: str

    def to_dict(self) -> Dict:
        return dict(start=self.start.isoformat(timespec='milliseconds') if self.start else None,
                    source=self.source)


def parse_iso(text: str, option: str = '--start') -> dt.datetime:
    """An ISO 8601 date and time (``2024-05-01T22:00``, ``2024-05-01 22:00:05+02:00``,
    ``...Z``)."""
    try:
        return dt.datetime.fromisoformat(text.strip().replace('Z', '+00:00'))
    except (ValueError, AttributeError):
        raise UsageError(f'{option} {text!r} is not an ISO 8601 date and time, e.g. '
                         '2024-05-01T22:00:00') from None


def parse_hhmm(text: str, option: str) -> dt.time:
    """``HH:MM`` or ``HH:MM:SS`` (24-hour clock)."""
    for fmt in ('%H:%M', '%H:%M:%S'):
        try:
            return dt.datetime.strptime(text.strip(), fmt).time()
        except (ValueError, AttributeError):
            continue
    raise UsageError(f'{option} {text!r} is not a clock time HH:MM (24-hour)')


@dataclass
class NamePattern:
    """``--start-from-name REGEX FORMAT``."""
    regex: str
    fmt: str

    def __post_init__(self):
        try:
            self.compiled = re.compile(self.regex)
        except re.error as e:
            raise UsageError(f'--start-from-name {self.regex!r} is not a regular expression: '
                             f'{e}') from None
        if '%' not in self.fmt:
            raise UsageError(f'--start-from-name format {self.fmt!r} has no strptime field '
                             '(e.g. %Y%m%d_%H%M)')

    def start(self, name: str) -> Optional[dt.datetime]:
        """The start written in ``name``; None when the regex does not match; a UsageError when
        it matches text the format cannot parse."""
        m = self.compiled.search(name)
        if m is None:
            return None
        text = (m.group('start') if 'start' in self.compiled.groupindex
                else m.group(1) if self.compiled.groups else m.group(0))
        try:
            return dt.datetime.strptime(text, self.fmt)
        except ValueError as e:
            raise UsageError(f'{name}: {text!r} (matched by --start-from-name {self.regex!r}) '
                             f'does not fit the format {self.fmt!r}: {e}') from None


def container_creation_time(path: str) -> Optional[dt.datetime]:
    """The container's (else the video stream's) ``creation_time`` tag, None when absent or
    unparseable (or the epoch 1970-01-01/1904-01-01 some muxers write for "unknown")."""
    import av
    try:
        with av.open(str(path)) as container:
            tags = [container.metadata.get('creation_time')] + [
                s.metadata.get('creation_time') for s in container.streams.video]
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
    for tag in tags:
        if not tag:
            continue
        try:
            when = dt.datetime.fromisoformat(tag.strip().replace('Z', '+00:00'))
        except ValueError:
            continue
        if when.year > 1970:
            return when
    return None


@dataclass
class ClockSettings:
    """How to find files' starts and the lights window (see the module docstring)."""
    start: Optional[str] = None
    name_pattern: Optional[NamePattern] = None
    creation_time: bool = True
    lights_off: Optional[str] = None
    lights_on: Optional[str] = None

    def __post_init__(self):
        self.start_time = parse_iso(self.start) if self.start else None
        self.off = parse_hhmm(self.lights_off, '--lights-off') if self.lights_off else None
        self.on = parse_hhmm(self.lights_on, '--lights-on') if self.lights_on else None

    def to_dict(self) -> Dict:
        return dict(start=self.start, start_from_name=(
            [self.name_pattern.regex, self.name_pattern.fmt] if self.name_pattern else None),
            creation_time=self.creation_time, lights_off=self.lights_off,
            lights_on=self.lights_on)


def plan_starts(sessions: Sequence[Sequence[Video]], settings: ClockSettings,
                duration: Callable[[str], Optional[float]]) -> Dict[str, RecordingClock]:
    """Each file's clock start by name. ``duration(path)`` (seconds, None when unknown) is
    asked only to place a file after the previous one of its session.

    Raises:
        UsageError: ``--start`` with more than one session (each night needs its own start).
    """
    if settings.start_time is not None and len(sessions) > 1:
        raise UsageError(f'--start gives one recording\'s start, but the run holds '
                         f'{len(sessions)} sessions; use --start-from-name, or run each '
                         'session on its own')
    out: Dict[str, RecordingClock] = {}
    for session in sessions:
        previous: Optional[RecordingClock] = None
        previous_path = None
        for i, (path, name) in enumerate(session):
            clock = None
            if i == 0 and settings.start_time is not None:
                clock = RecordingClock(settings.start_time, SOURCE_OPTION)
            if clock is None and settings.name_pattern is not None:
                found = settings.name_pattern.start(name)
                clock = RecordingClock(found, SOURCE_NAME) if found else None
            if clock is None and settings.creation_time:
                found = container_creation_time(path)
                clock = RecordingClock(found, SOURCE_CONTAINER) if found else None
            if clock is None and previous is not None and previous.start is not None:
                length = duration(previous_path)
                if length is not None:
                    clock = RecordingClock(previous.start + dt.timedelta(seconds=length),
                                           SOURCE_PREVIOUS)
            clock = clock or RecordingClock(None, SOURCE_UNKNOWN)
            out[name] = clock
            previous, previous_path = clock, path
    return out


def comparable(starts: List[Optional[dt.datetime]]) -> List[Optional[dt.datetime]]:
    """Starts of one session made comparable: when some carry a time zone and others do not,
    all are taken as wall-clock times (zone dropped)."""
    known = [s for s in starts if s is not None]
    if len({s.tzinfo is None for s in known}) > 1:
        return [s.replace(tzinfo=None) if s is not None else None for s in starts]
    return list(starts)


def lights_window(start: dt.datetime, off: Optional[dt.time], on: Optional[dt.time]
                  ) -> Tuple[Optional[dt.datetime], Optional[dt.datetime]]:
    """Lights-off as the occurrence of ``off`` nearest the recording's start (within 12 h),
    lights-on as the first occurrence of ``on`` after lights-off (or after the start)."""
    def at(day: dt.date, t: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, t, tzinfo=start.tzinfo)

    lights_off = None
    if off is not None:
        candidates = [at(start.date() + dt.timedelta(days=d), off) for d in (-1, 0, 1)]
        lights_off = min(candidates, key=lambda c: abs((c - start).total_seconds()))
    lights_on = None
    if on is not None:
        ref = lights_off or start
        lights_on = at(ref.date(), on)
        while lights_on <= ref:
            lights_on += dt.timedelta(days=1)
    return lights_off, lights_on
