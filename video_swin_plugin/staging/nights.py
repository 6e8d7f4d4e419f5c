"""Whole nights: the files of one session laid on one continuous timeline.

Each file's clips are placed at the file's offset from the night's start (its clock start minus
the first file's, when every start is known; else end to end, and the night says the gaps are
unknown). Epochs are then made over the whole timeline, so an epoch between two files is "not
recorded" rather than sleep or wake, and smoothing never bridges such a gap.
"""
import datetime as dt
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .clock import comparable
from .epochs import EpochTable, clip_epochs, interval_labels


@dataclass
class NightPart:
    """One file of a night.

    Attributes:
        name: the recording's name.
        duration: seconds.
        centres (ndarray[N]): seconds from the file's start to each scheduled clip's centre.
        probs (ndarray[N, C]): per-clip probabilities (rows of unscored clips ignored).
        scored (ndarray[N] of bool): clips read and classified.
        start: the file's clock start, None when unknown.
        skipped: unreadable stretches ``{start, end, reason}`` (s from the file's start).
        truth: the scorer's ``(start, end, label)`` intervals, None when not labelled.
    """
    name: str
    duration: float
    centres: np.ndarray
    probs: np.ndarray
    scored: np.ndarray
    start: Optional[dt.datetime] = None
    skipped: List[Dict] = field(default_factory=list)
    truth: Optional[list] = None


@dataclass
class Night:
    """A night's timeline: its parts, their offsets (s), its clock start and epochs."""
    parts: List[NightPart]
    offsets: List[float]
    start: Optional[dt.datetime]
    placement: str  # 'clock' or 'end to end'
    epochs: EpochTable

    def skipped(self) -> List[Dict]:
        return [dict(s, start=s['start'] + off, end=s['end'] + off, video=p.name)
                for p, off in zip(self.parts, self.offsets) for s in p.skipped]

    def boundaries(self) -> List[Tuple[float, str]]:
        return [(off, p.name) for p, off in zip(self.parts, self.offsets)]

    def not_recorded(self) -> List[Tuple[float, float]]:
        """``(start, end)`` seconds of the runs of not-recorded epochs."""
        from .smoothing import contiguous_runs
        e = self.epochs.epoch_sec
        return [(a * e, b * e) for a, b in contiguous_runs(~self.epochs.recorded)]

    def epoch_videos(self) -> List[str]:
        """The file each epoch starts in ('' in a gap)."""
        onset = self.epochs.onset
        out = [''] * len(onset)
        for p, off in zip(self.parts, self.offsets):
            inside = np.flatnonzero((onset + self.epochs.epoch_sec > off)
                                    & (onset < off + p.duration))
            for i in inside:
                out[i] = out[i] or p.name
        return out

    def truth_labels(self) -> Optional[np.ndarray]:
        """The scorer's stage per epoch (None when no part is labelled)."""
        if all(p.truth is None for p in self.parts):
            return None
        shifted = [(s + off, e + off, label) for p, off in zip(self.parts, self.offsets)
                   for s, e, label in (p.truth or [])]
        return interval_labels(shifted, self.epochs.epoch_sec, len(self.epochs))


def place_parts(parts: Sequence[NightPart]) -> Tuple[List[float], Optional[dt.datetime], str]:
    """Offsets of the parts from the night's start, the night's clock start and how they were
    placed: by clock when every start is known (a file that starts before the previous one
    ended is placed right after it), else end to end."""
    starts = comparable([p.start for p in parts])
    if parts and all(s is not None for s in starts):
        offsets, end = [], 0.0
        for p, s in zip(parts, starts):
            off = max((s - starts[0]).total_seconds(), end)
            offsets.append(off)
            end = off + p.duration
        return offsets, starts[0], 'clock'
    offsets = list(np.cumsum([0.0] + [p.duration for p in parts[:-1]]))
    return [float(o) for o in offsets], starts[0] if parts else None, 'end to end'


def build_night(parts: Sequence[NightPart], epoch_sec: float) -> Night:
    """The night's epochs over all its parts (see the module docstring)."""
    offsets, start, placement = place_parts(parts)
    centres = np.concatenate([p.centres + off for p, off in zip(parts, offsets)]) \
        if parts else np.zeros(0)
    probs = np.concatenate([p.probs for p in parts]) if parts else np.zeros((0, 1))
    scored = np.concatenate([p.scored for p in parts]) if parts else np.zeros(0, bool)
    spans = [(off, off + p.duration) for p, off in zip(parts, offsets)]
    end = max((b for _, b in spans), default=0.0)
    last_centre = float(centres.max()) if len(centres) else 0.0
    count = int(np.floor(min(last_centre, end) / epoch_sec)) + 1 if len(centres) else 0
    table = clip_epochs(centres, probs, scored, epoch_sec, count=count, spans=spans)
    return Night(list(parts), offsets, start, placement, table)
