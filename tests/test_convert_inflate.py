"""ImageNet 2D Swin -> 3D inflation (models/convert.py: original release and timm layouts),
directly and through the backbone's and the recognizer's pretrained2d."""
import pytest
import torch
import torch.nn.functional as F

from video_swin_plugin.checkpoint import CheckpointMismatchError
from video_swin_plugin.models.backbones.swin3d import SwinTransformer3D
from video_swin_plugin.models.convert import detect_2d_layout, inflate_2d_swin

from .helpers import TINY_SWIN, swin2d, tiny_recognizer_config, to_timm


def test_layouts_are_detected():
    sd, _ = swin2d()
    assert detect_2d_layout(sd) == 'original'
    assert detect_2d_layout(to_timm(sd)) == 'timm'
    with pytest.raises(CheckpointMismatchError, match='patch_embed.proj.weight'):
        detect_2d_layout({'stages.0.weight': torch.zeros(1)})


@pytest.mark.parametrize('layout', ['original', 'timm'])
def test_static_video_gives_the_2d_features_at_every_time_step(layout):
    # The original's inflation is built so that a video of one repeated frame reproduces the
    # 2D network: patch weights split over time, bias repeated for every temporal offset.
    sd, model2d = swin2d()
    if layout == 'timm':
        sd = to_timm(sd)
    model3d = SwinTransformer3D(**TINY_SWIN).eval()  # patch (2,4,4), window (4,3,3)
    model3d.load_state_dict(inflate_2d_swin(sd, model3d), strict=True)
    frame = torch.randn(1, 3, 1, 48, 48)
    with torch.no_grad():
        out2d = model2d(frame)  # 1, C, 1, h, w
        # 16 frames -> 8 temporal tokens, more than Wd=4, so temporal shifts and masks run
        out3d = model3d(frame.expand(-1, -1, 16, -1, -1))
    assert out3d.shape[2] == 8
    torch.testing.assert_close(out3d, out2d.expand_as(out3d), atol=2e-5, rtol=1e-4)


def test_original_and_timm_layouts_inflate_to_the_same_tensors():
    sd, _ = swin2d()
    backbone = SwinTransformer3D(**TINY_SWIN)
    a, b = inflate_2d_swin(sd, backbone), inflate_2d_swin(to_timm(sd), backbone)
    assert a.keys() == b.keys() == backbone.state_dict().keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the 2D merging of stage 0 is ours at stage 0 (timm calls it layers.1.downsample)
    assert torch.equal(a['layers.0.downsample.reduction.weight'],
                       sd['layers.0.downsample.reduction.weight'])


def test_patch_embedding_is_split_evenly_over_time():
    sd, _ = swin2d()
    backbone = SwinTransformer3D(**dict(TINY_SWIN, patch_size=(3, 4, 4)))
    w = inflate_2d_swin(sd, backbone)['patch_embed.proj.weight']
    assert w.shape == (16, 3, 3, 4, 4)
    for t in range(3):
        torch.testing.assert_close(w[:, :, t], sd['patch_embed.proj.weight'] / 3)


def test_table_is_resized_bicubically_then_repeated_over_temporal_offsets():
    # 2D window 5 (9 x 9 table) into a non-square 3D window (2, 3, 5) (3 x 5 x 9 table)
    sd, _ = swin2d(window_size=(1, 5, 5))
    key = 'layers.1.blocks.0.attn.relative_position_bias_table'
    heads = sd[key].shape[1]
    ramp = torch.arange(9.).view(9, 1, 1).expand(9, 9, heads)  # varies with h offset only
    sd[key] = ramp.reshape(81, heads).clone()
    backbone = SwinTransformer3D(**dict(TINY_SWIN, window_size=(2, 3, 5)))
    out = inflate_2d_swin(sd, backbone)
    table = out[key].view(3, 5, 9, heads)  # temporal offset, h offset, w offset, head
    for d in range(3):
        assert torch.equal(table[d], table[0])
    assert torch.allclose(table, table[:, :, :1].expand_as(table))  # still constant along w
    assert (table[0, 1:, 0] > table[0, :-1, 0]).all()  # still rising along h, not along w
    expected = F.interpolate(sd[key].t().reshape(1, heads, 9, 9), size=(5, 9), mode='bicubic')
    torch.testing.assert_close(table[0], expected[0].permute(1, 2, 0))
    # a window equal to the 2D one is copied, not interpolated
    same = inflate_2d_swin(sd, SwinTransformer3D(**dict(TINY_SWIN, window_size=(2, 5, 5))))
    assert torch.equal(same[key][:81], sd[key])


def test_buffers_and_classifier_are_dropped_and_index_is_ours():
    sd, _ = swin2d()
    backbone = SwinTransformer3D(**TINY_SWIN)
    out = inflate_2d_swin(sd, backbone)
    assert not any(k.startswith('head') or 'attn_mask' in k for k in out)
    k = 'layers.2.blocks.1.attn.relative_position_index'
    assert torch.equal(out[k], backbone.state_dict()[k])
    assert torch.equal(out['norm.weight'], sd['norm.weight'])  # the final norm is mapped


def test_intermediate_output_norms_stay_initial():
    sd, _ = swin2d()
    backbone = SwinTransformer3D(**dict(TINY_SWIN, out_indices=(1, 3)))
    out = inflate_2d_swin(sd, backbone)
    assert torch.equal(out['norm1.weight'], torch.ones(32))
    backbone.load_state_dict(out, strict=True)
    # without stage 3 among the outputs the 2D final norm has nowhere to go and is dropped
    out = inflate_2d_swin(sd, SwinTransformer3D(**dict(TINY_SWIN, out_indices=(2, ))))
    assert 'norm.weight' not in out and 'norm2.weight' in out


def test_head_count_mismatch_is_an_error_naming_the_key():
    sd, _ = swin2d(num_heads=(1, 2, 2, 2))
    with pytest.raises(CheckpointMismatchError,
                       match=r'layers\.3\.blocks\.0\.attn\.relative_position_bias_table: 2D '
                       r'table has 2 heads, the backbone 4'):
        inflate_2d_swin(sd, SwinTransformer3D(**TINY_SWIN))


def test_dimension_and_depth_mismatches_are_errors_naming_keys():
    sd, _ = swin2d(embed_dim=24, num_heads=(1, 2, 2, 4))
    with pytest.raises(CheckpointMismatchError) as e:
        inflate_2d_swin(sd, SwinTransformer3D(**TINY_SWIN))
    assert 'patch_embed.proj.weight: 2D (24, 3, 4, 4), expected (16, 3, 4, 4)' in str(e.value)
    assert 'layers.0.blocks.0.attn.qkv.weight: inflated (72, 24) vs backbone (48, 16)' in str(
        e.value)
    sd, _ = swin2d(depths=(2, 2, 4, 2))
    with pytest.raises(CheckpointMismatchError, match=r'not in the 3D backbone \(26\): '
                       r'layers\.2\.blocks\.2\.attn\.proj\.bias'):
        inflate_2d_swin(sd, SwinTransformer3D(**TINY_SWIN))
    sd, _ = swin2d()
    with pytest.raises(CheckpointMismatchError, match=r'missing from the 2D checkpoint \(26\)'):
        inflate_2d_swin(sd, SwinTransformer3D(**dict(TINY_SWIN, depths=(2, 2, 4, 2))))
    sd, _ = swin2d(patch_size=(1, 2, 2))
    with pytest.raises(CheckpointMismatchError, match=r'patch H, patch W'):
        inflate_2d_swin(sd, SwinTransformer3D(**TINY_SWIN))


def test_pretrained2d_path_of_the_backbone(tmp_path):
    sd, _ = swin2d()
    path = tmp_path / 'swin_tiny2d.pth'
    torch.save({'model': to_timm(sd)}, path)
    backbone = SwinTransformer3D(**TINY_SWIN, pretrained=str(path), pretrained2d=True)
    backbone.init_weights()
    expected = inflate_2d_swin(sd, backbone)
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, expected[k]), k
    # a 2D file read as a 3D checkpoint is refused with the offending key named
    with pytest.raises(CheckpointMismatchError, match='patch_embed.proj.weight'):
        SwinTransformer3D(**TINY_SWIN, pretrained=str(path), pretrained2d=False).init_weights()


def test_config_pretrained2d_is_inflated_when_the_recognizer_initializes(tmp_path):
    # what tools/train.py does: the Runner calls model.init_weights() before training
    from mmengine.registry import init_default_scope

    from video_swin_plugin.registry import MODELS
    sd, _ = swin2d()
    path = tmp_path / 'swin2d.pth'
    torch.save({'model': sd}, path)
    cfg = tiny_recognizer_config()
    cfg.model.backbone.update(pretrained=str(path), pretrained2d=True)
    init_default_scope('video_swin_plugin')
    model = MODELS.build(cfg.model)
    model.init_weights()
    expected = inflate_2d_swin(sd, model.backbone)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, expected[k]), k
