"""Agreement between predicted and scored stages, per clip (pure numpy).

The measures sleep scorers report: accuracy, balanced accuracy (mean per-stage recall, which a
model always answering the commonest stage cannot inflate), per-stage and macro F1, Cohen's
kappa and the confusion matrix (rows: scored truth, columns: prediction).
"""
from typing import Dict, Optional, Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int],
                     num_classes: int) -> np.ndarray:
    """Counts ``(num_classes, num_classes)``; entry [i, j]: truth i predicted as j."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f'y_true {y_true.shape} and y_pred {y_pred.shape} must be 1-D and alike')
    for name, y in (('y_true', y_true), ('y_pred', y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f'{name} holds labels outside [0, {num_classes})')
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def cohen_kappa(cm: np.ndarray) -> float:
    """Cohen's kappa from a confusion matrix; NaN when chance agreement is already perfect
    (both raters used a single, identical stage)."""
    n = cm.sum()
    if n == 0:
        return float('nan')
    observed = np.trace(cm) / n
    expected = float((cm.sum(0) * cm.sum(1)).sum()) / n**2
    return float('nan') if expected == 1 else float((observed - expected) / (1 - expected))


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 per class; NaN for a class neither scored nor predicted."""
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)  # 2 tp + fp + fn
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)


def staging_scores(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int,
                   class_names: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """accuracy, balanced_accuracy, macro_f1, kappa, f1_<class> and confusion_matrix.

    Balanced accuracy averages recall over the classes present in ``y_true``; macro F1 averages
    F1 over the classes present in ``y_true`` or ``y_pred`` (as scikit-learn does).
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    n = cm.sum()
    support = cm.sum(1)
    present = support > 0
    recall = np.diag(cm)[present] / support[present]
    f1 = per_class_f1(cm)
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f'{len(names)} class names for {num_classes} classes')
    scores = dict(
        accuracy=float(np.trace(cm) / n) if n else float('nan'),
        balanced_accuracy=float(recall.mean()) if recall.size else float('nan'),
        macro_f1=float(np.nanmean(f1)) if np.isfinite(f1).any() else float('nan'),
        kappa=cohen_kappa(cm))
    for name, value in zip(names, f1):
        scores[f'f1_{name}'] = float(value)
    scores['confusion_matrix'] = cm
    return scores
