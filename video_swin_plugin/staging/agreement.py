"""Agreement of a staged recording with a scorer's labels, clip by clip on the clip grid."""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..clip_grid import UNSCORED
from ..errors import AnnotationError

Intervals = List[Tuple[float, float, int]]


def load_truth(path: str, classes: Sequence[str]) -> Dict[str, Intervals]:
    """The scorer's intervals per video from a long-recording CSV (``video,start,end,label``,
    seconds), read and checked by the dataset's reader (errors name file and line)."""
    from ..datasets.long_video import read_intervals
    return {video: [(s, e, label) for s, e, label, _ in rows]
            for video, rows in read_intervals(path, classes).items()}


def match_truth(truth: Dict[str, Intervals], name: str, path: str) -> Optional[Intervals]:
    """The intervals of the recording ``name`` (its path inside the input folder) at ``path``:
    by name, else by path, else by a file name that only one labelled video has."""
    if name in truth:
        return truth[name]
    norm = {os.path.normpath(k): v for k, v in truth.items()}
    if os.path.normpath(path) in norm:
        return norm[os.path.normpath(path)]
    same = [k for k in truth if os.path.basename(k) == os.path.basename(name)]
    if len(same) > 1:
        raise AnnotationError(f'{name}: several videos in the labels share its file name: {same}')
    return truth[same[0]] if same else None


def agreement(truth: np.ndarray, pred: np.ndarray, classes: Sequence[str]) -> Dict:
    """Accuracy, Cohen's kappa, macro-F1 and confusion (rows truth, columns predicted) on the
    clips both scored, with the project's staging metrics."""
    from ..evaluation.staging import staging_scores
    keep = (truth != UNSCORED) & (pred != UNSCORED)
    scores = staging_scores(truth[keep], pred[keep], len(classes), classes)
    scores = {k: (v.tolist() if isinstance(v, np.ndarray) else
                  None if isinstance(v, float) and not np.isfinite(v) else
                  round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()}
    return dict(clips=int(keep.sum()), **scores)
