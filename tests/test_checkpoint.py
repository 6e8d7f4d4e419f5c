"""Checkpoint formats (checkpoint.py, models/convert.py's mmaction2 layout): official files load
strictly unconverted, mmaction2 files convert, mismatches are named, files that are not plain
tensors are explained."""
import argparse

import pytest
import torch

from video_swin_plugin.checkpoint import CheckpointMismatchError, load_weights
from video_swin_plugin.models import SwinTransformer3D
from video_swin_plugin.models.convert import (backbone_state_dict, from_mmaction2,
                                              load_backbone_weights, to_mmaction2)

from .helpers import REPO, TINY_SWIN


def _official_file(tmp_path, backbone, num_classes=400):
    """A file laid out as the official release: {'state_dict': {backbone.*, cls_head.fc_cls.*}}."""
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['cls_head.fc_cls.weight'] = torch.randn(num_classes, backbone.num_features[-1])
    state['cls_head.fc_cls.bias'] = torch.randn(num_classes)
    path = tmp_path / 'swin_official.pth'
    torch.save({'meta': {'epoch': 30}, 'state_dict': state}, path)
    return path, state


def test_official_swin_t_file_has_185_keys_and_loads_strictly_into_recognizer(tmp_path):
    from video_swin_plugin.apis.inference import init_recognizer
    official = SwinTransformer3D(arch='tiny', patch_size=(2, 4, 4), window_size=(8, 7, 7),
                                 patch_norm=True)
    path, state = _official_file(tmp_path, official)
    assert len(state) == 185  # the official Swin-T K400 file's key count
    # our Tiny K400 config, the official file as it is: strict load, no conversion
    model = init_recognizer(REPO / 'configs/recognition/swin/'
                            'swin_tiny_patch244_window877_kinetics400_1k.py', str(path))
    assert type(model.backbone) is SwinTransformer3D
    assert torch.equal(model.backbone.norm.weight, state['backbone.norm.weight'])
    assert torch.equal(model.cls_head.fc_cls.bias, state['cls_head.fc_cls.bias'])


def test_mmaction2_file_converts_and_only_then_loads(tmp_path):
    ours = SwinTransformer3D(**TINY_SWIN)
    mm_state = {f'backbone.{k}': v for k, v in to_mmaction2(ours.state_dict()).items()}
    assert 'backbone.norm3.weight' in mm_state and 'backbone.norm.weight' not in mm_state
    # the downsampling norms are not the final norm and keep their names
    assert 'backbone.layers.0.downsample.norm.weight' in mm_state
    target = SwinTransformer3D(**TINY_SWIN)
    with pytest.raises(CheckpointMismatchError) as err:
        load_backbone_weights(target, mm_state)
    assert 'missing keys (2): norm.bias, norm.weight' in str(err.value)
    assert 'unexpected keys (2): norm3.bias, norm3.weight' in str(err.value)
    load_backbone_weights(target, from_mmaction2(mm_state))
    for k, v in ours.state_dict().items():
        assert torch.equal(target.state_dict()[k], v), k
    assert from_mmaction2(to_mmaction2(ours.state_dict())).keys() == ours.state_dict().keys()


def test_misshaped_file_names_keys_and_shapes(tmp_path):
    path, _ = _official_file(tmp_path, SwinTransformer3D(**TINY_SWIN))
    wider = SwinTransformer3D(**{**TINY_SWIN, 'window_size': (2, 3, 3)})
    with pytest.raises(CheckpointMismatchError) as err:
        load_backbone_weights(wider, load_weights(str(path)), source=str(path))
    message = str(err.value)
    assert str(path) in message
    assert 'layers.0.blocks.0.attn.relative_position_bias_table: checkpoint (175, 1) vs ' \
           'model (75, 1)' in message


def test_backbone_init_weights_loads_3d_pretrained_strictly(tmp_path):
    source = SwinTransformer3D(**TINY_SWIN)
    path, _ = _official_file(tmp_path, source)
    model = SwinTransformer3D(**TINY_SWIN, pretrained=str(path), pretrained2d=False)
    model.init_weights()
    assert torch.equal(model.layers[2].blocks[1].mlp.fc2.weight,
                       source.layers[2].blocks[1].mlp.fc2.weight)
    missing = SwinTransformer3D(**TINY_SWIN, pretrained=str(tmp_path / 'nope.pth'),
                                pretrained2d=False)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        missing.init_weights()


def test_backbone_state_dict_strips_only_backbone_keys():
    state = {'backbone.a': torch.zeros(1), 'cls_head.fc_cls.weight': torch.zeros(1)}
    assert list(backbone_state_dict(state)) == ['a']
    assert list(backbone_state_dict({'a': torch.zeros(1)})) == ['a']


def test_load_weights_explains_non_tensor_files(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'args': argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(ValueError, match='objects.pth holds objects other than tensors'):
        load_weights(str(path))
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='corrupt.pth is not a readable PyTorch checkpoint'):
        load_weights(str(corrupt))
