"""Progress of one recording: a bar on a terminal, a few lines in a log.

On a terminal mmengine's progress bar redraws one line. When the output is a pipe or a file
(cron, nohup, a cluster job), a redrawn bar would write a line per clip (megabytes for a
night), so instead one line is written every ``interval_sec`` seconds or every ``step`` of the
clips, with clips done, rate and time left.
"""
import sys
import time
from typing import Optional, TextIO


class Progress:
    """``update()`` once per clip; ``close()`` at the end."""

    def __init__(self, name: str, total: int, stream: Optional[TextIO] = None,
                 interval_sec: float = 30.0, step: float = 0.05) -> None:
        self.name, self.total = name, total
        self.stream = stream or sys.stderr
        self.interval_sec, self.step = interval_sec, step
        self.done = 0
        self.started = self.last_time = time.monotonic()
        self.last_done = 0
        self.bar = None
        if _isatty(self.stream):
            from mmengine.utils import ProgressBar
            self.stream.write(f'{name}: {total} clips\n')
            self.bar = ProgressBar(total, file=self.stream)

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
            return
        now = time.monotonic()
        if (now - self.last_time >= self.interval_sec
                or self.done - self.last_done >= max(1, self.step * self.total)
                or self.done == self.total):
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float('inf')
        self.stream.write(f'{self.name}: {self.done}/{self.total} clips '
                          f'({100 * self.done / max(self.total, 1):.0f}%), {rate:.1f} clips/s, '
                          f'{_duration(left)} left\n')
        self.stream.flush()
        self.last_time, self.last_done = now, self.done

    def close(self) -> None:
        if self.bar is not None:
            self.stream.write('\n')


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    if seconds == float('inf'):
        return '?'
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f'{h}:{m:02d}:{s:02d}' if h else f'{m}:{s:02d}'
