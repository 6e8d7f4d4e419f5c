"""tools/train.py then tools/test.py on synthetic long recordings, through the CSV dataset."""
import time
from pathlib import Path

import pytest

from video_swin_plugin.datasets.synthetic import write_recordings

from .helpers import FAM_SYNTHETIC_TINY, call_tool, run_tool


@pytest.fixture(scope='module')
def recordings(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('sowsleep')
    write_recordings(root, num_recordings=4, duration_sec=16, seed=0, gap_prob=0.1,
                     ann_name='train.csv', prefix='train')
    # 18 one-second clips per recording: windows of K=4 at 0, 4, 8, 12 and a tail window at 14
    write_recordings(root, num_recordings=2, duration_sec=18, seed=1, ann_name='test.csv',
                     prefix='test')
    return root


def data_options(root: Path) -> list:
    opts = []
    for split, ann in (('train', 'train.csv'), ('val', 'test.csv'), ('test', 'test.csv')):
        opts += [f'{split}_dataloader.dataset.ann_file={root / ann}',
                 f'{split}_dataloader.dataset.data_prefix.video={root}']
    return opts


def test_train_then_test_on_long_recordings(recordings, tmp_path, capsys):
    start = time.time()
    work_dir = tmp_path / 'work'
    assert run_tool('train', [FAM_SYNTHETIC_TINY, '--work-dir', work_dir, '--seed', 0, '--cfg-options',
                              'train_cfg.max_epochs=2'] + data_options(recordings)) == 0
    checkpoint = work_dir / 'epoch_2.pth'
    assert checkpoint.is_file() and not (work_dir / 'epoch_3.pth').exists()
    trained = time.time() - start
    metrics = call_tool('test', 'test_metrics', [FAM_SYNTHETIC_TINY, checkpoint, '--work-dir',
                                                 tmp_path / 'test', '--cfg-options']
                        + data_options(recordings))
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
