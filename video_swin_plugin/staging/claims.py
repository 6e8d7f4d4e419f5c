"""Claims: at most one process stages a recording at a time, on one machine or many.

A claim is a small file beside the outputs, created with ``O_CREAT | O_EXCL`` (atomic on local
filesystems and on NFSv3+/SMB shares), holding who made it. While staging, a background
thread touches it every ``heartbeat_sec``; a claim whose last touch is older than
``stale_sec``, or whose process is gone (same host), is stale and taken over: renamed aside
(only one process can rename a given file) and claimed afresh. A process that finds a live
claim moves on to the next recording; one that finds its own claim gone or replaced stops
staging that recording and writes nothing more for it.
"""
import json
import os
import socket
import threading
import time
import uuid
from typing import Optional

HEARTBEAT_SEC = 10.0
STALE_SEC = 120.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class Claim:
    """The claim on one recording (or session) at ``path``; see the module docstring.

    Use ``acquire()`` (False when another live process holds it), then ``release()``;
    ``lost`` turns True if the claim was taken from this process.
    """

    def __init__(self, path: str, heartbeat_sec: float = HEARTBEAT_SEC,
                 stale_sec: float = STALE_SEC) -> None:
        self.path = path
        self.heartbeat_sec = heartbeat_sec
        self.stale_sec = stale_sec
        self.token = uuid.uuid4().hex
        self.lost = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def holder(self) -> Optional[dict]:
        """Who holds the claim (host, pid, started, token), or None if nobody."""
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # being written right now, or damaged
            return dict(host='?', pid=-1, started=0, token='')

    def describe(self) -> str:
        h = self.holder() or {}
        return f"{h.get('host', '?')}:{h.get('pid', '?')}"

    def _stale(self, holder: dict) -> bool:
        try:
            age = time.time() - os.stat(self.path).st_mtime
        except FileNotFoundError:
            return True
        if holder.get('host') == socket.gethostname() and isinstance(holder.get('pid'), int) \
                and holder['pid'] > 0 and not _alive(holder['pid']):
            return True
        return age > self.stale_sec

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w') as f:
            json.dump(dict(host=socket.gethostname(), pid=os.getpid(), started=time.time(),
                           token=self.token), f)
        return True

    def acquire(self) -> bool:
        """Claim it; take over a stale claim. Starts the heartbeat on success."""
        if not self._create():
            holder = self.holder()
            if holder is not None and not self._stale(holder):
                return False
            aside = f'{self.path}.stale.{uuid.uuid4().hex}'
            try:
                os.rename(self.path, aside)  # only one process wins this rename
            except FileNotFoundError:
                pass  # released or taken meanwhile; try to create it below
            else:
                os.unlink(aside)
            if not self._create():
                return False
        self._thread = threading.Thread(target=self._beat, name='claim-heartbeat', daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_sec):
            if not self.check():
                return
            try:
                os.utime(self.path)
            except FileNotFoundError:
                self.lost = True
                return

    def check(self) -> bool:
        """Whether this process still holds the claim (sets ``lost`` when not)."""
        holder = self.holder()
        if holder is None or holder.get('token') != self.token:
            self.lost = True
        return not self.lost

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.check():
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
