"""Reading weight files safely, and loading them strictly with mismatches named.

A checkpoint is a pickle. Foreign weights (official Video Swin, ImageNet Swin, torchvision)
are plain tensors and are read with ``weights_only=True``; nothing here unpickles arbitrary
objects. Runner checkpoints (with mmengine/numpy objects) are handled in ``compat``.
"""
import os
import pickle
from typing import Dict, Mapping

import torch
from torch import nn

from .errors import CheckpointError, CheckpointMismatchError

WRAPPER_KEYS = ('state_dict', 'model', 'module')


def unwrap_state_dict(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """Return the tensors of a checkpoint saved as ``{'state_dict': ...}``, ``{'model': ...}``
    or bare; a ``module.`` prefix (DataParallel) is removed."""
    state_dict = checkpoint
    for key in WRAPPER_KEYS:
        if isinstance(state_dict, Mapping) and key in state_dict and isinstance(
                state_dict[key], Mapping):
            state_dict = state_dict[key]
            break
    if not isinstance(state_dict, Mapping):
        raise TypeError(f'expected a mapping of tensors, got {type(state_dict).__name__}')
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in state_dict.items()}


def load_weights(path: str) -> Dict[str, torch.Tensor]:
    """Read a weight file of plain tensors (``weights_only=True``) and unwrap it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        if 'Unsupported global' not in str(e):
            raise CheckpointError(f'{path} is not a readable PyTorch checkpoint: {e}') from e
        raise CheckpointError(
            f'{path} holds objects other than tensors, so it is not read with '
            'weights_only=True. If it is an mmengine Runner checkpoint you trust, load it '
            'through mmengine after `import video_swin_plugin.compat`.') from e
    except (RuntimeError, EOFError) as e:
        raise CheckpointError(f'{path} is not a readable PyTorch checkpoint: {e}') from e
    return unwrap_state_dict(checkpoint)


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor],
                     strict: bool = True, source: str = 'state_dict') -> None:
    """Raise :class:`CheckpointMismatchError` naming misshaped keys, and, when ``strict``,
    missing and unexpected keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    misshaped = sorted(f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model '
                       f'{tuple(own[k].shape)}' for k in set(own) & set(state_dict)
                       if tuple(own[k].shape) != tuple(state_dict[k].shape))
    problems = []
    if strict and missing:
        problems.append(f'missing keys ({len(missing)}): {", ".join(missing)}')
    if strict and unexpected:
        problems.append(f'unexpected keys ({len(unexpected)}): {", ".join(unexpected)}')
    if misshaped:
        problems.append(f'misshaped keys ({len(misshaped)}): {"; ".join(misshaped)}')
    if problems:
        raise CheckpointMismatchError(f'{source} does not fit {type(model).__name__}:\n  ' +
                                      '\n  '.join(problems))


def load_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor],
                 strict: bool = True, source: str = 'state_dict') -> None:
    """``check_state_dict`` then ``load_state_dict``."""
    check_state_dict(model, state_dict, strict, source)
    model.load_state_dict(state_dict, strict=strict)
