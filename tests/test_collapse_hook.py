"""CollapseWarningHook through the tools: tools/test.py on a model whose head is forced constant
warns (log and stderr) naming the class, a model with varied output does not, and validation
during tools/train.py warns too."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from video_swin_plugin.apis.inference import init_recognizer
from video_swin_plugin.engine import with_collapse_warning

from .helpers import call_tool, run_tool, write_colour_dataset

COLOUR_NAMES = ['red', 'green', 'blue', 'yellow']


@pytest.fixture(scope='module')
def colour_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('colours')
    write_colour_dataset(root, 'train', per_class=1, seed=0)
    write_colour_dataset(root, 'test', per_class=3, seed=1)  # 12 clips >= min_clips
    (root / 'labels.txt').write_text('\n'.join(COLOUR_NAMES) + '\n')
    return root


def _checkpoint(training_config, path: Path, head: str) -> Path:
    """The tiny 4-class recognizer with its head ``'constant'`` (weight 0, bias favouring
    class 2) or ``'varied'`` (weights of std 1: logits follow the features)."""
    torch.manual_seed(0)
    model = init_recognizer(str(training_config))
    fc = model.cls_head.fc_cls
    with torch.no_grad():
        if head == 'constant':
            fc.weight.zero_()
            fc.bias.copy_(torch.tensor([0.0, 0.0, 2.0, 0.0]))
        else:
            fc.weight.normal_(0, 1)
            fc.bias.zero_()
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _data_options(root: Path, splits=('test', )) -> list:
    opts = [f'label_map={root / "labels.txt"}']
    for split in splits:
        ann = 'train' if split == 'train' else 'test'
        opts += [f'{split}_dataloader.dataset.ann_file={root / f"{ann}.txt"}',
                 f'{split}_dataloader.dataset.data_prefix.video={root}']
    return opts


def test_test_tool_warns_on_a_constant_head(training_config, colour_data, tmp_path, capsys):
    checkpoint = _checkpoint(training_config, tmp_path / 'constant.pth', 'constant')
    metrics = call_tool('test', 'test_metrics', [
        training_config, checkpoint, '--work-dir', tmp_path / 'work', '--cfg-options',
        *_data_options(colour_data)])
    assert metrics['acc/top1'] == pytest.approx(0.25)  # every clip 'blue', 3 of 12 right
    printed = capsys.readouterr()
    expected = "100.0% of 12 clips get the label 'blue'"
    assert f'warning: the model output looks collapsed: {expected}' in printed.err
    assert 'hardly vary across the 12 clips' in printed.err  # a zero weight: no variation
    assert f'test: the model output looks collapsed: {expected}' in printed.out  # the log


def test_test_tool_quiet_on_varied_output(training_config, colour_data, tmp_path, capsys):
    checkpoint = _checkpoint(training_config, tmp_path / 'varied.pth', 'varied')
    dump = tmp_path / 'predictions.pkl'
    call_tool('test', 'test_metrics', [training_config, checkpoint, '--work-dir',
                                       tmp_path / 'work', '--dump', dump, '--cfg-options',
                                       *_data_options(colour_data)])
    with open(dump, 'rb') as f:
        scores = np.stack([np.asarray(r['pred_scores']['item']) for r in pickle.load(f)])
    counts = np.bincount(scores.argmax(1), minlength=4)
    assert counts.max() < 12 and scores.std(0).max() > 1e-3, counts  # the premise: varied
    printed = capsys.readouterr()
    assert 'collapsed' not in printed.err and 'collapsed' not in printed.out


def test_validation_in_training_warns(training_config, colour_data, tmp_path, capsys):
    # lr 0: the constant head stays constant through one epoch; validation after it
    checkpoint = _checkpoint(training_config, tmp_path / 'constant.pth', 'constant')
    assert run_tool('train', [
        training_config, '--work-dir', tmp_path / 'work', '--cfg-options', 'max_epochs=1',
        'train_cfg.val_interval=1', 'optim_wrapper.optimizer.lr=0', f'load_from={checkpoint}',
        *_data_options(colour_data, ('train', 'val'))]) == 0
    assert ("validation: the model output looks collapsed: 100.0% of 12 clips get the label "
            "'blue'") in capsys.readouterr().out


def test_hook_added_once():
    assert with_collapse_warning(None) == [dict(type='CollapseWarningHook')]
    given = [dict(type='EMAHook'), dict(type='video_swin_plugin.CollapseWarningHook',
                                        min_std=1e-4)]
    assert with_collapse_warning(given) == given
