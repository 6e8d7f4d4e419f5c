"""Every top-level key the tools accept through --cfg-options does what it says, or is rejected
naming the key and what to use instead: ``max_epochs`` reaches train_cfg and the schedulers (a
real 2-epoch run), Runner keys reach the Runner (caught at its constructor), ``label_map`` names
the classes, and keys a tool sets from its own arguments are errors."""
import math
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from video_swin_plugin.engine.config_check import (EXTRA_TOP_LEVEL_KEYS, RUNNER_KEYS,
                                                   UnknownConfigKeyError, merge_cfg_options)

from .helpers import run_tool, write_colour_dataset

# key -> (the --cfg-options entry, what the Runner must then receive as that argument)
REACHES_RUNNER = {
    'model': ('model.cls_head.num_classes=7', lambda v: v['cls_head']['num_classes'] == 7),
    'work_dir': ('work_dir={tmp}/w', lambda v: v.endswith('/w')),
    'train_dataloader': ('train_dataloader.batch_size=3', lambda v: v['batch_size'] == 3),
    'val_dataloader': ('val_dataloader.batch_size=3', lambda v: v['batch_size'] == 3),
    'test_dataloader': ('test_dataloader.batch_size=3', lambda v: v['batch_size'] == 3),
    'train_cfg': ('train_cfg.val_interval=7', lambda v: v['val_interval'] == 7),
    'val_cfg': ('val_cfg.fp16=True', lambda v: v['fp16'] is True),
    'test_cfg': ('test_cfg.fp16=True', lambda v: v['fp16'] is True),
    'auto_scale_lr': ('auto_scale_lr.base_batch_size=7', lambda v: v['base_batch_size'] == 7),
    'optim_wrapper': ('optim_wrapper.optimizer.lr=0.5', lambda v: v['optimizer']['lr'] == 0.5),
    'param_scheduler': ('param_scheduler.1.eta_min=0.001', lambda v: v[1]['eta_min'] == 0.001),
    'val_evaluator': ('val_evaluator.metric_list=[mean_class_accuracy]',
                      lambda v: v['metric_list'] == ['mean_class_accuracy']),
    'test_evaluator': ('test_evaluator.metric_list=[mean_class_accuracy]',
                       lambda v: v['metric_list'] == ['mean_class_accuracy']),
    'default_hooks': ('default_hooks.logger.interval=7', lambda v: v['logger']['interval'] == 7),
    'custom_hooks': ('custom_hooks=[EMAHook]', lambda v: 'EMAHook' in v),
    'data_preprocessor': ('data_preprocessor.mean=[1,2,3]', lambda v: v['mean'] == [1, 2, 3]),
    'env_cfg': ('env_cfg.cudnn_benchmark=True', lambda v: v['cudnn_benchmark'] is True),
    'log_processor': ('log_processor.window_size=7', lambda v: v['window_size'] == 7),
    'log_level': ('log_level=DEBUG', lambda v: v == 'DEBUG'),
    'visualizer': ('visualizer.name=probe', lambda v: v['name'] == 'probe'),
    'default_scope': ('default_scope=mmaction', lambda v: v == 'mmaction'),
    'randomness': ('randomness.seed=7', lambda v: v['seed'] == 7),
    'experiment_name': ('experiment_name=probe', lambda v: v == 'probe'),
    # tools/train.py only: tools/test.py sets these from its CHECKPOINT argument
    'load_from': ('load_from={tmp}/x.pth', lambda v: v.endswith('/x.pth')),
    'resume': ('resume=True', lambda v: v is True),
}
# key -> what each tool's error must name instead
REJECTED = {
    'train': {'launcher': '--launcher'},
    'test': {'launcher': '--launcher', 'load_from': 'CHECKPOINT', 'resume': '--resume'},
}
TESTED_ELSEWHERE = {'max_epochs', 'label_map'}  # the tests below


def test_every_accepted_top_level_key_is_tested():
    assert set(REACHES_RUNNER) | {'launcher'} | TESTED_ELSEWHERE == RUNNER_KEYS | \
        EXTRA_TOP_LEVEL_KEYS


class _Built(Exception):
    """Raised in place of building a Runner, carrying its arguments."""


def _runner_arguments(tool: str, config: Path, tmp: Path, option: str, monkeypatch) -> dict:
    def capture(self, **kwargs):
        raise _Built(kwargs)
    monkeypatch.setattr(Runner, '__init__', capture)
    checkpoint = tmp / 'model.pth'
    checkpoint.touch()
    argv = [config] + ([checkpoint] if tool == 'test' else []) + ['--cfg-options', option]
    with pytest.raises(_Built) as built:
        run_tool(tool, argv)
    return built.value.args[0]


@pytest.mark.parametrize('tool', ['train', 'test'])
@pytest.mark.parametrize('key', sorted(REACHES_RUNNER))
def test_runner_key_reaches_the_runner(tool, key, training_config, tmp_path, monkeypatch):
    option, check = REACHES_RUNNER[key]
    option = option.format(tmp=tmp_path)
    if key in REJECTED[tool]:
        with pytest.raises(UnknownConfigKeyError, match=f'{key}.*{REJECTED[tool][key]}'):
            run_tool(tool, [training_config, tmp_path / 'x.pth', '--cfg-options', option])
        return  # tools/test.py rejects before it looks for the checkpoint
    arguments = _runner_arguments(tool, training_config, tmp_path, option, monkeypatch)
    assert check(arguments[key]), arguments[key]


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_launcher_option_is_rejected_naming_the_flag(tool, training_config, tmp_path):
    argv = [training_config] + ([tmp_path / 'x.pth'] if tool == 'test' else [])
    with pytest.raises(UnknownConfigKeyError,
                       match=r"--cfg-options launcher: 'launcher' is set by --launcher"):
        run_tool(tool, argv + ['--cfg-options', 'launcher=pytorch'])


@pytest.mark.parametrize('key', ['load_from', 'resume', 'launcher', 'work_dir'])
def test_inference_tools_reject_runner_only_keys(key, tiny_recognizer):
    from video_swin_plugin.apis.inference import init_recognizer
    with pytest.raises(UnknownConfigKeyError, match=f"--cfg-options {key}: '{key}' is set by"):
        init_recognizer(tiny_recognizer.config, tiny_recognizer.checkpoint,
                        cfg_options={key: 'x'})


def test_label_map_names_the_classes(tiny_recognizer, tmp_path):
    from video_swin_plugin.apis.inference import _load_config, class_names
    names = [f'class {i}' for i in range(400)]
    label_map = tmp_path / 'labels.txt'
    label_map.write_text('\n'.join(names) + '\n')
    cfg = _load_config(tiny_recognizer.config, {'label_map': str(label_map)})
    assert class_names(cfg, 400) == names


# ---- max_epochs -------------------------------------------------------------------------------

def test_max_epochs_reaches_train_cfg_and_the_schedulers(training_config):
    cfg = Config.fromfile(training_config)
    assert cfg.train_cfg.max_epochs == 10  # the schedulers below end with it
    merge_cfg_options(cfg, {'max_epochs': 2})
    assert cfg.train_cfg.max_epochs == 2 and cfg.max_epochs == 2
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 1)  # the warm-up keeps its length
    assert (cosine.T_max, cosine.end) == (2, 2)
    # the loop's own key is merged as it is (mmengine's meaning: stop there, as a run cut short
    # to be resumed; tests/test_tool_train.py relies on it)
    stop = Config.fromfile(training_config)
    merge_cfg_options(stop, {'train_cfg.max_epochs': 2})
    assert stop.train_cfg.max_epochs == 2
    assert (stop.param_scheduler[1].T_max, stop.param_scheduler[1].end) == (10, 10)


def test_max_epochs_twice_is_an_error_naming_both(training_config):
    with pytest.raises(UnknownConfigKeyError, match='max_epochs and train_cfg.max_epochs'):
        run_tool('train', [training_config, '--cfg-options', 'max_epochs=2',
                           'train_cfg.max_epochs=3'])


def test_train_tool_max_epochs_runs_that_many_epochs(training_config, tmp_path, capsys):
    root = tmp_path / 'data'
    write_colour_dataset(root, 'train', per_class=2, seed=0)  # 8 clips: 2 steps an epoch
    work_dir = tmp_path / 'work'
    assert run_tool('train', [
        training_config, '--work-dir', work_dir, '--seed', 0, '--no-validate', '--cfg-options',
        'max_epochs=2', f'train_dataloader.dataset.ann_file={root / "train.txt"}',
        f'train_dataloader.dataset.data_prefix.video={root}']) == 0
    assert (work_dir / 'epoch_2.pth').is_file() and not (work_dir / 'epoch_3.pth').exists()
    state = torch.load(work_dir / 'epoch_2.pth', map_location='cpu', weights_only=True)
    assert state['meta']['epoch'] == 2
    cosine = state['param_schedulers'][1]
    assert (cosine['T_max'], cosine['end']) == (2, 2)
    # epoch 2 runs at the cosine's midpoint of 2 epochs (0.5x), not of 10 (0.98x); the warm-up
    # (one epoch, stepped per iteration) is over
    out = capsys.readouterr().out
    lr = float(re.search(r'Epoch\(train\)\s+\[2\]\[2/2\]\s+base_lr: (\S+)', out)[1])
    assert lr == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 1 / 2)), rel=1e-3)
