"""``CollapseWarningHook``: a warning after validation or testing when the model's output has
collapsed (:func:`video_swin_plugin.evaluation.collapse.collapse_warning`).

tools/test.py and tools/train.py add it to ``custom_hooks`` (:func:`with_collapse_warning`), so
the test loop and validation during training both warn. It keeps the per-clip scores of the
loop's predictions (``pred_scores``/``pred_score`` of each data sample: one clip for a
Kinetics-style recognizer, K for ``SequenceRecognizer3D``, only the ``new_clips`` where a
sample marks them); distributed, every rank's scores are gathered and rank 0 warns on all of
them (mmengine's sampler pads a rank's share with a few repeated samples; they count twice,
which moves neither figure noticeably).
"""
import logging
from typing import Any, List, Optional, Sequence

import numpy as np
from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ..evaluation.collapse import (LABEL_SHARE, MIN_CLIPS, MIN_STD, collapse_warning,
                                   sample_clip_scores)
from ..registry import HOOKS


@HOOKS.register_module()
class CollapseWarningHook(Hook):
    """Warn (log level WARNING) after a validation or test epoch whose predictions look
    collapsed, naming the class; the message (or None) is kept as :attr:`message`.

    Args:
        label_share (float): see :func:`collapse_warning`. Defaults to 0.99.
        min_std (float): see :func:`collapse_warning`. Defaults to 1e-3.
        min_clips (int): see :func:`collapse_warning`. Defaults to 10.
    """
    priority = 'LOW'

    def __init__(self, label_share: float = LABEL_SHARE, min_std: float = MIN_STD,
                 min_clips: int = MIN_CLIPS) -> None:
        self.thresholds = dict(label_share=label_share, min_std=min_std, min_clips=min_clips)
        self.message: Optional[str] = None
        self._scores: List[np.ndarray] = []

    def before_val_epoch(self, runner) -> None:
        self._scores = []

    def before_test_epoch(self, runner) -> None:
        self._scores = []

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        self._collect(outputs)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        self._collect(outputs)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report(runner, 'validation')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report(runner, 'test')

    def _collect(self, outputs: Optional[Sequence]) -> None:
        for sample in outputs or []:
            self._scores.append(sample_clip_scores(sample))

    def _report(self, runner, loop: str) -> None:
        parts = [s for rank in all_gather_object(self._scores) for s in rank]  # every rank's
        self._scores = []
        if not parts:
            self.message = None
            return
        scores = np.concatenate(parts)
        loop_runner = runner.val_loop if loop == 'validation' else runner.test_loop
        dataset = loop_runner.dataloader.dataset
        self.message = collapse_warning(scores, _class_names(runner.cfg, dataset,
                                                             scores.shape[-1]),
                                        **self.thresholds)
        if self.message is not None and is_main_process():
            print_log(f'{loop}: {self.message}', logger=runner.logger, level=logging.WARNING)


def _class_names(cfg, dataset, num_classes: int) -> Optional[List[str]]:
    """The config's class names (``label_map``, ``classes``), else the dataset's, else None."""
    from ..apis.inference import class_names
    from ..errors import PluginError
    try:
        names = class_names(cfg, num_classes)
    except (PluginError, OSError):  # a bad label map is for the tools that use it to report
        names = None
    if names is None or names[0] == 'class0':  # no names in the config: the dataset's
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if classes is not None and len(classes) == num_classes:
            return list(classes)
    return names


def with_collapse_warning(custom_hooks: Any) -> list:
    """``custom_hooks`` (a config's list, or None) with a ``CollapseWarningHook`` added unless
    it has one (by any type spelling: name, scoped name or class)."""
    hooks = list(custom_hooks or [])
    for hook in hooks:
        kind = hook.get('type') if isinstance(hook, dict) else type(hook)
        name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
        if name.split('.')[-1] == 'CollapseWarningHook':
            return hooks
    return hooks + [dict(type='CollapseWarningHook')]
