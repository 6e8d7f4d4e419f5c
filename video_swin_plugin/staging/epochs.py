"""Scoring epochs: clip probabilities -> one row per contiguous epoch (e.g. 30 s), the unit
scorers, the project's own scorer CSVs and sleep tools (YASA's ``Hypnogram(freq='30s')``, EDF+
hypnograms) work in.

Epoch ``e`` of a timeline covers ``[e * epoch_sec, (e + 1) * epoch_sec)``. Its probabilities are
the mean over the scored clips whose centre falls in it; an epoch without a scored clip is
unscored. On a whole night made of several files, an epoch that no file covers is "not
recorded" (a gap between files), which is neither sleep nor wake. Pure numpy.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from ..clip_grid import UNSCORED
from ..errors import UsageError


@dataclass
class EpochTable:
    """The epochs of one timeline (a file, or a whole night).

    Attributes:
        epoch_sec: length of an epoch (s).
        probs (ndarray[E, C]): mean probability of the epoch's scored clips; NaN where unscored.
        clips (ndarray[E] of int): scored clips averaged into the epoch (0 = unscored).
        recorded (ndarray[E] of bool): some file covers (part of) the epoch.
    """
    epoch_sec: float
    probs: np.ndarray
    clips: np.ndarray
    recorded: np.ndarray

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def onset(self) -> np.ndarray:
        """Seconds from the timeline's start to each epoch's start."""
        return np.arange(len(self)) * self.epoch_sec

    @property
    def scored(self) -> np.ndarray:
        return self.clips > 0

    def labels(self) -> np.ndarray:
        """Argmax stage per epoch, ``-1`` where unscored."""
        out = np.full(len(self), UNSCORED, dtype=np.int64)
        out[self.scored] = np.nanargmax(self.probs[self.scored], axis=1) if self.scored.any() \
            else out[self.scored]
        return out

    def status(self) -> np.ndarray:
        """``'scored'``, ``'unscored'`` (recorded, no readable clip) or ``'not recorded'``."""
        return np.where(self.scored, 'scored',
                        np.where(self.recorded, 'unscored', 'not recorded'))


def check_epoch_sec(epoch_sec: float, where: str = '--epoch-sec') -> float:
    if not (isinstance(epoch_sec, (int, float)) and math.isfinite(epoch_sec) and epoch_sec > 0):
        raise UsageError(f'{where} must be a number of seconds > 0, got {epoch_sec!r}')
    return float(epoch_sec)


def num_epochs(length_sec: float, epoch_sec: float) -> int:
    """Epochs needed to cover ``[0, length_sec)`` (a partial last epoch counts)."""
    return max(0, int(math.ceil(length_sec / epoch_sec - 1e-9)))


def clip_epochs(centres: np.ndarray, probs: np.ndarray, scored: np.ndarray, epoch_sec: float,
                count: Optional[int] = None,
                spans: Sequence[Tuple[float, float]] = ()) -> EpochTable:
    """Aggregate clips into epochs.

    Args:
        centres (ndarray[N]): seconds from the timeline's start to each clip's centre.
        probs (ndarray[N, C]): per-clip probabilities (rows of unscored clips are ignored).
        scored (ndarray[N] of bool): clips that were read and classified.
        epoch_sec (float): epoch length (s).
        count (int, optional): number of epochs; defaults to the epochs up to the last clip's
            centre (a trailing part shorter than the clips' reach is left out).
        spans: ``(start, end)`` seconds covered by recordings; epochs touching none are "not
            recorded". Defaults to one span from 0 to the end of the last epoch.

    Returns:
        EpochTable.
    """
    centres = np.asarray(centres, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64).reshape(len(centres), -1)
    scored = np.asarray(scored, dtype=bool)
    if count is None:
        count = int(np.floor(centres.max() / epoch_sec)) + 1 if len(centres) else 0
    index = np.floor(centres / epoch_sec).astype(np.int64)
    keep = scored & (index >= 0) & (index < count)
    sums = np.zeros((count, probs.shape[1]))
    np.add.at(sums, index[keep], probs[keep])
    clips = np.bincount(index[keep], minlength=count)[:count].astype(np.int64)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean = sums / clips[:, None]
    mean[clips == 0] = np.nan
    if spans:
        onset = np.arange(count) * epoch_sec
        recorded = np.zeros(count, bool)
        for start, end in spans:
            recorded |= (onset < end) & (onset + epoch_sec > start)
    else:
        recorded = np.ones(count, bool)
    return EpochTable(float(epoch_sec), mean, clips, recorded)


def interval_labels(intervals, epoch_sec: float, count: int) -> np.ndarray:
    """A scorer's stage per epoch: the label of the interval ``[start, end)`` holding the
    epoch's midpoint, ``-1`` where none does. ``intervals``: ``(start, end, label, ...)``."""
    out = np.full(count, UNSCORED, dtype=np.int64)
    if not count:
        return out
    mid = (np.arange(count) + 0.5) * epoch_sec
    for iv in intervals:
        start, end, label = float(iv[0]), float(iv[1]), int(iv[2])
        out[(mid >= start) & (mid < end)] = label
    return out
