"""Agreement of a staged recording with a scorer's labels, clip by clip on the clip grid."""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..clip_grid import UNSCORED

Intervals = List[Tuple[float, float, int]]


def load_truth(path: str, classes: Sequence[str]) -> Dict[str, Intervals]:
    """The scorer's intervals per video from a long-recording CSV (``video,start,end,label``,
    seconds), read and checked by the dataset's reader (errors name file and line)."""
    from ..datasets.long_video import read_intervals
    return {video: [(s, e, label) for s, e, label, _ in rows]
            for video, rows in read_intervals(path, classes).items()}


def match_truth(truth: Dict[str, Intervals], name: str, path: str,
                input_names: Sequence[str] = ()) -> Tuple[Optional[Intervals], Optional[str]]:
    """The scorer's intervals of the recording ``name`` (its path inside the input folder) at
    ``path``, and how they were matched: ``'path'`` (the labels' ``video`` is ``name``, or the
    file's path), else ``'file name'`` when the labelled video's path is a tail of the file's
    path and its file name is unique both in the labels and among the run's inputs
    (``input_names``), else ``(None, None)``."""
    if name in truth:
        return truth[name], 'path'
    target = os.path.normpath(os.path.abspath(path))
    for key, intervals in truth.items():
        if os.path.normpath(os.path.abspath(key)) == target:
            return intervals, 'path'
    base = os.path.basename(name)
    labelled = [k for k in truth if os.path.basename(k) == base]
    inputs = [n for n in input_names if os.path.basename(n) == base]
    if len(labelled) == 1 and len(inputs) <= 1:
        tail = os.path.normpath(labelled[0]).split(os.sep)
        if target.split(os.sep)[-len(tail):] == tail:
            return truth[labelled[0]], 'file name'
    return None, None


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


def agreement_block(truth: Dict[str, Intervals], labels_path: str, name: str, path: str,
                    input_names: Sequence[str], schedule, fps: float, raw: np.ndarray,
                    smoothed: np.ndarray, classes: Sequence[str]) -> Dict:
    """The summary's ``agreement``: how the recording was found in the labels, and the raw and
    smoothed per-clip agreement on the clip grid (or a note that it is not labelled)."""
    intervals, how = match_truth(truth, name, path, input_names)
    if intervals is None:
        return dict(labels=labels_path, note='video not in labels')
    scored = schedule.clip_labels(intervals, fps, len(raw))
    return dict(labels=labels_path, matched_by=how, raw=agreement(scored, raw, classes),
                smoothed=agreement(scored, smoothed, classes))
