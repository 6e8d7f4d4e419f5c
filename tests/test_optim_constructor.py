"""Parameter groups of VideoSwinOptimWrapperConstructor: the official (longest key) rule and
mmaction2's (product) rule, checked by hand and against mmaction2's own constructor."""
import pytest
from mmengine.registry import init_default_scope

import video_swin_plugin.registry as R
from video_swin_plugin.engine import VideoSwinOptimWrapperConstructor, matching_keys

from .helpers import tiny_recognizer_config

OFFICIAL_KEYS = {
    'absolute_pos_embed': dict(decay_mult=0.),
    'relative_position_bias_table': dict(decay_mult=0.),
    'norm': dict(decay_mult=0.),
    'backbone': dict(lr_mult=0.1)
}
LR, WD = 1e-3, 0.02


def tiny_model():
    init_default_scope('video_swin_plugin')
    return R.MODELS.build(tiny_recognizer_config().model)


def groups_by_name(model, rule):
    constructor = VideoSwinOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=LR, weight_decay=WD)),
        dict(custom_keys=OFFICIAL_KEYS, custom_keys_rule=rule))
    optimizer = constructor(model).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g['lr'], g['weight_decay'])
            for g in optimizer.param_groups for p in g['params']}


# name: (longest rule, product rule), each (lr, weight_decay)
EXPECTED = {
    'backbone.layers.0.blocks.0.attn.relative_position_bias_table': ((LR, 0.), (LR * .1, 0.)),
    'backbone.layers.0.blocks.0.norm1.weight': ((LR * .1, WD), (LR * .1, 0.)),
    'backbone.norm.bias': ((LR * .1, WD), (LR * .1, 0.)),
    'backbone.patch_embed.proj.weight': ((LR * .1, WD), (LR * .1, WD)),
    'backbone.layers.1.blocks.1.attn.qkv.weight': ((LR * .1, WD), (LR * .1, WD)),
    'cls_head.fc_cls.weight': ((LR, WD), (LR, WD)),
}


@pytest.mark.parametrize('rule,col', [('longest', 0), ('product', 1)])
def test_param_groups(rule, col):
    model = tiny_model()
    groups = groups_by_name(model, rule)
    assert set(groups) == {n for n, p in model.named_parameters() if p.requires_grad}
    for name, expected in EXPECTED.items():
        assert groups[name] == pytest.approx(expected[col]), name


def test_product_rule_matches_mmaction2():
    from mmaction.engine.optimizers import SwinOptimWrapperConstructor
    model = tiny_model()
    ours = groups_by_name(model, 'product')
    theirs_opt = SwinOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=LR, weight_decay=WD)),
        OFFICIAL_KEYS)(model).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    theirs = {names[id(p)]: (g['lr'], g['weight_decay'])
              for g in theirs_opt.param_groups for p in g['params']}
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name] == pytest.approx(theirs[name]), name


def test_longest_rule_differs_where_official_and_mmaction2_differ():
    model = tiny_model()
    longest, product = groups_by_name(model, 'longest'), groups_by_name(model, 'product')
    differ = {n for n in longest if longest[n] != pytest.approx(product[n])}
    assert differ and all('norm' in n or 'relative_position_bias_table' in n for n in differ)


def test_matching_keys_and_errors():
    assert matching_keys('backbone.norm.weight', OFFICIAL_KEYS) == ['backbone']
    assert matching_keys('backbone.norm.weight', OFFICIAL_KEYS, 'product') == ['backbone', 'norm']
    assert matching_keys('cls_head.fc_cls.bias', OFFICIAL_KEYS) == []
    with pytest.raises(ValueError, match='custom_keys_rule'):
        VideoSwinOptimWrapperConstructor(
            dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=LR)),
            dict(custom_keys=OFFICIAL_KEYS, custom_keys_rule='sum'))


def test_frozen_parameters_are_left_out():
    model = tiny_model()
    for p in model.backbone.patch_embed.parameters():
        p.requires_grad = False
    for rule in ('longest', 'product'):
        assert not any(n.startswith('backbone.patch_embed') for n in groups_by_name(model, rule))
