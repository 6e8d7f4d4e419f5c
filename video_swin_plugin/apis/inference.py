"""Classify a video with a recognizer built from a config and a checkpoint.

    from video_swin_plugin.apis.inference import init_recognizer, classify_video
    name = 'swin_tiny_patch244_window877_kinetics400_1k'
    model = init_recognizer(f'configs/recognition/swin/{name}.py', f'checkpoints/{name}.pth')
    classify_video(model, 'video.mp4', top_k=5)   # {'arm wrestling': 0.91, ...}, best first

Official Video Swin files load strictly as they are (their layout is ours); mmengine Runner
checkpoints load too (``weights_only=True``, see ``compat``). The video goes through the config's
test pipeline (the published views: K400 4 clips x 3 crops), and the class probabilities are the
head's averaged over views.
"""
import os
import os.path as osp
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import AnnotationError, ConfigError, VideoReadError
from ..precision import Precision, cast_for_inference

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../video_swin_plugin
ConfigLike = Union[str, os.PathLike, 'mmengine.Config']  # noqa: F821


def resolve_label_map(path: Union[str, os.PathLike]) -> Path:
    """``path`` as given if it exists, else relative to the installed package's parent (so
    ``'video_swin_plugin/data/label_map_k400.txt'`` works from anywhere)."""
    candidates = [Path(path), PACKAGE_ROOT.parent / path, PACKAGE_ROOT / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f'label map not found: {path} (also looked in {PACKAGE_ROOT.parent})')


def load_label_map(path: Union[str, os.PathLike],
                   num_classes: Optional[int] = None) -> List[str]:
    """Class names, one a line in label order; blank trailing lines are ignored. With
    ``num_classes``, a map of another length is an error naming the file."""
    file = resolve_label_map(path)
    names = [line.strip() for line in file.read_text(encoding='utf-8').splitlines()]
    while names and not names[-1]:
        names.pop()
    for lineno, name in enumerate(names, 1):
        if not name:
            raise AnnotationError(f'{file}:{lineno}: empty class name')
    if num_classes is not None and len(names) != num_classes:
        raise AnnotationError(f'label map {file} has {len(names)} class names, the model has '
                         f'{num_classes} classes')
    return names


def _load_config(config: ConfigLike, cfg_options: Optional[Dict] = None):
    from mmengine.config import Config

    from ..engine.config_check import INFERENCE_SET_BY, merge_cfg_options
    from ..model_zoo import resolve_config
    if isinstance(config, (str, os.PathLike)):
        # a path, or a config name ('swin_tiny_patch244_window877_kinetics400_1k') resolved in
        # the package's configs/ and demo/; FileNotFoundError names it otherwise
        config = Config.fromfile(resolve_config(config))
    merge_cfg_options(config, cfg_options, set_by=INFERENCE_SET_BY)
    return config


def init_recognizer(config: ConfigLike, checkpoint: Optional[str] = None, device: str = 'cpu',
                    cfg_options: Optional[Dict] = None, *,
                    dtype: Union[str, Precision] = 'fp32') -> nn.Module:
    """The config's recognizer, ``checkpoint`` loaded strictly (mismatched keys are named), in
    eval mode on ``device``, its backbone in ``dtype`` (one of
    :data:`video_swin_plugin.precision.DTYPES`; ``'auto'``: what the device runs fastest; see
    :func:`~video_swin_plugin.precision.cast_for_inference`). The config is kept as
    ``model.cfg``, the precision applied (with the reason for an ``'auto'`` choice) as
    ``model.precision``."""
    from mmengine.registry import init_default_scope

    from .. import registry  # noqa: F401  (plugin scope; compat allow-lists Runner files)
    from ..checkpoint import CheckpointMismatchError, load_checked, load_weights
    cfg = _load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'video_swin_plugin'))
    cfg.model.backbone.pop('pretrained', None)  # the checkpoint holds every weight
    model = registry.MODELS.build(cfg.model)
    if checkpoint is not None:
        state_dict = load_weights(str(checkpoint))
        try:
            load_checked(model, state_dict, strict=True, source=str(checkpoint))
        except CheckpointMismatchError as e:
            hint = ('\n(an mmaction2 1.x Swin file? convert it with tools/convert_checkpoint.py)'
                    if any('norm3' in k for k in state_dict) else '')
            raise CheckpointMismatchError(f'{e}{hint}') from None
    model.cfg = cfg
    model = model.to(device).eval()
    model.precision = cast_for_inference(model, dtype)
    return model


def _check_video(video: Union[str, os.PathLike]) -> str:
    video = str(video)
    if not osp.isfile(video):
        raise VideoReadError(f'video not found: {video}')
    if osp.getsize(video) == 0:
        raise VideoReadError(f'video is empty (0 bytes): {video}')
    return video


def video_scores(model: nn.Module, video: Union[str, os.PathLike],
                 pipeline: Optional[Sequence[dict]] = None) -> torch.Tensor:
    """Class probabilities (Tensor[num_classes]) for ``video`` through ``pipeline`` (default:
    the config's test pipeline), averaged over its views."""
    from mmengine.dataset import Compose, pseudo_collate

    from ..registry import TRANSFORMS
    video = _check_video(video)
    steps = pipeline if pipeline is not None else model.cfg.test_dataloader.dataset.pipeline
    transform = Compose([TRANSFORMS.build(dict(step)) for step in steps])
    try:
        data = transform(dict(filename=video, label=-1, start_index=0, modality='RGB'))
    except Exception as e:  # decord's errors do not name the file
        raise VideoReadError(f'cannot read video {video}: {type(e).__name__}: {e}') from e
    with torch.no_grad():
        result = model.test_step(pseudo_collate([data]))[0]
    scores = result.pred_score if 'pred_score' in result else result.pred_scores.item
    scores = scores.float().cpu()
    if model.cls_head.average_clips != 'prob':  # 'score' averages logits
        scores = scores.softmax(-1)
    return scores


def class_names(cfg, num_classes: int,
                label_map: Union[None, str, os.PathLike, Sequence[str]] = None) -> List[str]:
    """The names of a model's classes: ``label_map`` (a file of names, one a line, or a list),
    else the config's ``label_map`` file, else its ``classes`` (top level or the test
    dataset's), else ``class0``, ``class1``, ... A list of another length is an error."""
    if label_map is None:
        label_map = cfg.get('label_map', None)
    if label_map is None:
        test_set = (cfg.get('test_dataloader', None) or {}).get('dataset', None) or {}
        label_map = cfg.get('classes', None) or test_set.get('classes', None)
    if label_map is None:
        return [f'class{i}' for i in range(num_classes)]
    if isinstance(label_map, (str, os.PathLike)):
        return load_label_map(label_map, num_classes)
    names = list(label_map)
    if len(names) != num_classes:
        raise ConfigError(f'{len(names)} class names for {num_classes} classes: {names}')
    return names


def classify_video(model: nn.Module, video: Union[str, os.PathLike], top_k: int = 5,
                   label_map: Union[None, str, os.PathLike, Sequence[str]] = None
                   ) -> 'OrderedDict[str, float]':
    """The ``top_k`` classes of ``video``, best first: ``{class_name: probability}``;
    names from :func:`class_names`."""
    scores = video_scores(model, video)
    names = class_names(model.cfg, scores.numel(), label_map)
    probs, indices = scores.topk(min(top_k, scores.numel()))
    return OrderedDict((names[i], float(p)) for p, i in zip(probs.tolist(), indices.tolist()))
