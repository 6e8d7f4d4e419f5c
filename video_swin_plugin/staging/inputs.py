"""Which recordings a staging run takes, what their outputs are called, and which files form
one session (one night, one animal) that carries the memory across file boundaries."""
import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import UsageError

# What FFmpeg (PyAV's build) reads and recorders export; --glob picks other names explicitly.
VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.avi', '.mkv', '.webm', '.mpg', '.mpeg', '.ts',
                    '.m2ts', '.mts', '.flv', '.wmv', '.asf', '.3gp', '.h264', '.264', '.h265',
                    '.265', '.hevc')
Video = Tuple[str, str]  # (path, name): the name is the path inside the folder given


@dataclass
class Inputs:
    """The recordings of a run and the files of the input folders that were left out."""
    videos: List[Video]
    ignored: List[str]  # paths, for the run report


def find_videos(inputs: Sequence[str], glob: Optional[Sequence[str]] = None,
                skip: Optional[str] = None) -> Inputs:
    """Every file given, and under every folder given (recursively, sorted) each file whose
    name has a video extension, or matches one of the ``glob`` patterns (``fnmatch`` on the
    path inside the folder, e.g. ``'*.dav'`` or ``'cam*/*.mp4'``). ``name`` is the path
    inside the folder (a file given directly: its file name). The folder ``skip`` (the
    output folder) and hidden files are not searched."""
    skip = os.path.realpath(skip) if skip else None
    videos, ignored = [], []
    for item in inputs:
        if os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith('.') and
                                 os.path.realpath(os.path.join(root, d)) != skip)
                for f in sorted(files):
                    if f.startswith('.'):
                        continue
                    path = os.path.join(root, f)
                    name = os.path.relpath(path, item).replace(os.sep, '/')
                    wanted = (any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(f, g)
                                  for g in glob) if glob
                              else f.lower().endswith(VIDEO_EXTENSIONS))
                    (videos.append((path, name)) if wanted else ignored.append(path))
        elif os.path.exists(item):
            videos.append((item, os.path.basename(item)))
        else:
            raise FileNotFoundError(f'no such video or folder: {item}')
    if not videos:
        shown = ', '.join(os.path.basename(p) for p in ignored[:5]) + \
            (f' and {len(ignored) - 5} more' if len(ignored) > 5 else '')
        what = f' ({len(ignored)} other files ignored: {shown})' if ignored else ''
        pick = f'matching {list(glob)}' if glob else \
            f'with a video extension ({" ".join(VIDEO_EXTENSIONS)})'
        raise UsageError(f'no video files {pick} in {", ".join(map(str, inputs))}{what}; '
                         '--glob picks files by pattern')
    return Inputs(videos, ignored)


def output_stem(name: str) -> str:
    """A recording's outputs, relative to the output folder: its name without the extension
    (``cam1/2024-05-01.mp4`` -> ``cam1/2024-05-01``, beside ``cam1/2024-05-01.csv`` ...)."""
    return os.path.splitext(name)[0]


def natural_key(text: str) -> list:
    """Sort key that orders ``cam_2`` before ``cam_10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r'(\d+)', text)]


def group_sessions(videos: Sequence[Video], pattern: Optional[str]) -> List[List[Video]]:
    """Without a pattern every video is its own session. With one, videos whose names give the
    same key (the ``session`` group of the regex, else group 1, else the whole match) form a
    session, in time order = natural sort of the name."""
    if not pattern:
        return [[v] for v in videos]
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise UsageError(f'--session {pattern!r} is not a valid regular expression: {e}') from e
    groups: Dict[str, List[Video]] = {}
    for path, name in videos:
        groups.setdefault(session_key(regex, name)[0], []).append((path, name))
    return [sorted(g, key=lambda v: natural_key(v[1])) for _, g in sorted(groups.items())]


def session_key(pattern, name: str) -> Tuple[str, str]:
    """``(session, animal)`` of a recording: the ``session`` group of the regex ``pattern``
    (else group 1, else the whole match) and its ``animal`` group (else ''); without a
    pattern, the recording is its own session (its output stem)."""
    if not pattern:
        return output_stem(name), ''
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    m = regex.search(name)
    if m is None:
        raise UsageError(f'{name}: does not match the session pattern {regex.pattern!r}')
    key = (m.group('session') if 'session' in regex.groupindex
           else m.group(1) if regex.groups else m.group(0))
    return key, (m.group('animal') if 'animal' in regex.groupindex else '') or ''
