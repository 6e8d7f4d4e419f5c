"""Pure state-dict converters between checkpoint layouts: ``state_dict -> state_dict``.

Our layout is the official Video Swin one. mmaction2 1.x differs only in the final norm,
which it calls ``norm3`` (``backbone.norm3.*``) where the official code says ``norm``.
"""
import re
from typing import Dict, Mapping

import torch
from torch import nn

from ..checkpoint import load_checked

_MM_FINAL_NORM = re.compile(r'^((?:.*\.)?)norm3\.(weight|bias)$')
_OUR_FINAL_NORM = re.compile(r'^((?:.*\.)?)norm\.(weight|bias)$')


def _is_backbone_top_level(prefix: str) -> bool:
    # only the backbone's own final norm is renamed, not e.g. 'layers.0.downsample.norm'
    return prefix in ('', 'backbone.')


def from_mmaction2(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmaction2 1.x Swin (``norm3``) -> official/ours (``norm``)."""
    out = {}
    for k, v in state_dict.items():
        m = _MM_FINAL_NORM.match(k)
        out[f'{m.group(1)}norm.{m.group(2)}' if m and _is_backbone_top_level(m.group(1)) else k] = v
    return out


def to_mmaction2(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official/ours (``norm``) -> mmaction2 1.x Swin (``norm3``)."""
    out = {}
    for k, v in state_dict.items():
        m = _OUR_FINAL_NORM.match(k)
        out[f'{m.group(1)}norm3.{m.group(2)}' if m and _is_backbone_top_level(m.group(1)) else k] = v
    return out


def backbone_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The backbone's part of a recognizer checkpoint (``backbone.*``, prefix removed); a bare
    backbone state dict comes back unchanged."""
    if any(k.startswith('backbone.') for k in state_dict):
        return {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}
    return dict(state_dict)


def load_backbone_weights(backbone: nn.Module, state_dict: Mapping[str, torch.Tensor],
                          strict: bool = True, source: str = 'state_dict') -> None:
    """Load a recognizer or bare-backbone state dict into ``backbone``, strictly by default."""
    load_checked(backbone, backbone_state_dict(state_dict), strict, source)


def inflate_2d_swin(state_dict: Mapping[str, torch.Tensor],
                    backbone: nn.Module) -> Dict[str, torch.Tensor]:
    """Inflate an ImageNet 2D Swin state dict to ``backbone``'s 3D shapes (see issue 7)."""
    raise NotImplementedError('2D Swin inflation is not implemented yet')
