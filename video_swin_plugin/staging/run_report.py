"""The run report (``run_report.json``) of the processes sharing an output folder, and the
exit status it means.

Each process lists the recordings of its inputs with their status. A recording another
process was staging shows "in progress" in that process's view; under a lock, the report on
disk is merged in, so whichever process writes last leaves the whole run's picture: each
recording with its final status and the process that staged it.
"""
import json
import os
import socket
import time
from typing import Callable, Dict, Optional

from .atomic import atomic_write_text
from .claims import Claim
from .outputs import RecordingOutputs
from .reports import to_json

REPORT = 'run_report.json'
WORKER = f'{socket.gethostname()}:{os.getpid()}'  # who staged a recording, in the report
# statuses of a recording that make the run's exit status 1
INCOMPLETE = ('failed', 'too short', 'claim lost')


def is_our_report(path: str) -> bool:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and 'videos' in data and 'stopped' in data


def write_report(out_dir: str, report: Dict, outputs: Callable[[str], RecordingOutputs],
                 before_write: Optional[Callable[[Dict], None]] = None) -> None:
    """Write ``out_dir/run_report.json`` for this process's recordings, merged under a lock
    with the report on disk (see the module docstring); ``before_write(report)`` runs under
    the lock on the merged report (the whole-night and cohort outputs)."""
    path = os.path.join(out_dir, REPORT)
    lock = Claim(path + '.lock', stale_sec=60)
    deadline = time.monotonic() + 60
    while not lock.acquire():
        if time.monotonic() > deadline:
            break  # a stuck lock: write our view rather than none
        time.sleep(0.05)
    try:
        on_disk = {}
        if is_our_report(path):
            with open(path, encoding='utf-8') as f:
                on_disk = {v['video']: v for v in json.load(f)['videos']}
        for entry in report['videos']:
            _merge(entry, on_disk.get(entry['video'], {}), outputs)
        if before_write is not None:
            before_write(report)
        atomic_write_text(path, to_json(report))
    finally:
        lock.release()


def _merge(entry: Dict, other: Dict, outputs: Callable[[str], RecordingOutputs]) -> None:
    """This process's ``entry`` of a recording, completed by ``other`` (the report on disk)
    or by the recording's summary."""
    if entry.get('note', '').startswith('finished earlier') and \
            other.get('status') == 'done' and 'staged_by' in other:
        entry['staged_by'] = other['staged_by']  # by a process before this one
    if entry.get('status') != 'in progress':
        return
    if other.get('status') not in (None, 'in progress'):
        entry.clear()
        entry.update(other)  # with its stager's staged_by
        return
    summary = outputs(entry['video']).summary()
    if summary is not None and summary.get('status') in ('done', ) + INCOMPLETE:
        entry.update(status=summary['status'], note='staged by another process')


def exit_status(report: Dict) -> int:
    """0: every clip of every input was scored (by this or another process); 1: a file was
    unreadable, too short or failed, or some clips were unreadable; 3: the clip budget ran
    out (rerun to continue). Recordings still in progress elsewhere do not count."""
    if report.get('stopped'):
        return 3
    bad = [v for v in report['videos']
           if v.get('status') in INCOMPLETE or v.get('skipped_clips', 0) > 0]
    return 1 if bad else 0
