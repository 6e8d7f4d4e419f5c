"""Embeddings out of a recognizer: one vector per video (views averaged), or one per clip.

Inside your own mmaction2 code the entry point is the recognizer's ``extract_feat``::

    data = model.data_preprocessor(pseudo_collate([packed]), False)  # packed: test pipeline output
    feats, _ = model.extract_feat(data['inputs'], test_mode=True)    # Tensor[N*V, C, T', H', W']

``inputs`` is ``Tensor[N, V, 3, T, H, W]`` (V views: clips x crops); ``test_mode=True`` flattens
the views, honours ``test_cfg.max_testing_views`` and returns the neck's output when there is a
neck, else the backbone's (the final stage, normalized: what the head pools). With
``test_mode=False`` pass ``stage='backbone'`` or ``'neck'`` (``'head'`` gives class scores).

This module adds what a feature extractor needs on top: any backbone stage (``stage=0..3``),
a pooling (``'avg'``, ``'max'``, ``'avgmax'``), views averaged per video, and per-clip
embeddings of long videos through the streaming reader. ``tools/extract_feat.py`` is its CLI;
build the model with :func:`video_swin_plugin.apis.inference.init_recognizer`.
"""
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..clip_grid import ClipSchedule
from ..errors import UsageError

POOLINGS = ('avg', 'max', 'avgmax')
Stage = Union[str, int]


def pool_features(feat: torch.Tensor, pooling: str = 'avg') -> torch.Tensor:
    """``Tensor[B, C, T, H, W] -> Tensor[B, C]`` (``'avgmax'``: ``Tensor[B, 2C]``, average then
    maximum) over time and space."""
    if feat.ndim != 5:
        raise ValueError(f'expected features Tensor[B, C, T, H, W], got shape {tuple(feat.shape)}')
    if pooling == 'avg':
        return feat.mean(dim=(2, 3, 4))
    if pooling == 'max':
        return feat.amax(dim=(2, 3, 4))
    if pooling == 'avgmax':
        return torch.cat([feat.mean(dim=(2, 3, 4)), feat.amax(dim=(2, 3, 4))], dim=1)
    raise UsageError(f'pooling must be one of {POOLINGS}, got {pooling!r}')


def _last(x):
    return x[-1] if isinstance(x, (tuple, list)) else x


def _stage_features(backbone: nn.Module, x: torch.Tensor, stage: int) -> torch.Tensor:
    """Output of backbone stage ``stage``, ``Tensor[B, C_i, T', H_i, W_i]``, through that stage's
    output norm where the backbone has one (``out_indices``), raw otherwise."""
    forward_intermediates = getattr(backbone, 'forward_intermediates', None)
    if forward_intermediates is None:
        raise UsageError(f'stage={stage} needs a backbone with forward_intermediates '
                         f'(SwinTransformer3D); {type(backbone).__name__} has none')
    if not 0 <= stage < backbone.num_layers:
        raise UsageError(f'stage {stage} is not a stage of {type(backbone).__name__} '
                         f'({backbone.num_layers} stages)')
    return forward_intermediates(x, [stage])[0]


def view_embeddings(model: nn.Module, inputs: torch.Tensor, stage: Stage = 'backbone',
                    pooling: str = 'avg') -> torch.Tensor:
    """Pooled features of every view: ``inputs Tensor[N, V, 3, T, H, W]`` (normalized, as
    the data preprocessor returns them) -> ``Tensor[N, V, C']``.

    Args:
        stage: ``'backbone'`` (what the head sees), ``'neck'`` (needs a neck) or a backbone
            stage index; see :func:`_stage_features`.
        pooling: one of :data:`POOLINGS`.
    """
    if inputs.ndim != 6:
        raise ValueError('expected inputs Tensor[N, V, 3, T, H, W], got shape '
                         f'{tuple(inputs.shape)}')
    N, V = inputs.shape[:2]
    with_neck = getattr(model, 'with_neck', False)
    with torch.no_grad():
        if stage == 'neck' or (stage == 'backbone' and not with_neck):
            if not with_neck and stage == 'neck':
                raise UsageError(f'stage="neck" but {type(model).__name__} has no neck')
            feats, _ = model.extract_feat(inputs, test_mode=True)  # honours max_testing_views
            return pool_features(_last(feats), pooling).view(N, V, -1)
        if stage == 'backbone':
            model_stage = lambda x: _last(model.backbone(x))  # noqa: E731
        elif isinstance(stage, int) and not isinstance(stage, bool):
            model_stage = lambda x: _stage_features(model.backbone, x, stage)  # noqa: E731
        else:
            raise UsageError(f"stage must be 'backbone', 'neck' or a stage index, got {stage!r}")
        views = inputs.flatten(0, 1)  # N * V, 3, T, H, W
        chunk = (getattr(model, 'test_cfg', None) or {}).get('max_testing_views') or len(views)
        pooled = [pool_features(model_stage(views[i:i + chunk]), pooling)
                  for i in range(0, len(views), chunk)]
    return torch.cat(pooled).view(N, V, -1)


class VideoEmbedder:
    """One embedding per video with a recognizer and its test pipeline.

    Args:
        model: a built recognizer (``backbone``, ``data_preprocessor``, ``extract_feat``) in
            eval mode.
        pipeline: the test pipeline (list of transform configs, from ``test_pipeline``).
            Its sampler and crops define the views (e.g. 4 clips x 3 crops); they are averaged.
        stage, pooling: as in :func:`view_embeddings`.
    """

    def __init__(self, model: nn.Module, pipeline: Sequence[dict], stage: Stage = 'backbone',
                 pooling: str = 'avg') -> None:
        from mmengine.dataset import Compose
        if pooling not in POOLINGS:
            raise UsageError(f'pooling must be one of {POOLINGS}, got {pooling!r}')
        self.model = model
        self.pipeline = Compose([dict(step) for step in pipeline])
        self.stage = stage
        self.pooling = pooling

    def views(self, path: str) -> torch.Tensor:
        """``Tensor[V, C']``: the pooled features of every view of the video at ``path``."""
        from mmengine.dataset import pseudo_collate
        if not os.path.isfile(path):
            raise FileNotFoundError(f'video not found: {path}')
        try:
            packed = self.pipeline(dict(filename=str(path), label=-1, start_index=0,
                                        modality='RGB'))
        except Exception as e:  # decord/pipeline errors do not name the file
            raise RuntimeError(f'cannot read video {path}: {type(e).__name__}: {e}') from e
        data = self.model.data_preprocessor(pseudo_collate([packed]), False)
        return view_embeddings(self.model, data['inputs'], self.stage, self.pooling)[0]

    def __call__(self, path: str) -> torch.Tensor:
        """``Tensor[C']``: the video's embedding, its views averaged."""
        return self.views(path).mean(dim=0)

    def clips(self, path: str, schedule: ClipSchedule,
              frame_steps: Sequence[dict] = ()) -> Iterable[Tuple[object, torch.Tensor]]:
        """Per-clip embeddings of a long video through the streaming reader, constant memory.

        Yields ``(clip, Tensor[C'])`` in order for the clips of ``schedule`` (the clip grid),
        ``clip`` being the reader's ``DecodedClip`` (``index``, ``start``, ``end`` in seconds);
        clips the reader could not decode come with ``frames=None`` and are skipped.
        ``frame_steps`` are the per-frame transforms (see :mod:`.frames`) applied before the
        model's data preprocessor.
        """
        from ..video_reader import ClipReader
        from .frames import FrameTransform
        reader = ClipReader(str(path), schedule, transform=FrameTransform(frame_steps))
        for clip in reader:
            if clip.frames is None:
                continue
            data = self.model.data_preprocessor(
                dict(inputs=[clip.frames.unsqueeze(0)], data_samples=None), False)
            yield clip, view_embeddings(self.model, data['inputs'], self.stage,
                                        self.pooling)[0, 0]


def embed_videos(embedder: VideoEmbedder, videos: Sequence[str],
                 on_error: Optional[Callable[[str, Exception], None]] = None
                 ) -> Tuple[np.ndarray, List[Dict]]:
    """Embeddings of ``videos`` (``float32 [N, C']``) and one index row per embedding
    (``index``, ``video``, ``num_views``). A video that cannot be read raises, or, with
    ``on_error``, is reported to it and left out."""
    rows, vectors = [], []
    for path in videos:
        try:
            views = embedder.views(path)
        except (FileNotFoundError, RuntimeError) as e:
            if on_error is None:
                raise
            on_error(path, e)
            continue
        vectors.append(views.mean(dim=0).float().cpu().numpy())
        rows.append(dict(index=len(rows), video=str(path), num_views=len(views)))
    dim = vectors[0].shape[0] if vectors else 0
    return (np.stack(vectors) if vectors else np.zeros((0, dim), np.float32)), rows
