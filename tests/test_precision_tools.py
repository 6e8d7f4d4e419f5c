"""--dtype on the model tools: stream_infer, classify, extract_feat and test (through the
Runner); each prints its choice and gives what fp32 gives, within a reduced precision's error."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from video_swin_plugin.apis.inference import init_recognizer
from video_swin_plugin.precision import choose_precision

from .helpers import (call_tool, run_tool, synthetic_training_config, tiny_recognizer_config,
                      tiny_stream_config as tiny_config, write_colour_dataset, write_stage_video)



def _perturbed(model):
    """Weights off their identity-like init, so every layer matters."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('precision_tools')
    torch.manual_seed(0)
    stream_cfg = root / 'tiny_stream.py'
    tiny_config().dump(str(stream_cfg))
    stream_ckpt = root / 'tiny_stream.pth'
    torch.save({'state_dict': _perturbed(init_recognizer(tiny_config())).state_dict()},
               stream_ckpt)
    k400_cfg = root / 'tiny_k400.py'  # 2 clips x 3 crops of 8 x 64 x 64
    tiny_recognizer_config().dump(str(k400_cfg))
    k400_ckpt = root / 'tiny_k400.pth'
    torch.save({'state_dict': _perturbed(init_recognizer(str(k400_cfg))).state_dict()},
               k400_ckpt)
    training_cfg = root / 'tiny_training.py'
    synthetic_training_config().dump(str(training_cfg))
    video = write_stage_video(root / 'night.mp4', [0, 1, 2, 1, 0], fps=8)
    return dict(root=root, stream_cfg=stream_cfg, stream_ckpt=stream_ckpt, k400_cfg=k400_cfg,
                k400_ckpt=k400_ckpt, training_cfg=training_cfg, video=video)


def test_stream_infer_dtype(files, tmp_path, capsys):
    for name in ('int8', 'bf16', 'auto'):
        out = tmp_path / name
        assert run_tool('stream_infer', [files['stream_cfg'], files['stream_ckpt'],
                                         files['video'], '--out-dir', out, '--dtype', name,
                                         '--no-progress', '--smooth', 1]) == 0
        err = capsys.readouterr().err
        expected = choose_precision(name, 'cpu')
        assert f'precision: {expected}\n' in err, err
        assert (out / 'night.csv').is_file()
    if expected.name == 'fp32':
        assert 'auto: the CPU has no avx512_bf16 or amx_bf16' in str(expected)
    with pytest.raises(SystemExit):  # argparse: not a choice
        run_tool('stream_infer', [files['stream_cfg'], files['stream_ckpt'], files['video'],
                                  '--out-dir', tmp_path / 'x', '--dtype', 'fp64'])
    assert "invalid choice: 'fp64'" in capsys.readouterr().err


def test_classify_dtype(files, capsys):
    argv = [files['k400_cfg'], files['k400_ckpt'], files['video'], '--top-k', 400]
    fp32 = call_tool('classify', 'classify', argv + ['--dtype', 'fp32'])
    assert 'precision: fp32\n' in capsys.readouterr().err
    for name, tolerance in (('bf16', 0.01), ('int8', 0.01)):
        top = call_tool('classify', 'classify', argv + ['--dtype', name])
        assert f'precision: {name}\n' in capsys.readouterr().err
        assert top.keys() == fp32.keys()
        diff = max(abs(top[k] - fp32[k]) for k in fp32)
        assert 0 < diff < tolerance, (name, diff)


@pytest.mark.parametrize('mode', [[], ['--per-clip', '--clip-len', 8], ['--stage', 2]])
def test_extract_feat_dtype(files, tmp_path, capsys, mode):
    feats = {}
    for name in ('fp32', 'bf16', 'int8'):
        out = tmp_path / name
        assert run_tool('extract_feat', [files['k400_cfg'], files['k400_ckpt'],
                                         files['video'], '--out', out, '--dtype', name]
                        + mode) == 0
        assert f'precision: {name}\n' in capsys.readouterr().err
        feats[name] = np.load(str(out) + '.npy')
        assert feats[name].dtype == np.float32
    scale = np.abs(feats['fp32']).max()
    for name in ('bf16', 'int8'):
        assert feats[name].shape == feats['fp32'].shape and len(feats[name])
        rel = np.abs(feats[name] - feats['fp32']).max() / scale
        assert 0 < rel < 0.05, (name, rel)


def _scores(dump: Path) -> np.ndarray:
    with open(dump, 'rb') as f:
        results = pickle.load(f)
    return np.stack([np.asarray(r['pred_score'] if 'pred_score' in r else r['pred_scores']['item'])
                     for r in results])


def test_test_tool_dtype_through_the_runner(files, tmp_path, capsys):
    write_colour_dataset(files['root'], 'test', per_class=1, seed=1)
    torch.manual_seed(0)
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': _perturbed(init_recognizer(str(files['training_cfg']))).state_dict()}, ckpt)
    data = ['--cfg-options', f'test_dataloader.dataset.ann_file={files["root"] / "test.txt"}',
            f'test_dataloader.dataset.data_prefix.video={files["root"]}']
    scores = {}
    for name in ('fp32', 'bf16', 'int8', None):  # None: the default
        dump = tmp_path / f'{name}.pkl'
        argv = [files['training_cfg'], ckpt, '--work-dir', tmp_path / 'work', '--dump', dump] + data
        metrics = call_tool('test', 'test_metrics', argv + (['--dtype', name] if name else []))
        assert 'acc/top1' in metrics
        assert f'precision: {name or "fp32"}\n' in capsys.readouterr().err
        scores[name] = _scores(dump)
    assert np.array_equal(scores[None], scores['fp32'])  # fp32 unless asked
    for name in ('bf16', 'int8'):
        diff = np.abs(scores[name] - scores['fp32']).max()
        assert 0 < diff < 0.01, (name, diff)
        assert (scores[name].argmax(1) == scores['fp32'].argmax(1)).mean() >= 0.75
