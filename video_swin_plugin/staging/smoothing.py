"""Smoothing per-clip sleep stages: a median filter over N clips and a minimum bout length.

Pure numpy/scipy, no torch. Stages are class indices; a sequence may hold ``-1`` for clips that
were not scored (a corrupt stretch); smoothing never reaches across such a gap.

The median filter works on per-class probabilities (a one-hot for hard labels): each class's
probability is median-filtered over the window (``scipy.ndimage.median_filter``) and the
smoothed stage is the class with the largest median, ties broken by the window's mean
probability. For hard labels this is the majority stage of the window, which is what a median
means for unordered categories (a median of the indices awake=0, nrem=1, rem=2 would turn a
window of awake and REM into NREM). Causal uses clips t-N+1..t (it delays a transition by about
N/2 clips), centred uses t-N//2..t+(N-1)//2 (needs look-ahead).
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
from scipy import ndimage

from ..clip_grid import UNSCORED
from ..errors import UsageError

SMOOTH_MODES = ('causal', 'centred')


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``labels (T,)`` of class indices -> ``(T, num_classes)`` float one-hot."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'labels must lie in [0, {num_classes}), got {labels.min()}..'
                         f'{labels.max()}')
    return np.eye(num_classes, dtype=np.float64)[labels]


def _window_origin(size: int, mode: str) -> int:
    if mode not in SMOOTH_MODES:
        raise ValueError(f'smooth mode must be one of {SMOOTH_MODES}, got {mode!r}')
    # scipy centres the window on size // 2; a positive origin moves it onto earlier samples,
    # (size - 1) // 2 makes it end on the current clip.
    return (size - 1) // 2 if mode == 'causal' else 0


def median_smooth_probs(probs: np.ndarray, size: int, mode: str = 'centred') -> np.ndarray:
    """Smoothed stages of one contiguous run of clips.

    Args:
        probs (ndarray[T, C]): per-clip class probabilities (or one-hot labels).
        size (int): window in clips; 1 returns the argmax unchanged.
        mode (str): ``'causal'`` or ``'centred'``. Defaults to ``'centred'``.

    Returns:
        ndarray[T] of int64 class indices.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f'probs must be (T, C), got shape {probs.shape}')
    if size < 1:
        raise ValueError(f'smoothing window must be >= 1 clip, got {size}')
    origin = _window_origin(size, mode)
    if len(probs) == 0:
        return np.zeros(0, dtype=np.int64)
    if size == 1:
        return probs.argmax(1)
    # edges repeat the first/last clip ('nearest'), so the ends are not pulled to class 0
    med = ndimage.median_filter(probs, size=(size, 1), origin=(origin, 0), mode='nearest')
    mean = ndimage.uniform_filter1d(probs, size, axis=0, origin=origin, mode='nearest')
    tied = med >= med.max(1, keepdims=True) - 1e-12
    return np.where(tied, mean, -np.inf).argmax(1)


def contiguous_runs(valid: np.ndarray) -> List[Tuple[int, int]]:
    """``[start, stop)`` index ranges of the True runs of a boolean array."""
    valid = np.asarray(valid, dtype=bool)
    edges = np.diff(np.concatenate([[False], valid, [False]]).astype(np.int8))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def min_bout_filter(labels: np.ndarray, min_len: int) -> np.ndarray:
    """Relabel every bout shorter than ``min_len`` clips that lies between two bouts of one
    same stage as that stage (the usual scoring rule), shortest bouts first, until none is left.

    A short bout between two different stages, or at either end, is kept: there is no single
    stage it would plausibly belong to. ``-1`` (unscored) is never relabelled and never
    bridged.
    """
    out = np.array(labels, dtype=np.int64, copy=True)
    if min_len <= 1:
        return out
    while True:
        runs = bouts(out)
        best: Optional[Tuple[int, int, int, int]] = None  # (length, start, stop, new label)
        for i in range(1, len(runs) - 1):
            label, start, length = runs[i]
            prev_label, prev_start, prev_len = runs[i - 1]
            next_label, next_start, _ = runs[i + 1]
            if (label != UNSCORED and length < min_len and prev_label == next_label
                    and prev_label != UNSCORED and prev_start + prev_len == start
                    and start + length == next_start):
                if best is None or length < best[0]:
                    best = (length, start, start + length, prev_label)
        if best is None:
            return out
        out[best[1]:best[2]] = best[3]


def smooth_labels(probs: np.ndarray, size: int, mode: str = 'centred', min_bout: int = 1,
                  valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Median filter then minimum bout length, each contiguous run of scored clips apart.

    Args:
        probs (ndarray[T, C]): per-clip probabilities; rows where ``valid`` is False are
            ignored.
        size (int): median window in clips.
        mode (str): ``'causal'`` or ``'centred'``.
        min_bout (int): minimum bout length in clips (1 = off).
        valid (ndarray[T] of bool, optional): scored clips. Defaults to all.

    Returns:
        ndarray[T] of int64: smoothed stage, ``-1`` where not valid.
    """
    probs = np.asarray(probs, dtype=np.float64)
    valid = np.ones(len(probs), bool) if valid is None else np.asarray(valid, bool)
    out = np.full(len(probs), UNSCORED, dtype=np.int64)
    for start, stop in contiguous_runs(valid):
        out[start:stop] = median_smooth_probs(probs[start:stop], size, mode)
    return min_bout_filter(out, min_bout)


def bouts(labels: np.ndarray) -> List[Tuple[int, int, int]]:
    """Runs of one stage as ``(label, start, length)``, in order (``-1`` runs included)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [labels.size]])
    return [(int(labels[s]), int(s), int(e - s)) for s, e in zip(starts, stops)]


def transitions(labels: np.ndarray) -> List[Tuple[int, int, int]]:
    """``(index, from, to)`` for every change of stage between two consecutive scored clips."""
    labels = np.asarray(labels)
    idx = np.flatnonzero((labels[1:] != labels[:-1]) & (labels[1:] != UNSCORED)
                         & (labels[:-1] != UNSCORED)) + 1
    return [(int(i), int(labels[i - 1]), int(labels[i])) for i in idx]


@dataclass
class Smoothing:
    """A staging run's smoothing: median window (clips), its mode, and the minimum bout
    length (seconds, 0 = off)."""
    size: int = 9
    mode: str = 'centred'
    min_bout_sec: float = 0.0

    def __post_init__(self):
        if self.mode not in SMOOTH_MODES:
            raise UsageError(f'smooth mode must be one of {SMOOTH_MODES}, got {self.mode!r}')
        if self.size < 1:
            raise UsageError(f'smoothing window must be >= 1 clip, got {self.size}')
        if self.min_bout_sec < 0:
            raise UsageError(f'minimum bout must be >= 0 s, got {self.min_bout_sec}')
