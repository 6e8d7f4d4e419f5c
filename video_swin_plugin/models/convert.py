"""Pure state-dict converters between checkpoint layouts: ``state_dict -> state_dict``.

Our layout is the official Video Swin one. mmaction2 1.x differs only in the final norm,
which it calls ``norm3`` (``backbone.norm3.*``) where the official code says ``norm``.
torchvision's ``swin3d_{t,s,b}`` (``from_torchvision``/``to_torchvision``) and ImageNet 2D
Swin checkpoints, original release or timm (``inflate_2d_swin``), are converted here too.
No function reads files; :func:`video_swin_plugin.checkpoint.load_weights` does that.
"""
import logging
import re
from typing import Dict, Mapping

import torch
from torch import nn

from ..checkpoint import CheckpointMismatchError, load_checked, unwrap_state_dict

_MM_FINAL_NORM = re.compile(r'^((?:.*\.)?)norm3\.(weight|bias)$')
_OUR_FINAL_NORM = re.compile(r'^((?:.*\.)?)norm\.(weight|bias)$')


def _rename_final_norm(state_dict: Mapping[str, torch.Tensor], pattern: re.Pattern,
                       new_name: str) -> Dict[str, torch.Tensor]:
    """Rename the backbone's own final norm; e.g. 'layers.0.downsample.norm' is left alone."""
    out = {}
    for k, v in state_dict.items():
        m = pattern.match(k)
        top_level = m is not None and m.group(1) in ('', 'backbone.')
        out[f'{m.group(1)}{new_name}.{m.group(2)}' if top_level else k] = v
    return out


def from_mmaction2(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmaction2 1.x Swin (``norm3``) -> official/ours (``norm``)."""
    return _rename_final_norm(state_dict, _MM_FINAL_NORM, 'norm')


def to_mmaction2(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official/ours (``norm``) -> mmaction2 1.x Swin (``norm3``)."""
    return _rename_final_norm(state_dict, _OUR_FINAL_NORM, 'norm3')


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


# ---------------------------------------------------------------------------------------------
# ImageNet 2D Swin -> 3D backbone.
#
# The design is the original Video Swin's ``SwinTransformer3D.inflate_weights`` (Liu et al.):
# the 2D patch embedding is repeated across the temporal patch and divided by its length, so a
# static video embeds as its frame does; each 2D relative-position table is resized by bicubic
# interpolation when the 2D window differs from ours, then repeated for every temporal offset
# (2 * Wd - 1 copies); recomputable buffers are dropped. Unlike the original, which loads
# non-strictly and only logs a head-count mismatch, every mismatch here is an error.
#
# Two 2D layouts are read:
# - the original Swin release (``swin_*_patch4_window*.pth``, ``{'model': ...}``) and timm < 0.9:
#   ``layers.i.downsample`` ends stage i, the classifier is ``head.*``;
# - timm >= 0.9: ``layers.i.downsample`` starts stage i (it is the original's
#   ``layers.{i-1}.downsample``), the classifier is ``head.fc.*``, and the index/mask buffers
#   are not saved.
# ---------------------------------------------------------------------------------------------

_2D_DROPPED = ('relative_position_index', 'attn_mask')
_DOWNSAMPLE = re.compile(r'^layers\.(\d+)\.downsample\.')


def detect_2d_layout(state_dict: Mapping[str, torch.Tensor]) -> str:
    """``'original'`` (Swin release, timm < 0.9) or ``'timm'`` (timm >= 0.9) for a 2D Swin
    state dict, from where the patch-merging layers sit; raises if it is neither."""
    if 'patch_embed.proj.weight' not in state_dict or not any(
            k.startswith('layers.') for k in state_dict):
        raise CheckpointMismatchError(
            'not a 2D Swin state dict: expected the keys patch_embed.proj.weight and '
            f'layers.*; the first keys are {sorted(state_dict)[:5]}')
    stages = [int(m.group(1)) for m in map(_DOWNSAMPLE.match, state_dict) if m]
    if stages:
        return 'original' if 0 in stages else 'timm'
    # a one-stage model has no patch merging; the classifier's name still tells
    return 'timm' if 'head.fc.weight' in state_dict else 'original'


def _timm_to_original_2d(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    out = {}
    for k, v in state_dict.items():
        m = _DOWNSAMPLE.match(k)
        if m:
            k = f'layers.{int(m.group(1)) - 1}.downsample.{k[m.end():]}'
        elif k.startswith('head.fc.'):
            k = 'head.' + k[len('head.fc.'):]
        out[k] = v
    return out


def _resize_2d_table(table: torch.Tensor, size: tuple, key: str) -> torch.Tensor:
    """``Tensor[(2Wh'-1) * (2Ww'-1), nH]`` (square 2D window) -> ``Tensor[prod(size), nH]``."""
    length, num_heads = table.shape
    side = int(round(length**0.5))
    if side * side != length:
        raise CheckpointMismatchError(
            f'{key}: a 2D relative-position table of {length} rows is not (2W-1)^2 for a '
            'square window')
    if (side, side) == tuple(size):
        return table
    # nH, S, S -> bicubic to nH, 2Wh-1, 2Ww-1, as the original (align_corners left False)
    grid = table.t().reshape(1, num_heads, side, side)
    grid = torch.nn.functional.interpolate(grid.float(), size=size, mode='bicubic')
    return grid.reshape(num_heads, -1).t().to(table.dtype)


def inflate_2d_swin(state_dict: Mapping[str, torch.Tensor],
                    backbone: nn.Module) -> Dict[str, torch.Tensor]:
    """Inflate an ImageNet 2D Swin state dict to ``backbone``'s 3D shapes.

    Args:
        state_dict: a 2D Swin checkpoint's tensors, in the original release or timm layout
            (``{'model': ...}`` / ``{'state_dict': ...}`` wrappers are removed).
        backbone: the :class:`SwinTransformer3D` to inflate for; only its shapes are read.

    Returns:
        A complete state dict for ``backbone`` (load it strictly). The 2D classifier is
        dropped; ``relative_position_index`` comes from ``backbone``; norms of intermediate
        ``out_indices`` stages, which no 2D Swin has, keep ``backbone``'s initial values
        (listed at INFO level); the 2D final norm is dropped when stage 3 is not an output.

    Raises:
        CheckpointMismatchError: naming every key whose shape, head count or presence does
            not fit ``backbone`` (e.g. a Swin-B file for a Swin-T backbone).
    """
    sd = unwrap_state_dict(state_dict)
    if detect_2d_layout(sd) == 'timm':
        sd = _timm_to_original_2d(sd)
    own = backbone.state_dict()
    pt, ph, pw = backbone.patch_size
    wd, wh, ww = backbone.window_size
    out, problems = {}, []
    for k, v in sd.items():
        if k.startswith('head.') or any(name in k for name in _2D_DROPPED):
            continue
        if k == 'norm.weight' or k == 'norm.bias':
            if k not in own:  # stage 3 is not among out_indices: nothing to put it in
                continue
        if k == 'patch_embed.proj.weight':
            expected = tuple(own[k].shape[:2]) + (ph, pw)
            if v.ndim != 4 or tuple(v.shape) != expected:
                problems.append(f'{k}: 2D {tuple(v.shape)}, expected {expected} '
                                '(embed_dim, in_chans, patch H, patch W)')
                continue
            # C, in, ph, pw -> C, in, pt, ph, pw; divided by pt so a static clip embeds as a frame
            v = v.unsqueeze(2).repeat(1, 1, pt, 1, 1) / pt
        elif k.endswith('relative_position_bias_table') and k in own:
            num_heads = own[k].shape[1]
            if v.ndim != 2 or v.shape[1] != num_heads:
                problems.append(f'{k}: 2D table has {v.shape[-1]} heads, the backbone '
                                f'{num_heads} (num_heads must match stage by stage)')
                continue
            v = _resize_2d_table(v, (2 * wh - 1, 2 * ww - 1), k)
            # the 3D table is (temporal offset, h offset, w offset) row-major: one copy per offset
            v = v.repeat(2 * wd - 1, 1)
        out[k] = v
    fresh = []
    for k, v in own.items():
        if k not in out and (k.endswith('relative_position_index') or _is_stage_norm(k)):
            out[k] = v.clone()
            if not k.endswith('relative_position_index'):
                fresh.append(k)
    if fresh:
        logging.getLogger(__name__).info(
            'no 2D counterpart, left at their initial values: %s', ', '.join(fresh))
    missing = sorted(set(own) - set(out))
    unexpected = sorted(set(out) - set(own))
    misshaped = sorted(f'{k}: inflated {tuple(out[k].shape)} vs backbone {tuple(own[k].shape)}'
                       for k in set(own) & set(out) if out[k].shape != own[k].shape)
    if missing:
        problems.append(f'missing from the 2D checkpoint ({len(missing)}): {", ".join(missing)}')
    if unexpected:
        problems.append(f'not in the 3D backbone ({len(unexpected)}): {", ".join(unexpected)}')
    problems.extend(misshaped)
    if problems:
        raise CheckpointMismatchError(
            f'2D Swin checkpoint does not inflate into {type(backbone).__name__} (embed_dim '
            f'{getattr(backbone, "embed_dim", "?")}, window {backbone.window_size}):\n  ' +
            '\n  '.join(problems))
    return out


def _is_stage_norm(key: str) -> bool:
    return re.match(r'^norm\d+\.(weight|bias)$', key) is not None


# ---------------------------------------------------------------------------------------------
# torchvision ``swin3d_{t,s,b}`` <-> ours (official layout).
#
# torchvision keeps the official block and attention names but flattens stages and patch
# merging into one ``features`` Sequential (stage i at ``features.{2i}``, its patch merging at
# ``features.{2i+1}``), names the MLP linears by their Sequential index (``mlp.0``, ``mlp.3``)
# and its classifier ``head``. Its windows are (T, H, W) like ours and its relative-position
# table and index share the official layout, so tensors move unchanged.
# ---------------------------------------------------------------------------------------------

_TV_BLOCK = re.compile(r'^features\.(\d+)\.(\d+)\.(.+)$')
_TV_MERGE = re.compile(r'^features\.(\d+)\.(reduction\.weight|norm\.(?:weight|bias))$')
_OUR_BLOCK = re.compile(r'^layers\.(\d+)\.blocks\.(\d+)\.(.+)$')
_OUR_MERGE = re.compile(r'^layers\.(\d+)\.downsample\.(reduction\.weight|norm\.(?:weight|bias))$')
_MLP_TV_TO_OURS = {'mlp.0.': 'mlp.fc1.', 'mlp.3.': 'mlp.fc2.'}
_MLP_OURS_TO_TV = {v: k for k, v in _MLP_TV_TO_OURS.items()}
_SAME = ('patch_embed.proj.weight', 'patch_embed.proj.bias', 'patch_embed.norm.weight',
         'patch_embed.norm.bias', 'norm.weight', 'norm.bias')
_BLOCK_PARTS = re.compile(r'^(norm1|norm2|attn\.qkv|attn\.proj)\.(weight|bias)$|'
                          r'^attn\.(relative_position_bias_table|relative_position_index)$')


def _rename_mlp(rest: str, table: Mapping[str, str]) -> str:
    for old, new in table.items():
        if rest.startswith(old):
            return new + rest[len(old):]
    return rest


def from_torchvision(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """torchvision ``swin3d_{t,s,b}`` state dict -> ours, as a recognizer checkpoint
    (``backbone.*`` and, if the file has its classifier, ``cls_head.fc_cls.*``).

    The backbone needs ``patch_norm=True`` (torchvision always normalizes after the patch
    embedding) and its ``window_size`` is torchvision's, (8, 7, 7) for the published weights.

    Raises:
        CheckpointMismatchError: naming every key that is not part of torchvision's swin3d.
    """
    sd = unwrap_state_dict(state_dict)
    out, unknown = {}, []
    for k, v in sd.items():
        if k in _SAME:
            out['backbone.' + k] = v
        elif k in ('head.weight', 'head.bias'):
            out['cls_head.fc_cls.' + k[len('head.'):]] = v
        elif (m := _TV_MERGE.match(k)) and int(m.group(1)) % 2 == 1:
            out[f'backbone.layers.{int(m.group(1)) // 2}.downsample.{m.group(2)}'] = v
        elif (m := _TV_BLOCK.match(k)) and int(m.group(1)) % 2 == 0:
            rest = _rename_mlp(m.group(3), _MLP_TV_TO_OURS)
            if not (_BLOCK_PARTS.match(rest) or rest.startswith('mlp.fc')):
                unknown.append(k)
                continue
            out[f'backbone.layers.{int(m.group(1)) // 2}.blocks.{m.group(2)}.{rest}'] = v
        else:
            unknown.append(k)
    if unknown:
        raise CheckpointMismatchError(
            f'keys that are not part of torchvision\'s swin3d ({len(unknown)}): '
            f'{", ".join(sorted(unknown))}')
    return out


def to_torchvision(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Ours (or mmaction2 1.x's) recognizer or bare-backbone state dict -> torchvision
    ``swin3d_{t,s,b}``. ``cls_head.fc_cls.*`` becomes ``head.*``; a bare backbone gives a
    state dict without ``head`` (load it with ``strict=False`` or add a head).

    Raises:
        CheckpointMismatchError: naming keys torchvision's model has no place for, such as
            intermediate-stage norms (``out_indices`` other than the last stage), other heads
            or necks, or a backbone without ``patch_embed.norm`` (``patch_norm=False``).
    """
    sd = from_mmaction2(unwrap_state_dict(state_dict))
    head = {k[len('cls_head.fc_cls.'):]: v for k, v in sd.items()
            if k.startswith('cls_head.fc_cls.')}
    rest = {k: v for k, v in sd.items() if not k.startswith('cls_head.fc_cls.')}
    backbone = backbone_state_dict(rest)
    if any(k.startswith('backbone.') for k in rest):
        backbone.update({k: v for k, v in rest.items() if not k.startswith('backbone.')})
    out, unknown = {}, []
    for k, v in backbone.items():
        if k in _SAME:
            out[k] = v
        elif m := _OUR_MERGE.match(k):
            out[f'features.{2 * int(m.group(1)) + 1}.{m.group(2)}'] = v
        elif m := _OUR_BLOCK.match(k):
            rest_key = _rename_mlp(m.group(3), _MLP_OURS_TO_TV)
            if not (_BLOCK_PARTS.match(m.group(3)) or rest_key.startswith(('mlp.0.', 'mlp.3.'))):
                unknown.append(k)
                continue
            out[f'features.{2 * int(m.group(1))}.{m.group(2)}.{rest_key}'] = v
        else:
            unknown.append(k)
    if 'patch_embed.proj.weight' in out and 'patch_embed.norm.weight' not in out:
        unknown.append('(no patch_embed.norm: torchvision\'s swin3d needs patch_norm=True)')
    if unknown:
        raise CheckpointMismatchError(
            f'keys torchvision\'s swin3d has no place for ({len(unknown)}): '
            f'{", ".join(sorted(unknown))}')
    out.update({f'head.{k}': v for k, v in head.items()})
    return out
