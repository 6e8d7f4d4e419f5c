"""tools/train.py end to end on generated mp4 files (CPU): train, --resume, then tools/test.py on
what it trained, for the tiny recognizer on colour clips and the FAM model on long recordings;
its flags; bad annotations named."""
import math
import re
import time
from pathlib import Path

import pytest
import torch

from video_swin_plugin.datasets.synthetic import write_recordings
from video_swin_plugin.errors import AnnotationError

from .helpers import (COLOURS, FAM_SYNTHETIC_TINY, SWIN_T_K400, call_tool, load_tool, run_tool,
                      write_colour_dataset)


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('synthetic')
    write_colour_dataset(root, 'train', per_class=8, seed=0)
    write_colour_dataset(root, 'test', per_class=3, seed=1)
    return root


def colour_data_options(root: Path) -> list:
    return ['--cfg-options',
            f'train_dataloader.dataset.ann_file={root / "train.txt"}',
            f'train_dataloader.dataset.data_prefix.video={root}',
            f'val_dataloader.dataset.ann_file={root / "test.txt"}',
            f'val_dataloader.dataset.data_prefix.video={root}',
            f'test_dataloader.dataset.ann_file={root / "test.txt"}',
            f'test_dataloader.dataset.data_prefix.video={root}']


def test_train_resume_test(training_config, synthetic, tmp_path, capsys):
    start = time.time()
    work_dir = tmp_path / 'work'
    common = ['--work-dir', work_dir, '--seed', 0] + colour_data_options(synthetic)
    # an interrupted run: the config's schedule (10 epochs) stopped after epoch 3
    assert run_tool('train', [training_config] + common + ['train_cfg.max_epochs=3']) == 0
    assert (work_dir / 'epoch_3.pth').is_file() and not (work_dir / 'epoch_4.pth').exists()
    assert re.search(r'Epoch\(train\)\s+\[3\]', capsys.readouterr().out)

    # resume: loads epoch_3.pth (torch >= 2.6, weights_only) and trains epochs 4..10 only
    assert run_tool('train', [training_config, '--resume', work_dir / 'epoch_3.pth'] + common +
                    ['train_cfg.max_epochs=10']) == 0
    resumed = capsys.readouterr().out
    assert 'resumed epoch: 3' in resumed
    assert re.search(r'Epoch\(train\)\s+\[4\]', resumed)
    assert not re.search(r'Epoch\(train\)\s+\[[123]\]', resumed)
    # the lr schedule resumed too: epoch 4 starts on the cosine at 3/10, not on the warmup
    first_lr = float(re.search(r'Epoch\(train\)\s+\[4\]\[1/\d+\]\s+base_lr: (\S+)', resumed)[1])
    assert first_lr == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 3 / 10)), rel=1e-3)
    state = torch.load(work_dir / 'epoch_10.pth', map_location='cpu', weights_only=True)
    assert state['meta']['epoch'] == 10

    dump = tmp_path / 'predictions.pkl'
    metrics = call_tool('test', 'test_metrics', [training_config, work_dir / 'epoch_10.pth',
                                                 '--work-dir', tmp_path / 'test', '--dump', dump]
                        + colour_data_options(synthetic))
    assert dump.is_file()
    printed = capsys.readouterr().out
    assert 'acc/top1=' in printed
    chance = 1 / len(COLOURS)
    print(f'e2e: {time.time() - start:.1f} s, test top-1 {metrics["acc/top1"]:.3f} '
          f'(chance {chance:.2f})')
    assert metrics['acc/top1'] >= 0.75, metrics


def test_train_flags_only_edit_the_config(tmp_path):
    from mmengine.config import Config
    train = load_tool('train')
    config = SWIN_T_K400
    ckpt = tmp_path / 'epoch_2.pth'
    ckpt.touch()
    args = train.parse_args([str(config), '--work-dir', str(tmp_path), '--resume', str(ckpt),
                             '--amp', '--no-validate', '--auto-scale-lr', '--seed', '3',
                             '--cfg-options', 'optim_wrapper.optimizer.lr=0.5'])
    cfg = train.merge_args(Config.fromfile(config), args)
    assert (cfg.work_dir, cfg.resume, cfg.load_from) == (str(tmp_path), True, str(ckpt))
    assert cfg.val_cfg is None and cfg.val_dataloader is None and cfg.auto_scale_lr.enable
    assert cfg.randomness.seed == 3 and cfg.optim_wrapper.optimizer.lr == 0.5
    # --amp: AMP on a GPU; on CPU the config's wrapper stays (it is plain there)
    expected = 'AmpOptimWrapper' if torch.cuda.is_available() else 'AmpIfCudaOptimWrapper'
    assert cfg.optim_wrapper.type == expected
    auto = train.merge_args(Config.fromfile(config), train.parse_args([str(config), '--resume']))
    assert auto.resume is True and auto.load_from is None
    assert auto.work_dir.endswith('swin_tiny_patch244_window877_kinetics400_1k')
    amp_cfg = Config.fromfile(config)
    amp_cfg.optim_wrapper.type = 'AmpOptimWrapper'
    amp_cfg.optim_wrapper.loss_scale = 'dynamic'
    plain = train.merge_args(amp_cfg, train.parse_args([str(config)]))
    if not torch.cuda.is_available():  # mmengine's AmpOptimWrapper refuses CPUs
        assert plain.optim_wrapper.type == 'OptimWrapper'
        assert 'loss_scale' not in plain.optim_wrapper
    with pytest.raises(FileNotFoundError, match='--resume checkpoint not found'):
        train.merge_args(Config.fromfile(config),
                         train.parse_args([str(config), '--resume', str(tmp_path / 'no.pth')]))


def test_train_tool_reports_bad_annotation(training_config, synthetic, tmp_path):
    ann = tmp_path / 'bad.txt'
    ann.write_text('train/c0_0.mp4 0\ntrain/c1_0.mp4 x\n')
    options = colour_data_options(synthetic)
    options[1] = f'train_dataloader.dataset.ann_file={ann}'
    with pytest.raises(AnnotationError, match=f'{ann}:2: label'):
        run_tool('train', [training_config, '--work-dir', tmp_path / 'w'] + options)


# ---- long recordings: the FAM model on LongVideoDataset (CSV of scored intervals) ------------

@pytest.fixture(scope='module')
def recordings(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('sowsleep')
    write_recordings(root, num_recordings=4, duration_sec=16, seed=0, gap_prob=0.1,
                     ann_name='train.csv', prefix='train')
    # 18 one-second clips per recording: windows of K=4 at 0, 4, 8, 12 and a tail window at 14
    write_recordings(root, num_recordings=2, duration_sec=18, seed=1, ann_name='test.csv',
                     prefix='test')
    return root


def recording_data_options(root: Path) -> list:
    opts = []
    for split, ann in (('train', 'train.csv'), ('val', 'test.csv'), ('test', 'test.csv')):
        opts += [f'{split}_dataloader.dataset.ann_file={root / ann}',
                 f'{split}_dataloader.dataset.data_prefix.video={root}']
    return opts


def test_train_then_test_on_long_recordings(recordings, tmp_path, capsys):
    start = time.time()
    work_dir = tmp_path / 'work'
    assert run_tool('train', [FAM_SYNTHETIC_TINY, '--work-dir', work_dir, '--seed', 0,
                              '--cfg-options', 'train_cfg.max_epochs=2']
                    + recording_data_options(recordings)) == 0
    checkpoint = work_dir / 'epoch_2.pth'
    assert checkpoint.is_file() and not (work_dir / 'epoch_3.pth').exists()
    trained = time.time() - start
    metrics = call_tool('test', 'test_metrics', [FAM_SYNTHETIC_TINY, checkpoint, '--work-dir',
                                                 tmp_path / 'test', '--cfg-options']
                        + recording_data_options(recordings))
    printed = capsys.readouterr().out
    assert 'staging/kappa=' in printed
    for key in ('accuracy', 'balanced_accuracy', 'macro_f1', 'kappa'):
        assert 0.0 <= metrics[f'staging/{key}'] <= 1.0 or key == 'kappa', metrics
    cm = metrics['staging/confusion_matrix']
    # every clip of the 2 test recordings counted once (the tail window overlaps the one before)
    assert cm.shape == (3, 3) and cm.sum() == 2 * 18
    print(f'e2e long recordings: train {trained:.1f} s, total {time.time() - start:.1f} s, '
          f'test balanced accuracy {metrics["staging/balanced_accuracy"]:.3f}, '
          f'kappa {metrics["staging/kappa"]:.3f} (chance 0.333 / 0)')
