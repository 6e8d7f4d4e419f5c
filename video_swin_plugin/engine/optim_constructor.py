"""Parameter groups as the official Video Swin recipes applied them.

The official configs give ``paramwise_cfg.custom_keys`` such as::

    {'absolute_pos_embed': dict(decay_mult=0.), 'relative_position_bias_table': dict(decay_mult=0.),
     'norm': dict(decay_mult=0.), 'backbone': dict(lr_mult=0.1)}

Under mmcv 1.x, which the official code ran on, a parameter takes the settings of the *longest*
key contained in its name and of no other. So ``backbone.layers.0.blocks.0.norm1.weight`` matches
``backbone`` (longer than ``norm``) and keeps its weight decay at 0.1x lr, while a
``relative_position_bias_table`` trains at the full lr without decay. mmaction2 1.x's
``SwinOptimWrapperConstructor`` multiplies every matching key instead (backbone norms: 0.1x lr
and no decay). Both rules are offered; ``'longest'`` is the default because it reproduces the
published models.

Config::

    optim_wrapper = dict(
        constructor='VideoSwinOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.02),
        paramwise_cfg=dict(custom_keys={...}, custom_keys_rule='longest'))  # or 'product'
"""
from typing import List, Optional

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from ..registry import OPTIM_WRAPPER_CONSTRUCTORS

CUSTOM_KEYS_RULES = ('longest', 'product')


def matching_keys(full_name: str, custom_keys: dict, rule: str = 'longest') -> List[str]:
    """The ``custom_keys`` entries that apply to parameter ``full_name`` under ``rule``.

    ``'longest'``: at most one, the longest key contained in the name (ties: alphabetical
    first), as mmcv 1.x and mmengine's default constructor. ``'product'``: all contained keys.
    """
    if rule not in CUSTOM_KEYS_RULES:
        raise ValueError(f'custom_keys_rule must be one of {CUSTOM_KEYS_RULES}, got {rule!r}')
    ordered = sorted(sorted(custom_keys), key=len, reverse=True)
    found = [key for key in ordered if key in full_name]
    return found[:1] if rule == 'longest' else found


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class VideoSwinOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` with a choice of how ``custom_keys`` combine.

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config.
        paramwise_cfg (dict, optional): As mmengine's, plus ``custom_keys_rule``: ``'longest'``
            (official, mmcv 1.x: only the longest matching key applies) or ``'product'``
            (mmaction2 1.x: multipliers of all matching keys multiply). Defaults to None.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        self.custom_keys_rule = paramwise_cfg.pop('custom_keys_rule', 'longest')
        if self.custom_keys_rule not in CUSTOM_KEYS_RULES:
            raise ValueError(f'paramwise_cfg.custom_keys_rule must be one of '
                             f'{CUSTOM_KEYS_RULES}, got {self.custom_keys_rule!r}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '',
                   is_dcn_module=None) -> None:
        if self.custom_keys_rule == 'longest':
            # mmengine's default keeps mmcv 1.x's rule exactly (tests pin this down)
            return super().add_params(params, module, prefix, is_dcn_module)
        custom_keys = self.paramwise_cfg.get('custom_keys', {})
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            full_name = f'{prefix}.{name}' if prefix else name
            group = {'params': [param], 'lr': self.base_lr}
            if self.base_wd is not None:
                group['weight_decay'] = self.base_wd
            for key in matching_keys(f'{prefix}.{name}', custom_keys, 'product'):
                group['lr'] *= custom_keys[key].get('lr_mult', 1.)
                if self.base_wd is not None:
                    group['weight_decay'] *= custom_keys[key].get('decay_mult', 1.)
            params.append(group)
            print_log(f'paramwise_options -- {full_name}: lr={group["lr"]:.3g}, '
                      f'weight_decay={group.get("weight_decay")}', logger='current',
                      level=10)  # DEBUG: one line per parameter
        for child_name, child in module.named_children():
            self.add_params(params, child, f'{prefix}.{child_name}' if prefix else child_name)
