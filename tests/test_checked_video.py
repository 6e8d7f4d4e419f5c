"""Bad input names itself: annotation lines, videos, --cfg-options keys, checkpoints to convert."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from video_swin_plugin.checkpoint import CheckpointMismatchError
from video_swin_plugin.datasets.checked_video import (AnnotationError, CheckedVideoDataset,
                                                      VideoReadError)
from video_swin_plugin.engine.config_check import UnknownConfigKeyError, check_cfg_options
from video_swin_plugin.models.convert import to_mmaction2

from .helpers import SWIN_T_K400, call_tool, corrupt_mp4, run_tool, write_colour_dataset

PIPELINE = [dict(type='DecordInit'), dict(type='SampleFrames', clip_len=4, num_clips=1),
            dict(type='DecordDecode')]


@pytest.fixture(scope='module')
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('videos')
    write_colour_dataset(root, 'ok', per_class=1, seed=0)
    return root


def dataset(root: Path, lines: str, **kwargs) -> CheckedVideoDataset:
    init_default_scope('video_swin_plugin')
    ann = root / 'ann.txt'
    ann.write_text(lines)
    return CheckedVideoDataset(str(ann), PIPELINE, data_prefix=dict(video=str(root)), **kwargs)


def test_good_annotations_load(videos):
    data = dataset(videos, 'ok/c0_0.mp4 0\n\nok/c1_0.mp4 1\n')
    assert [data.get_data_info(i)['label'] for i in range(len(data))] == [0, 1]
    assert data[1]['imgs'][0].shape == (32, 32, 3)


@pytest.mark.parametrize('lines,message', [
    ('ok/c0_0.mp4 0\nok/c1_0.mp4 one\n', r"ann.txt:2: label 'one' is not an integer"),
    ('ok/c0_0.mp4 0\nok/c1_0.mp4\n', r'ann.txt:2: expected "<video> <label>".*too few fields'),
    ('ok/c0_0.mp4 0 1\n', r'ann.txt:1: .*too many fields'),
])
def test_bad_annotation_line_names_file_and_line(videos, lines, message):
    with pytest.raises(AnnotationError, match=message):
        dataset(videos, lines)


def test_missing_and_empty_videos_named(videos):
    with pytest.raises(FileNotFoundError, match=r'ann.txt:2: video not found: .*ok/nope.mp4'):
        dataset(videos, 'ok/c0_0.mp4 0\nok/nope.mp4 1\n')
    (videos / 'empty.mp4').touch()
    with pytest.raises(VideoReadError, match=r'ann.txt:1: video is empty \(0 bytes\): .*empty'):
        dataset(videos, 'empty.mp4 0\n')


def test_corrupt_video_named_when_loaded(videos):
    corrupt_mp4(videos / 'corrupt.mp4')
    data = dataset(videos, 'corrupt.mp4 0\n')
    with pytest.raises(VideoReadError, match=r'cannot read video .*corrupt.mp4'):
        data[0]


@pytest.mark.parametrize('key,named', [
    ('model.backbone.embed_dims', "'model.backbone.embed_dims'.*SwinTransformer3D takes no"),
    ('lod_from', "'lod_from'.*top level"),
    ('model.cls_head.dropout', "'model.cls_head.dropout'.*I3DHead takes no argument 'dropout'"),
    ('test_dataloader.dataset.pipeline.12.clip_len', "pipeline.12.clip_len'.*list of 7"),
    ('optim_wrapper.optimizer.lr.x', "'optim_wrapper.optimizer.lr.x'.*is a float"),
])
def test_unknown_cfg_options_key_named(key, named):
    cfg = Config.fromfile(SWIN_T_K400)
    with pytest.raises(UnknownConfigKeyError, match=named):
        check_cfg_options(cfg, {key: 1})


def test_known_and_addable_cfg_options_pass():
    cfg = Config.fromfile(SWIN_T_K400)
    check_cfg_options(cfg, {
        'model.backbone.use_checkpoint': True,  # an argument the config does not set
        'model.backbone.embed_dim': 16, 'load_from': 'x.pth', 'randomness.seed': 0,
        'train_dataloader.pin_memory': True, 'test_dataloader.dataset.pipeline.1.num_clips': 1,
        'optim_wrapper.paramwise_cfg.custom_keys_rule': 'product', 'work_dir': 'w'})


def test_tools_reject_unknown_cfg_options_key(tmp_path):
    with pytest.raises(UnknownConfigKeyError, match='model.backbone.embed_dims'):
        run_tool('train', [SWIN_T_K400, '--work-dir', tmp_path, '--cfg-options',
                           'model.backbone.embed_dims=16'])
    with pytest.raises(UnknownConfigKeyError, match='model.backbone.embed_dims'):
        run_tool('test', [SWIN_T_K400, tmp_path / 'x.pth', '--cfg-options',
                          'model.backbone.embed_dims=16'])


# --- tools/convert_checkpoint.py ---

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
