"""The console commands' runner (entry_points): a tool run by a config name, a missing mmcv
named, each command's tool."""
import numpy as np
import pytest
import torch

from video_swin_plugin import entry_points
from video_swin_plugin.apis.inference import init_recognizer

from .helpers import SWIN_MODELS, TINY_OPTIONS, cfg_options_argv, write_video


def test_classify_command_with_a_config_name(tmp_path, capsys):
    torch.manual_seed(0)
    name = SWIN_MODELS[0]
    model = init_recognizer(name, cfg_options=dict(TINY_OPTIONS))
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    video = tmp_path / 'clip.mp4'
    write_video(video, np.random.default_rng(0).integers(0, 255, (24, 64, 80, 3), np.uint8))
    argv = [name, str(checkpoint), str(video), '--top-k', '2'] + cfg_options_argv(TINY_OPTIONS)
    assert entry_points.run_tool('classify', argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f'top-2 for {video}:' and len(lines) == 3

    assert entry_points.run_tool('classify', ['no_such_config', str(checkpoint), str(video)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: config file not found: no_such_config')


def test_missing_mmcv_is_named(monkeypatch, capsys):
    real = entry_points.importlib.util.find_spec
    monkeypatch.setattr(entry_points.importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'mmcv' else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'mmcv-lite>=2.0.0rc4,<2.1.0'.*"
                       r"mim install 'mmcv>=2.0.0rc4,<2.1.0'"):
        entry_points.check_mmcv()
    assert entry_points.run_tool('classify', ['x', 'y', 'z']) == 2
    assert capsys.readouterr().err.startswith('error: mmaction2 needs mmcv')


def test_each_command_runs_its_tool(monkeypatch, capsys):
    for tool in ('stream_infer', 'classify', 'download_checkpoint'):
        assert callable(entry_points.load_tool(tool).main)
    monkeypatch.setattr('sys.argv', ['vsp-download', 'no_such_model'])
    with pytest.raises(SystemExit) as exit_info:
        entry_points.download()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: unknown model 'no_such_model'")
