"""Which recordings a staging run takes, what their outputs are called, and which files form
one session (one night, one animal) that carries the memory across file boundaries."""
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import UsageError

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.ts')
Video = Tuple[str, str]  # (path, name): the name is the path inside the folder given


def find_videos(inputs: Sequence[str]) -> List[Video]:
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
    """The outputs' file name stem for a recording's name."""
    return os.path.splitext(name)[0].replace('/', '__')


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
        m = regex.search(name)
        if m is None:
            raise UsageError(f'{name}: does not match the session pattern {pattern!r}')
        key = (m.group('session') if 'session' in regex.groupindex
               else m.group(1) if regex.groups else m.group(0))
        groups.setdefault(key, []).append((path, name))
    return [sorted(g, key=lambda v: natural_key(v[1])) for _, g in sorted(groups.items())]
