"""torchvision swin3d_{t,s,b} <-> ours (models/convert.py), on synthetic state dicts shaped like
torchvision's."""
import pytest
import torch

from video_swin_plugin.checkpoint import CheckpointMismatchError
from video_swin_plugin.models.backbones.swin3d import SwinTransformer3D
from video_swin_plugin.models.convert import (backbone_state_dict, from_torchvision,
                                              to_mmaction2, to_torchvision)

from .helpers import TINY_SWIN, tiny_tv, tv_state_dict

# torchvision's builders: swin3d_t/s/b (patch (2,4,4), window (8,7,7), patch norm)
TV_ARCHS = {'swin3d_t': (96, (2, 2, 6, 2), (3, 6, 12, 24)),
            'swin3d_s': (96, (2, 2, 18, 2), (3, 6, 12, 24)),
            'swin3d_b': (128, (2, 2, 18, 2), (4, 8, 16, 32))}


@pytest.mark.parametrize('name', sorted(TV_ARCHS))
def test_published_architectures_map_onto_ours_key_for_key(name, monkeypatch):
    monkeypatch.setattr(torch.nn.init, 'trunc_normal_', lambda t, *a, **k: t)  # shapes only
    embed_dim, depths, heads = TV_ARCHS[name]
    tv = tv_state_dict(embed_dim, depths, heads, device='meta')
    ours = from_torchvision(tv)
    assert len(ours) == len(tv)  # 185 for swin3d_t, the key count of the official Tiny file
    if name == 'swin3d_t':
        assert len(tv) == 185
    backbone = SwinTransformer3D(patch_size=(2, 4, 4), embed_dim=embed_dim, depths=depths,
                                 num_heads=heads, window_size=(8, 7, 7), patch_norm=True)
    own = backbone.state_dict()
    bb = backbone_state_dict(ours)
    assert bb.keys() == own.keys()
    assert all(bb[k].shape == own[k].shape for k in own)
    assert ours['cls_head.fc_cls.weight'].shape == (400, embed_dim * 8)


def test_tensors_land_where_they_belong_and_load_strictly():
    tv = tiny_tv()
    ours = from_torchvision(tv)
    assert ours['backbone.layers.1.blocks.1.mlp.fc2.weight'] is tv['features.2.1.mlp.3.weight']
    assert ours['backbone.layers.2.blocks.0.mlp.fc1.bias'] is tv['features.4.0.mlp.0.bias']
    assert ours['backbone.layers.2.downsample.reduction.weight'] is tv['features.5.reduction.weight']
    assert (ours['backbone.layers.3.blocks.1.attn.relative_position_bias_table']
            is tv['features.6.1.attn.relative_position_bias_table'])
    assert ours['backbone.norm.weight'] is tv['norm.weight']
    assert ours['cls_head.fc_cls.bias'] is tv['head.bias']
    backbone = SwinTransformer3D(**TINY_SWIN)
    backbone.load_state_dict(backbone_state_dict(ours), strict=True)


def test_round_trips_both_ways():
    tv = tiny_tv()
    back = to_torchvision(from_torchvision(tv))
    assert back.keys() == tv.keys() and all(back[k] is tv[k] for k in tv)
    backbone = SwinTransformer3D(**TINY_SWIN)
    ours = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    ours.update({'cls_head.fc_cls.weight': torch.randn(5, 128),
                 'cls_head.fc_cls.bias': torch.randn(5)})
    again = from_torchvision(to_torchvision(ours))
    assert again.keys() == ours.keys() and all(again[k] is ours[k] for k in ours)
    # mmaction2 1.x's final norm (norm3) converts the same; a bare backbone gives no head
    assert to_torchvision(to_mmaction2(ours)).keys() == to_torchvision(ours).keys()
    bare = to_torchvision(backbone.state_dict())
    assert 'head.weight' not in bare and len(bare) == len(ours) - 2


def test_what_torchvision_cannot_hold_is_an_error_naming_keys():
    backbone = SwinTransformer3D(**dict(TINY_SWIN, out_indices=(2, 3)))
    with pytest.raises(CheckpointMismatchError, match=r'norm2\.bias, norm2\.weight'):
        to_torchvision(backbone.state_dict())
    backbone = SwinTransformer3D(**dict(TINY_SWIN, patch_norm=False))
    with pytest.raises(CheckpointMismatchError, match='patch_norm=True'):
        to_torchvision(backbone.state_dict())
    sd = {f'backbone.{k}': v for k, v in SwinTransformer3D(**TINY_SWIN).state_dict().items()}
    sd['neck.fc.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match=r'neck\.fc\.weight'):
        to_torchvision(sd)
    tv = tiny_tv()
    tv['features.0.0.layer_scale.gamma'] = torch.zeros(16)
    tv['features.1.0.norm1.weight'] = torch.zeros(16)  # odd index: patch merging, not a stage
    with pytest.raises(CheckpointMismatchError,
                       match=r'\(2\): features\.0\.0\.layer_scale\.gamma, features\.1\.0\.norm1'):
        from_torchvision(tv)


def test_outputs_match_torchvision_on_random_weights():
    tv_video = pytest.importorskip('torchvision.models.video.swin_transformer')
    tv_model = tv_video.SwinTransformer3d(
        patch_size=list(TINY_SWIN['patch_size']), embed_dim=TINY_SWIN['embed_dim'],
        depths=list(TINY_SWIN['depths']), num_heads=list(TINY_SWIN['num_heads']),
        window_size=list(TINY_SWIN['window_size']), stochastic_depth_prob=0.0,
        num_classes=5).eval()
    ours = from_torchvision(tv_model.state_dict())
    backbone = SwinTransformer3D(**TINY_SWIN).eval()
    backbone.load_state_dict(backbone_state_dict(ours), strict=True)
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        feat = backbone(x).mean(dim=(2, 3, 4))
        logits = feat @ ours['cls_head.fc_cls.weight'].t() + ours['cls_head.fc_cls.bias']
        torch.testing.assert_close(logits, tv_model(x), atol=1e-4, rtol=1e-4)
    back = to_torchvision(ours)
    tv_model.load_state_dict(back, strict=True)
