"""tools/classify.py and the inference API on a real video, with a tiny random model."""
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from video_swin_plugin.apis.inference import (VideoReadError, classify_video, init_recognizer,
                                              load_label_map)
from video_swin_plugin.checkpoint import CheckpointMismatchError

from .conftest import TINY_SWIN
from .tool_runner import call_tool, run_tool

REPO = Path(__file__).resolve().parents[1]
K400_TINY = REPO / 'configs/recognition/swin/swin_tiny_patch244_window877_kinetics400_1k.py'
# Swin-T K400 config shrunk: TINY_SWIN backbone, one 8-frame clip at 64 px, 2 crops per batch
TINY_OPTIONS = {
    'model.backbone.embed_dim': 16, 'model.backbone.depths': [2, 2, 2, 2],
    'model.backbone.num_heads': [1, 2, 2, 4], 'model.backbone.window_size': [4, 3, 3],
    'model.cls_head.in_channels': 128, 'model.test_cfg.max_testing_views': 2,
    'test_dataloader.dataset.pipeline.1.clip_len': 8,
    'test_dataloader.dataset.pipeline.1.num_clips': 1,
    'test_dataloader.dataset.pipeline.3.scale': (-1, 64),
    'test_dataloader.dataset.pipeline.4.crop_size': 64,
}
assert TINY_SWIN['embed_dim'] == 16 and tuple(TINY_SWIN['window_size']) == (4, 3, 3)


def cli_options() -> list:
    def fmt(v):
        if isinstance(v, (list, tuple)):
            inner = ','.join(map(str, v))
            return f'[{inner}]' if isinstance(v, list) else f'({inner})'
        return str(v)
    return ['--cfg-options'] + [f'{k}={fmt(v)}' for k, v in TINY_OPTIONS.items()]


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = init_recognizer(K400_TINY, cfg_options=dict(TINY_OPTIONS))
    path = tmp_path_factory.mktemp('ckpt') / 'tiny_k400.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def test_packaged_label_map_is_k400(shared_data):
    names = load_label_map('video_swin_plugin/data/label_map_k400.txt', 400)
    shared = (shared_data / 'labels' / 'label_map_k400.txt').read_text().split('\n')
    assert names == [n for n in shared if n]
    assert names[0] == 'abseiling' and 'arm wrestling' in names


def test_classify_cli_prints_top_k_names(shared_data, tiny_checkpoint, capsys):
    video = shared_data / 'videos' / 'demo_k400_arm_wrestling.mp4'
    argv = [K400_TINY, tiny_checkpoint, video, '--top-k', 3] + cli_options()
    top = call_tool('classify', 'classify', argv)
    out = capsys.readouterr().out
    names = load_label_map('video_swin_plugin/data/label_map_k400.txt')
    assert isinstance(top, OrderedDict) and len(top) == 3
    assert all(name in names for name in top)
    probs = list(top.values())
    assert probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)
    printed = [line.split()[:-1] for line in out.strip().splitlines()[1:]]
    assert [' '.join(p) for p in printed] == list(top)
    assert run_tool('classify', argv) == 0 and capsys.readouterr().out == out


def test_classify_api_with_custom_label_map(shared_data, tiny_checkpoint, tmp_path):
    model = init_recognizer(K400_TINY, tiny_checkpoint, cfg_options=dict(TINY_OPTIONS))
    labels = tmp_path / 'labels.txt'
    labels.write_text(''.join(f'action {i}\n' for i in range(400)))
    top = classify_video(model, shared_data / 'videos' / 'test.mp4', 400, labels)
    assert len(top) == 400 and sum(top.values()) == pytest.approx(1, abs=1e-4)
    with pytest.raises(ValueError, match='has 3 class names, the model has 400'):
        labels.write_text('a\nb\nc\n')
        classify_video(model, shared_data / 'videos' / 'test.mp4', 5, labels)


def test_bad_videos_are_named(tiny_checkpoint, tmp_path):
    model = init_recognizer(K400_TINY, tiny_checkpoint, cfg_options=dict(TINY_OPTIONS))
    missing = tmp_path / 'missing.mp4'
    with pytest.raises(VideoReadError, match=f'video not found: {missing}'):
        classify_video(model, missing)
    empty = tmp_path / 'empty.mp4'
    empty.touch()
    with pytest.raises(VideoReadError, match=f'empty \\(0 bytes\\): {empty}'):
        classify_video(model, empty)
    corrupt = tmp_path / 'corrupt.mp4'
    corrupt.write_bytes(b'\x00\x00\x00\x18ftypmp42' + bytes(range(256)) * 8)
    with pytest.raises(VideoReadError, match=f'cannot read video {corrupt}'):
        classify_video(model, corrupt)


def test_checkpoint_must_fit_strictly(tiny_checkpoint, tmp_path):
    state = torch.load(tiny_checkpoint, weights_only=True)['state_dict']
    state['backbone.norm3.weight'] = state.pop('backbone.norm.weight')  # mmaction2 1.x naming
    bad = tmp_path / 'mm.pth'
    torch.save({'state_dict': state}, bad)
    with pytest.raises(CheckpointMismatchError,
                       match='(?s)unexpected keys.*backbone.norm3.weight.*convert_checkpoint'):
        init_recognizer(K400_TINY, bad, cfg_options=dict(TINY_OPTIONS))
