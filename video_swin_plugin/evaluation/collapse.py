"""A warning for a classifier whose output has collapsed: one label for (almost) every clip, or
class probabilities that hardly move from clip to clip.

A model trained into a constant (a learning rate that kills the features, a head that learnt
the class prior) still runs, scores and exits 0; its test metrics or hypnogram are the only
sign, and a kappa of 0 is easy to miss. :func:`collapse_warning` looks at the per-clip scores
a tool already has and returns a one-line message naming the class, or None. The thresholds:

- ``label_share`` 0.99: a real test set or night is rarely 99% one class; a short recording
  all in one stage is, which is why this is a warning and why ``min_clips`` exists.
- ``min_std`` 1e-3: the largest standard deviation across clips of any class's probability.
  Below it no class probability moves by even 0.1 percentage point between clips, so the
  clips cannot be ranked or told apart; a model with a zeroed head gives 0 exactly, while a
  freshly initialised (untrained) tiny model on the tests' videos varies by 1e-2 or more.
- ``min_clips`` 10: with fewer clips one label for all is common and neither figure means
  much.
"""
from typing import Any, Mapping, Optional, Sequence

import numpy as np

LABEL_SHARE = 0.99
MIN_STD = 1e-3
MIN_CLIPS = 10


def as_probabilities(scores: Any) -> np.ndarray:
    """``scores`` (array-like [N, C], or [C] for one clip) as float64 probabilities [N, C]:
    rows that are already distributions are kept, others (logits) are softmaxed; rows with
    NaN or Inf are dropped."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores.reshape(1, -1) if scores.ndim == 1 else scores.reshape(-1, scores.shape[-1])
    scores = scores[np.isfinite(scores).all(axis=1)]
    if len(scores) == 0 or ((scores >= 0).all() and np.allclose(scores.sum(1), 1, atol=1e-3)):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def collapse_warning(scores: Any, class_names: Optional[Sequence[str]] = None, *,
                     label_share: float = LABEL_SHARE, min_std: float = MIN_STD,
                     min_clips: int = MIN_CLIPS) -> Optional[str]:
    """A message when the per-clip ``scores`` look collapsed, else None.

    Args:
        scores (array-like[N, C]): per-clip class probabilities (or logits) of N clips.
        class_names (Sequence[str], optional): C names for the message. Defaults to
            ``class0``, ``class1``, ...
        label_share (float): warn when one label takes at least this share of the clips.
        min_std (float): warn when every class's probability has a standard deviation across
            clips below this.
        min_clips (int): no warning for fewer clips (at least 2 are always needed).

    Returns:
        Optional[str]: one line naming the class and the figures, or None.
    """
    probs = as_probabilities(scores)
    n, c = probs.shape
    if n < max(2, min_clips) or c < 2:
        return None
    names = list(class_names) if class_names is not None and len(class_names) == c else \
        [f'class{i}' for i in range(c)]
    counts = np.bincount(probs.argmax(axis=1), minlength=c)
    top = int(counts.argmax())
    share = counts[top] / n
    std = probs.std(axis=0)
    flat = std.max() < min_std  # no clip moves any class's probability
    found = []
    if share >= label_share:
        found.append(f'{share:.1%} of {n} clips get the label {names[top]!r}')
    if flat:
        likely = int(probs.mean(axis=0).argmax())
        found.append(f'the class probabilities hardly vary across the {n} clips (largest '
                     f'per-class std {std.max():.1e} < {min_std:g}; mean '
                     f'p({names[likely]!r}) = {probs[:, likely].mean():.3f})')
    if not found:
        return None
    # one label with varied probabilities is also what a right model gives a recording that is
    # one class throughout (a sow awake all file long), so say so rather than call it broken
    right_if = ('' if flat else ' (right if these clips really are all '
                f'{names[top]!r}; if not:)')
    return ('the model output looks collapsed: ' + '; '.join(found) + '.' + right_if + ' A '
            'model that gives one answer whatever the input was not trained to use it (check '
            'the training loss against chance, the learning rate and the head)')


def sample_clip_scores(sample: Any) -> np.ndarray:
    """The per-clip scores (ndarray[k, C]) of one predicted data sample (an mmaction2
    ``ActionDataSample`` or its dict): ``pred_scores.item`` (mmaction2 1.1) or ``pred_score``
    (1.2), [C] for a Kinetics-style recognizer or [K, C] for ``SequenceRecognizer3D``; where
    the sample carries ``new_clips``, only those clips (each clip of a recording once)."""
    from .staging_metric import _item
    if not isinstance(sample, Mapping):
        sample = sample.to_dict()
    scores = _item(sample, 'pred_scores', 'pred_score')
    scores = scores.reshape(-1, scores.shape[-1]).astype(np.float32)
    keep = sample.get('new_clips')
    if keep is not None:
        keep = np.asarray(keep, bool).reshape(-1)
        if len(keep) == len(scores):
            scores = scores[keep]
    return scores
