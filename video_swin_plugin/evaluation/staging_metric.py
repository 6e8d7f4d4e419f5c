"""StagingMetric: per-clip agreement for sequence predictions (registered, plugin scope)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS
from .staging import staging_scores


def _item(sample: dict, *names: str):
    """A label field of a sample dict, under mmaction2 1.1 (``pred_scores.item``) or 1.2
    (``pred_score``) naming."""
    for name in names:
        value = sample.get(name)
        if value is None:
            continue
        if isinstance(value, dict):
            value = value.get('item')
        if value is not None:
            return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else \
                np.asarray(value)
    raise KeyError(f'data sample has none of {names}; keys: {sorted(sample)}')


@METRICS.register_module()
class StagingMetric(BaseMetric):
    """Accuracy, balanced accuracy, macro-F1, Cohen's kappa and the confusion matrix, per clip.

    Takes the per-clip predictions of ``SequenceRecognizer3D`` (``pred_scores.item`` of shape
    ``(K, num_classes)``, labels ``(K,)``) or of a one-clip recognizer (``(num_classes,)``).
    Where a sample carries ``new_clips`` (``LongVideoDataset`` in test mode), only those clips
    count, so each clip of a recording is counted once. Where samples carry ``video`` and
    ``clip_index``, a clip seen again is dropped too: in a distributed test mmengine's
    ``DefaultSampler`` pads the ranks' shares with repeated samples, and results from all ranks
    are collected before :meth:`compute_metrics`.

    Args:
        classes (Sequence[str], optional): Class names for the per-class F1 keys. Defaults to
            None (the dataset's ``classes`` if given by the evaluator, else indices).
        collect_device (str): As in mmengine. Defaults to 'cpu'.
        prefix (str, optional): Key prefix. Defaults to 'staging'.
    """
    default_prefix = 'staging'

    def __init__(self, classes: Optional[Sequence[str]] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.classes = tuple(classes) if classes is not None else None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            scores = _item(sample, 'pred_scores', 'pred_score')
            labels = _item(sample, 'gt_labels', 'gt_label').reshape(-1)
            scores = scores.reshape(-1, scores.shape[-1])
            if len(scores) != len(labels):
                raise ValueError(f'{len(scores)} predicted clips but {len(labels)} labels in a '
                                 'sample')
            keep = np.asarray(sample.get('new_clips', np.ones(len(labels), bool)), bool)
            keep = keep.reshape(-1)
            video, index = sample.get('video'), sample.get('clip_index')
            clips = None if video is None or index is None else \
                [(video, int(i)) for i in np.asarray(index).reshape(-1)[keep]]
            self.results.append(dict(pred=scores.argmax(-1)[keep], gt=labels[keep],
                                     num_classes=scores.shape[-1], clips=clips))

    @staticmethod
    def _count_once(results: List[dict]) -> List[dict]:
        """``results`` with every (video, clip_index) kept at its first occurrence only; as
        they are when some result has no clip keys."""
        if any(r.get('clips') is None for r in results):
            return results
        seen, unique = set(), []
        for r in results:
            first = np.array([clip not in seen for clip in r['clips']], bool)
            seen.update(r['clips'])
            unique.append(dict(r, pred=r['pred'][first], gt=r['gt'][first]))
        return unique

    def compute_metrics(self, results: List[dict]) -> Dict:
        results = self._count_once(results)
        num_classes = max(r['num_classes'] for r in results)
        y_pred = np.concatenate([r['pred'] for r in results])
        y_true = np.concatenate([r['gt'] for r in results])
        classes = self.classes or (self.dataset_meta or {}).get('classes')
        if classes is not None and len(classes) != num_classes:
            classes = None
        return staging_scores(y_true, y_pred, num_classes, classes)
