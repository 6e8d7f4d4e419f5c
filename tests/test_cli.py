"""video_swin_plugin.cli and the tools' command lines: bad input ends in one ``error:`` line and
exit status 2 (missing config, missing checkpoint, bad option value, run as real commands); a
bug keeps its traceback; the model-building tools share --device and --cfg-options."""
import csv
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from video_swin_plugin import cli
from video_swin_plugin.errors import (CheckpointMismatchError, UnknownConfigKeyError, UsageError,
                                      VideoReadError)

from .helpers import REPO, load_tool, run_command, write_stage_video

MODEL_TOOLS = ('classify', 'stream_infer', 'extract_feat', 'export_onnx', 'demo_sleep')


@pytest.fixture(scope='module')
def files(tmp_path_factory, tiny_recognizer, stream_model) -> dict:
    """The tiny recognizer and the tiny streaming model (configs and weights), a 3-s video, and
    paths that do not exist."""
    root = tmp_path_factory.mktemp('cli')
    return dict(root=root, config=tiny_recognizer.config, checkpoint=tiny_recognizer.checkpoint,
                stream_config=stream_model.config, stream_checkpoint=stream_model.checkpoint,
                video=write_stage_video(root / 'night.mp4', [0, 1, 2]),
                no_config=root / 'missing_config.py', no_checkpoint=root / 'missing.pth')


def bad_input_cases(f: dict) -> dict:
    """``{case: (tool, argv, what the error line must say)}``."""
    r = f['root']
    no_cfg, no_ckpt = f['no_config'], f['no_checkpoint']
    missing_cfg = f'config file not found: {no_cfg}'
    missing_ckpt = f'checkpoint file not found: {no_ckpt}'
    cases = {}

    def three(tool, argv, option_argv, option_error):
        """``argv(config, checkpoint)``: the tool's arguments."""
        cases[f'{tool}-config'] = (tool, argv(no_cfg, f['checkpoint']), missing_cfg)
        cases[f'{tool}-checkpoint'] = (tool, argv(f['config'], no_ckpt), missing_ckpt)
        cases[f'{tool}-option'] = (tool, argv(f['config'], f['checkpoint']) + option_argv,
                                   option_error)

    three('classify', lambda c, k: [c, k, f['video']], ['--top-k', '0'],
          '--top-k must be at least 1, got 0')
    three('extract_feat', lambda c, k: [c, k, f['video'], '--out', r / 'feats'],
          ['--per-clip', '--clip-len', '0'], '--clip-len must be at least 1, got 0')
    three('export_onnx', lambda c, k: [c, k, '--out', r / 'm.onnx'],
          ['--shape', '1', '3', '0', '32', '32'], '--shape T must be at least 1, got 0')
    three('test', lambda c, k: [c, k, '--work-dir', r / 'test'], ['--dump', 'preds.json'],
          '--dump must name a .pkl file, got preds.json')
    three('convert_checkpoint', lambda c, k: [k, r / 'converted.pth', '--config', c],
          ['--cfg-options', 'model.backbone.embed_dims=8'],
          "unknown key path 'model.backbone.embed_dims'")
    # train has no checkpoint argument: --resume names one
    train = ['--work-dir', r / 'train']
    cases['train-config'] = ('train', [no_cfg] + train, missing_cfg)
    cases['train-checkpoint'] = ('train', [f['config']] + train + ['--resume', no_ckpt],
                                 f'--resume checkpoint not found: {no_ckpt}')
    cases['train-option'] = ('train', [f['config']] + train + [
        '--cfg-options', 'model.backbone.embed_dims=16'],
        "unknown key path 'model.backbone.embed_dims'")
    # the streaming tools run the recurrent model
    f = dict(f, config=f['stream_config'], checkpoint=f['stream_checkpoint'])
    three('stream_infer', lambda c, k: [c, k, f['video'], '--out-dir', r / 'staged'],
          ['--max-clips', '0'], '--max-clips must be at least 1, got 0')
    return cases


CASE_IDS = [f'{tool}-{kind}' for tool in ('classify', 'extract_feat', 'export_onnx', 'test',
                                          'convert_checkpoint', 'stream_infer', 'train')
            for kind in ('config', 'checkpoint', 'option')]


@pytest.fixture(scope='module')
def finished(files) -> dict:
    """Every bad-input command run to its end (three at a time: each is mostly imports)."""
    cases = bad_input_cases(files)
    assert sorted(cases) == sorted(CASE_IDS)
    with ThreadPoolExecutor(3) as pool:
        procs = {case: pool.submit(run_command, tool, argv, 120)
                 for case, (tool, argv, _) in cases.items()}
    return {case: (proc.result(), cases[case][2]) for case, proc in procs.items()}


@pytest.mark.parametrize('case', CASE_IDS)
def test_bad_input_is_one_error_line_and_status_2(finished, case):
    proc, expected = finished[case]
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1 and expected in errors[0], proc.stderr[-3000:]


def test_converter_writes_nothing_on_bad_input(finished, files):
    assert not (files['root'] / 'converted.pth').exists()


@pytest.mark.parametrize('name,argv,expected', [
    ('demo_sleep', ['--config', '{no_config}', '--checkpoint', '{stream_checkpoint}'],
     'config file not found: {no_config}'),
    ('demo_sleep', ['--config', '{stream_config}', '--checkpoint', '{no_checkpoint}'],
     'checkpoint file not found: {no_checkpoint}'),
    ('demo_sleep', ['--minutes', '0'], '--minutes must be positive, got 0.0'),
    ('train_demo_model', ['--epochs', '0'], '--epochs must be at least 1, got 0'),
    ('train_demo_model', ['--threads', '0'], '--threads must be at least 1, got 0'),
])
def test_demo_tools_bad_input(files, name, argv, expected, capsys):
    """The demo tools in this process (their command-line ending is the same ``cli.run``). The
    demo checks its config and weights before it writes the synthetic night."""
    out = files['root'] / name
    argv = [a.format(**files) for a in argv] + ['--out-dir' if name == 'demo_sleep' else
                                                '--work-dir', str(out)]
    assert cli.run(load_tool(name).main, argv) == 2
    err = capsys.readouterr().err  # one line; a config name also says where it was looked for
    assert err.startswith(f'error: {expected.format(**files)}') and err.count('\n') == 1, err
    assert not out.exists()


def test_unknown_cfg_options_key_in_a_model_tool(files, capsys):
    tool = load_tool('stream_infer')
    argv = [files['stream_config'], files['stream_checkpoint'], files['video'], '--out-dir',
            files['root'] / 'unknown', '--cfg-options', 'model.neck.embed_dim=8']
    assert cli.run(tool.main, list(map(str, argv))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown key path 'model.neck.embed_dim'")
    assert 'FAMNeck takes no argument' in err[0]


def test_stream_infer_takes_cfg_options(files, tmp_path):
    """--cfg-options reaches the streaming classifier: renamed classes name the CSV columns."""
    tool = load_tool('stream_infer')
    out = tmp_path / 'staged'
    rc = tool.main(list(map(str, [files['stream_config'], files['stream_checkpoint'],
                                  files['video'], '--out-dir', out, '--no-progress', '--device',
                                  'cpu', '--cfg-options', 'classes=[w,n,r]'])))
    assert rc == 0
    with open(out / 'night.csv') as f:
        header = next(csv.reader(f))
    assert [c for c in header if c.startswith('p_')] == ['p_w', 'p_n', 'p_r']


@pytest.mark.parametrize('name', MODEL_TOOLS)
def test_model_tools_share_device_and_cfg_options(files, name):
    tool = load_tool(name)
    argv = {'classify': ['c.py', 'k.pth', 'v.mp4'], 'stream_infer': ['c.py', 'k.pth', 'v.mp4',
                                                                      '--out-dir', 'o'],
            'extract_feat': ['c.py', 'k.pth', 'v.mp4', '--out', 'o'],
            'export_onnx': ['c.py', 'k.pth', '--out', 'o.onnx'], 'demo_sleep': []}[name]
    args = tool.parse_args(argv + ['--cfg-options', 'a.b=1', 'c=[1,2]'])
    assert args.device == cli.default_device() == ('cuda' if torch.cuda.is_available() else 'cpu')
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2]}
    assert tool.parse_args(argv + ['--device', 'cpu']).device == 'cpu'
    with pytest.raises(UsageError, match="--device 'gpu0' is not a device"):
        tool.parse_args(argv + ['--device', 'gpu0'])


@pytest.mark.parametrize('name', ['train', 'test', 'convert_checkpoint'])
def test_runner_and_convert_tools_take_cfg_options(name):
    argv = {'train': ['c.py'], 'test': ['c.py', 'k.pth'], 'convert_checkpoint': ['a', 'b']}[name]
    args = load_tool(name).parse_args(argv + ['--cfg-options', 'a.b=1'])
    assert args.cfg_options == {'a.b': 1}


def test_argparse_usage_errors_keep_status_2(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.run(load_tool('classify').main, ['only_a_config.py'])
    assert stop.value.code == 2
    assert 'error: the following arguments are required' in capsys.readouterr().err


@pytest.mark.parametrize('error', [
    UsageError('--top-k must be at least 1, got 0'),
    FileNotFoundError('config file not found: x.py'),
    FileExistsError('o.pth exists; pass --force to overwrite it'),
    PermissionError(13, 'Permission denied', 'out/x.csv'),
    VideoReadError('cannot read video a.mp4: broken'),
])
def test_user_errors_print_one_line_and_return_2(error, capsys):
    def main(argv):
        raise error
    assert cli.run(main, []) == 2
    out, err = capsys.readouterr()
    assert out == '' and err == f'error: {error}\n'


def test_multi_line_messages_become_one_line(capsys):
    def main(argv):
        raise CheckpointMismatchError('tiny.pth does not fit Recognizer3D:\n  missing keys (1): '
                                      'a\n  unexpected keys (1): b')
    assert cli.run(main) == 2
    assert capsys.readouterr().err == ('error: tiny.pth does not fit Recognizer3D: missing keys '
                                       '(1): a; unexpected keys (1): b\n')
    assert cli.error_line(UnknownConfigKeyError("unknown key path 'x'")) == \
        "error: unknown key path 'x'"  # a KeyError, printed without KeyError's quotes


@pytest.mark.parametrize('bug', [RuntimeError('boom'), ValueError('not a PluginError'),
                                 KeyError('internal')])
def test_unexpected_errors_propagate(files, bug, monkeypatch, capsys):
    """A bug in the work a tool does is not dressed up as bad input: it propagates."""
    tool = load_tool('classify')

    def broken(*args, **kwargs):
        raise bug
    monkeypatch.setattr(tool, 'init_recognizer', broken)
    with pytest.raises(type(bug)) as raised:
        cli.run(tool.main, list(map(str, [files['config'], files['checkpoint'],
                                          files['video']])))
    assert raised.value is bug
    assert 'error:' not in capsys.readouterr().err


def test_unexpected_error_keeps_its_traceback_in_a_command():
    code = ('import sys; sys.path.insert(0, sys.argv[1])\n'
            'from video_swin_plugin import cli\n'
            'def main(argv):\n'
            '    raise RuntimeError("boom")\n'
            'sys.exit(cli.run(main))\n')
    proc = subprocess.run([sys.executable, '-c', code, str(REPO)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert 'Traceback (most recent call last)' in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == 'RuntimeError: boom'


def test_option_checks():
    cli.at_least('--top-k', 1, 1)
    cli.at_least('--top-k', None, 1)  # not given
    cli.positive('--stride', 0.5)
    with pytest.raises(UsageError, match='--threads must be at least 1, got 0'):
        cli.at_least('--threads', 0, 1)
    with pytest.raises(UsageError, match='--save-interval must be positive, got -1'):
        cli.positive('--save-interval', -1)
    with pytest.raises(FileNotFoundError, match='labels file not found: nowhere.csv'):
        cli.existing_file('nowhere.csv', 'labels file')
    assert cli.check_device('cpu') == 'cpu'
    with pytest.raises(UsageError, match='--device cuda:99'):
        cli.check_device('cuda:99')  # no CUDA here, or fewer than 100 devices


def test_a_torchrun_worker_takes_its_local_rank_gpu(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    assert cli.worker_device('cuda') == 'cuda'
    monkeypatch.setenv('LOCAL_RANK', '3')
    assert cli.worker_device('cuda') == 'cuda:3'
    assert cli.worker_device('cuda:1') == 'cuda:1' and cli.worker_device('cpu') == 'cpu'
