"""From a config's test pipeline to the per-frame transforms a clip reader applies.

A clip read from a stream has one view, so of a test pipeline only the spatial steps act on its
frames: ``Resize`` and ``CenterCrop`` as they are, and ``ThreeCrop``/``TenCrop`` as one
``CenterCrop`` of the same size (the centre view of the published protocol). Steps that read,
sample or pack are the stream's own job; any other step is refused by name, so a model is
never fed frames prepared differently from its tests without a word.
"""
from typing import List, Mapping, Sequence

import numpy as np
import torch

from ..errors import ConfigError

FRAME_STEPS = ('Resize', 'CenterCrop')
MULTI_CROP_STEPS = ('ThreeCrop', 'TenCrop')
# words in the names of steps that read, sample or pack data (done by the stream itself)
READ_WORDS = ('Init', 'Decode', 'Sample', 'FormatShape', 'PackActionInputs', 'LongVideo', 'Clips')


def pipeline_from_config(cfg: Mapping) -> List[dict]:
    """The config's test pipeline (``test_pipeline``, else the test/val dataloader's)."""
    pipeline = cfg.get('test_pipeline', None)
    if pipeline is None:
        loader = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None)
        pipeline = loader['dataset'].get('pipeline') if loader else None
    if not pipeline:
        raise ConfigError('the config has no test_pipeline nor test_dataloader.dataset.pipeline')
    return [dict(step) for step in pipeline]


def frame_steps_from_pipeline(pipeline: Sequence[Mapping]) -> List[dict]:
    """The per-frame spatial steps of a test pipeline (see the module docstring)."""
    steps = []
    for step in pipeline:
        kind = step['type'].split('.')[-1]
        if kind in FRAME_STEPS:
            steps.append(dict(step))
        elif kind in MULTI_CROP_STEPS:
            steps.append(dict(type='CenterCrop', crop_size=step['crop_size']))
        elif not any(word in kind for word in READ_WORDS):
            raise ConfigError(f'test pipeline step {kind!r} cannot be applied clip by clip (only '
                              f'{", ".join(FRAME_STEPS + MULTI_CROP_STEPS)} act on the frames)')
    return steps


class FrameTransform:
    """A clip's list of RGB frames ``HxWx3 uint8`` -> ``uint8 Tensor[3, T, H, W]`` through
    mmaction2's own transforms, built from ``steps`` (configs as in a test pipeline), so the
    frames are those ``tools/test.py`` would give the model."""

    def __init__(self, steps: Sequence[Mapping] = ()) -> None:
        from mmaction.registry import TRANSFORMS
        self.steps = [dict(s) for s in steps]
        self.transforms = [TRANSFORMS.build(dict(s, type=s['type'].split('.')[-1]))
                           for s in self.steps]

    @classmethod
    def from_config(cls, cfg: Mapping) -> 'FrameTransform':
        return cls(frame_steps_from_pipeline(pipeline_from_config(cfg)))

    def __call__(self, frames: List[np.ndarray]) -> torch.Tensor:
        results = dict(imgs=frames, img_shape=frames[0].shape[:2], modality='RGB')
        for t in self.transforms:
            results = t(results)
        clip = np.stack(results['imgs'])  # T, H, W, 3
        return torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))  # 3, T, H, W
