"""HMM smoothing: Viterbi decoding of per-epoch (or per-clip) stage probabilities with a
transition matrix learned from scored nights, optionally forbidding implausible transitions
(e.g. wake -> REM).

The classifier's probability of each stage serves as the emission likelihood (a uniform prior
over stages), mixed with a floor so that one confident but wrong epoch costs less than the two
transitions it would take to follow it. Decoding is exact (log-space Viterbi, O(T C^2)) and runs
on each contiguous run of scored epochs apart, like the median filter. A few lines of numpy, so
no HMM library is needed.
"""
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..clip_grid import UNSCORED
from ..errors import ConfigError, UsageError
from .smoothing import contiguous_runs

Pair = Tuple[str, str]


@dataclass
class TransitionModel:
    """Stage transition probabilities between consecutive steps of ``step_sec``.

    Attributes:
        matrix (ndarray[C, C]): row ``a``, column ``b``: P(next = b | now = a); rows sum to 1.
        step_sec: the time step the matrix is for (the epoch length it was counted at).
        classes: stage names, the matrix's order.
        forbidden: ``(from, to)`` stage names whose probability is held at 0.
        source: where it came from (a labels CSV, the config).
        emission_floor: weight of a uniform distribution mixed into each emission.
    """
    matrix: np.ndarray
    step_sec: float
    classes: List[str]
    forbidden: List[Pair] = field(default_factory=list)
    source: str = ''
    emission_floor: float = 0.2

    def __post_init__(self):
        m = np.asarray(self.matrix, dtype=np.float64)
        c = len(self.classes)
        if m.shape != (c, c):
            raise ConfigError(f'transition matrix ({self.source or "given"}) must be {c}x{c} '
                              f'for the classes {self.classes}, got shape {m.shape}')
        if (m < 0).any() or not np.allclose(m.sum(1), 1, atol=1e-6):
            raise ConfigError(f'transition matrix ({self.source or "given"}): every row must '
                              f'hold probabilities summing to 1, got row sums {m.sum(1)}')
        if not 0 <= self.emission_floor < 1:
            raise ConfigError(f'emission_floor must lie in [0, 1), got {self.emission_floor}')
        self.matrix = forbid(m, forbidden_indices(self.forbidden, self.classes))

    def at_step(self, step_sec: float) -> 'TransitionModel':
        """The same dynamics for another time step: ``matrix ** (step_sec / self.step_sec)``
        (a fractional matrix power, clipped at 0, forbidden transitions re-zeroed, rows
        renormalised)."""
        if abs(step_sec - self.step_sec) < 1e-9:
            return self
        from scipy.linalg import fractional_matrix_power
        power = np.real(fractional_matrix_power(self.matrix, step_sec / self.step_sec))
        return TransitionModel(_renormalise(np.clip(power, 0, None)), step_sec, self.classes,
                               self.forbidden, f'{self.source} at {step_sec:g} s',
                               self.emission_floor)

    def to_dict(self) -> Dict:
        return dict(step_sec=self.step_sec, source=self.source, emission_floor=self.emission_floor,
                    forbidden=[f'{a}->{b}' for a, b in self.forbidden],
                    matrix={a: {b: round(float(p), 5) for b, p in zip(self.classes, row)}
                            for a, row in zip(self.classes, self.matrix)})


def _renormalise(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    sums = m.sum(1, keepdims=True)
    eye = np.eye(len(m))
    return np.where(sums > 0, m / np.where(sums > 0, sums, 1), eye)


def parse_pairs(items: Iterable, classes: Sequence[str], where: str) -> List[Pair]:
    """``'awake->rem'`` strings or ``(from, to)`` pairs -> checked ``(from, to)`` names."""
    out = []
    for item in items or ():
        if isinstance(item, str):
            parts = [p.strip() for p in item.replace('>', '->').replace('-->', '->').split('->')]
            parts = [p for p in parts if p]
        else:
            parts = list(item)
        if len(parts) != 2 or any(p not in classes for p in parts) or parts[0] == parts[1]:
            raise UsageError(f'{where}: {item!r} is not a transition FROM->TO between two '
                             f'different stages of {list(classes)}')
        out.append((parts[0], parts[1]))
    return out


def forbidden_indices(pairs: Sequence[Pair], classes: Sequence[str]) -> List[Tuple[int, int]]:
    index = {c: i for i, c in enumerate(classes)}
    return [(index[a], index[b]) for a, b in pairs]


def forbid(matrix: np.ndarray, pairs: Sequence[Tuple[int, int]]) -> np.ndarray:
    m = np.array(matrix, dtype=np.float64)
    for a, b in pairs:
        m[a, b] = 0.0
    return _renormalise(m)


def count_transitions(sequences: Iterable[np.ndarray], num_classes: int) -> np.ndarray:
    """``counts[a, b]``: steps from stage ``a`` to ``b`` between consecutive scored steps
    (self-transitions included; steps next to an unscored one are not counted)."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        a, b = seq[:-1], seq[1:]
        ok = (a != UNSCORED) & (b != UNSCORED)
        np.add.at(counts, (a[ok], b[ok]), 1)
    return counts


def estimate_transitions(sequences: Iterable[np.ndarray], num_classes: int,
                         pseudocount: float = 1.0) -> np.ndarray:
    """Row-normalised transition counts plus ``pseudocount`` in every cell (so a transition
    never seen in the training nights stays possible unless forbidden)."""
    counts = count_transitions(sequences, num_classes).astype(np.float64) + pseudocount
    return _renormalise(counts)


def transitions_from_csv(path: str, classes: Sequence[str], step_sec: float,
                         forbidden: Sequence[Pair] = (), pseudocount: float = 1.0,
                         emission_floor: float = 0.2) -> TransitionModel:
    """Count transitions in a scorer's ``video,start,end,label`` CSV sampled every
    ``step_sec`` (the stage at each step's midpoint, unlabelled gaps unscored)."""
    from ..datasets.long_video import read_intervals
    from .epochs import interval_labels
    sequences = []
    for rows in read_intervals(path, classes).values():
        end = max(r[1] for r in rows)
        count = int(np.ceil(end / step_sec - 1e-9))
        sequences.append(interval_labels(rows, step_sec, count))
    matrix = estimate_transitions(sequences, len(classes), pseudocount)
    return TransitionModel(matrix, step_sec, list(classes), list(forbidden), path,
                           emission_floor)


def viterbi(log_emission: np.ndarray, log_trans: np.ndarray,
            log_init: np.ndarray) -> np.ndarray:
    """The most probable state path.

    Args:
        log_emission (ndarray[T, C]): log-likelihood of each step under each state.
        log_trans (ndarray[C, C]): log P(next = b | now = a).
        log_init (ndarray[C]): log P(first state).

    Returns:
        ndarray[T] of int64.
    """
    steps, states = log_emission.shape
    if steps == 0:
        return np.zeros(0, dtype=np.int64)
    back = np.zeros((steps, states), dtype=np.int64)
    score = log_init + log_emission[0]
    for t in range(1, steps):
        cand = score[:, None] + log_trans  # [from, to]
        back[t] = cand.argmax(0)
        score = cand[back[t], np.arange(states)] + log_emission[t]
    path = np.zeros(steps, dtype=np.int64)
    path[-1] = int(score.argmax())
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def hmm_smooth(probs: np.ndarray, model: TransitionModel,
               valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Viterbi stages of each contiguous run of valid steps.

    Args:
        probs (ndarray[T, C]): per-step stage probabilities (rows where not ``valid`` ignored).
        model (TransitionModel): at the steps' time step (see :meth:`TransitionModel.at_step`).
        valid (ndarray[T] of bool, optional): scored steps. Defaults to all.

    Returns:
        ndarray[T] of int64: stages, ``-1`` where not valid.
    """
    probs = np.asarray(probs, dtype=np.float64)
    valid = np.ones(len(probs), bool) if valid is None else np.asarray(valid, bool)
    c = probs.shape[1] if probs.ndim == 2 else len(model.classes)
    floor = model.emission_floor
    with np.errstate(divide='ignore'):
        log_trans = np.log(model.matrix)
    log_init = np.full(c, -np.log(c))
    out = np.full(len(probs), UNSCORED, dtype=np.int64)
    for start, stop in contiguous_runs(valid):
        p = np.nan_to_num(probs[start:stop])
        p = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
        emit = np.log((1 - floor) * p + floor / c + 1e-300)
        out[start:stop] = viterbi(emit, log_trans, log_init)
    return out
