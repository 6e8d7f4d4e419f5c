"""tools/convert_checkpoint.py: mmaction2, 2D (original and timm) and torchvision files
converted for a config and loaded strictly; what does not fit is named."""
import pytest
import torch

from video_swin_plugin.checkpoint import CheckpointMismatchError
from video_swin_plugin.models.backbones.swin3d import SwinTransformer3D
from video_swin_plugin.models.convert import from_torchvision, inflate_2d_swin, to_mmaction2

from .helpers import TINY_SWIN, call_tool, load_tool, run_tool, swin2d, tiny_tv, to_timm
@pytest.fixture(scope='module')
def tiny_state(tiny_recognizer) -> dict:
    return tiny_recognizer.model.state_dict()


def test_convert_mmaction2_file_then_load_strictly(tiny_recognizer, tiny_state, tmp_path):
    src = tmp_path / 'mm.pth'
    torch.save({'meta': {}, 'state_dict': {f'module.{k}': v
                                           for k, v in to_mmaction2(tiny_state).items()}}, src)
    dst = tmp_path / 'out' / 'ours.pth'
    layout = call_tool('convert_checkpoint', 'convert_file',
                       [src, dst, '--config', tiny_recognizer.config])
    assert layout == 'mmaction2'
    out = torch.load(dst, weights_only=True)['state_dict']
    assert out.keys() == tiny_state.keys()
    assert all(torch.equal(out[k], tiny_state[k]) for k in out)
    with pytest.raises(FileExistsError, match='--force'):
        run_tool('convert_checkpoint', [src, dst])
    assert call_tool('convert_checkpoint', 'convert_file',
                     [dst, tmp_path / 'again.pth']) == 'official'


def test_convert_names_what_does_not_fit(tiny_recognizer, tiny_state, tmp_path):
    src = tmp_path / 'official.pth'
    torch.save({'state_dict': tiny_state}, src)
    options = ['--cfg-options', 'model.cls_head.num_classes=10']
    with pytest.raises(CheckpointMismatchError, match=r'cls_head.fc_cls.weight: checkpoint '
                       r'\(400, 128\) vs model \(10, 128\)'):
        run_tool('convert_checkpoint', [src, tmp_path / 'o.pth', '--config', tiny_recognizer.config]
                 + options)
    not_swin = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(1)}, not_swin)
    with pytest.raises(ValueError, match='resnet.pth does not look like a Video Swin checkpoint'):
        run_tool('convert_checkpoint', [not_swin, tmp_path / 'o.pth'])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        run_tool('convert_checkpoint', [tmp_path / 'missing.pth', tmp_path / 'o.pth'])


def test_convert_tool_inflates_a_2d_file_for_a_config(tiny_recognizer, tmp_path):
    config = tiny_recognizer.config  # a recognizer with a TINY_SWIN backbone
    sd, _ = swin2d()
    src, dst = tmp_path / 'swin2d.pth', tmp_path / 'inflated.pth'
    torch.save({'model': to_timm(sd)}, src)
    tool = load_tool('convert_checkpoint')
    with pytest.raises(ValueError, match='2D .*needs --config'):
        tool.main([str(src), str(dst)])
    assert tool.convert_file(tool.parse_args([str(src), str(dst), '--config', str(config)])) \
        == 'swin2d'
    out = torch.load(dst, weights_only=True)['state_dict']
    expected = inflate_2d_swin(sd, SwinTransformer3D(**TINY_SWIN))
    assert out.keys() == expected.keys()
    assert all(torch.equal(out[k], expected[k]) for k in out)
    # the written file is a 3D backbone checkpoint: pretrained2d=False loads it strictly
    backbone = SwinTransformer3D(**TINY_SWIN, pretrained=str(dst), pretrained2d=False)
    backbone.init_weights()
    assert torch.equal(backbone.state_dict()['patch_embed.proj.weight'],
                       expected['patch_embed.proj.weight'])


def test_convert_tool_both_ways(tmp_path):
    tool = load_tool('convert_checkpoint')
    tv = tiny_tv()
    src, ours, back = tmp_path / 'tv.pth', tmp_path / 'ours.pth', tmp_path / 'back.pth'
    torch.save(tv, src)
    assert tool.convert_file(tool.parse_args([str(src), str(ours)])) == 'torchvision'
    converted = torch.load(ours, weights_only=True)['state_dict']
    assert converted.keys() == from_torchvision(tv).keys()
    assert tool.convert_file(tool.parse_args([str(ours), str(back), '--to', 'torchvision'])) \
        == 'official'
    again = torch.load(back, weights_only=True)
    assert again.keys() == tv.keys() and all(torch.equal(again[k], tv[k]) for k in tv)
