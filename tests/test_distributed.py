"""Distributed training and testing through tools/dist_train.sh and tools/dist_test.sh on CPU:
torchrun, 2 processes on gloo (compat.prepare_distributed), 1 thread each, loopback only.

Each rank records what it loaded and saved (tests/dist_probe.py, through the probe configs
written here): the ranks' training samples are disjoint and cover the dataset, only rank 0
writes checkpoints, ``--resume`` continues, and the metrics over both ranks equal a single
process's on the same checkpoint. A launch that hangs is killed after LAUNCH_TIMEOUT.
"""
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

import video_swin_plugin.compat  # noqa: F401  (Runner checkpoints load with weights_only=True)
from .helpers import (FAM_SYNTHETIC_TINY, REPO, call_tool, synthetic_training_config,
                      write_colour_dataset)
LAUNCH_TIMEOUT = 300  # s; a run here takes 30-60 s on 2 busy cores, mostly imports
K = 4  # clips per FAM window in the tiny config


def probe_config(cfg, path: Path) -> Path:
    """``cfg`` with the probe hook (tests/dist_probe.py: which samples each rank loaded, which
    rank saved checkpoints) and a timeout that turns a hung collective into an error."""
    cfg.merge_from_dict(dict(
        custom_imports=dict(imports=['tests.dist_probe'], allow_failed_imports=False),
        custom_hooks=[dict(type='LoadedSamplesHook')],
        env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=120))))
    cfg.dump(str(path))
    return path


@pytest.fixture(scope='module')
def probe_configs(tmp_path_factory):
    from mmengine.config import Config
    root = tmp_path_factory.mktemp('probe_configs')
    return (probe_config(synthetic_training_config(), root / 'dist_probe_kinetics.py'),
            probe_config(Config.fromfile(str(FAM_SYNTHETIC_TINY)), root / 'dist_probe_fam.py'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(script: str, args: list, log: Path, port: int, nnodes: int = 1,
           node_rank: int = 0) -> subprocess.Popen:
    """``bash tools/<script> ARGS`` with the node settings, output to ``log``."""
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1', MASTER_ADDR='127.0.0.1', PORT=str(port),
               NNODES=str(nnodes), NODE_RANK=str(node_rank))
    if Path('/sys/class/net/lo').exists():
        env['GLOO_SOCKET_IFNAME'] = 'lo'  # gloo on loopback, whatever the hostname resolves to
    with open(log, 'w') as out:  # a file, not a pipe: a full pipe would stall a rank
        return subprocess.Popen(['bash', str(REPO / 'tools' / script), *map(str, args)],
                                cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def finish(proc: subprocess.Popen, log: Path) -> str:
    """The launch's output once it exited with status 0; killed (its process group) and failed
    after LAUNCH_TIMEOUT."""
    try:
        proc.wait(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f'{log.name}: no exit after {LAUNCH_TIMEOUT} s\n{log.read_text()[-4000:]}')
    out = log.read_text()
    assert proc.returncode == 0, f'{log.name}: exit {proc.returncode}\n{out[-6000:]}'
    return out


def run(script: str, args: list, log: Path) -> str:
    return finish(launch(script, args, log, free_port()), log)


def probes(work_dir: Path) -> list:
    """Per run (in time order), the probe records of its ranks, by rank."""
    runs = defaultdict(dict)
    for path in work_dir.glob('probe_*_rank*.json'):
        record = json.loads(path.read_text())
        runs[path.name.rsplit('_rank', 1)[0]][record['rank']] = record
    return [runs[stamp] for stamp in sorted(runs)]


def loaded(record: dict, epoch: int) -> list:
    return [i for e, i in record['loaded'] if e == epoch]


def metrics_line(output: str) -> str:
    """The metrics tools/test.py printed (rank 0 only), with any continuation lines of an
    array (the confusion matrix)."""
    lines = output.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith('test metrics: ')]
    assert len(starts) == 1, output[-4000:]
    block = [lines[starts[0]]]
    for line in lines[starts[0] + 1:]:
        if not line.startswith(' ['):
            break
        block.append(line)
    return '\n'.join(block)


def printed(metrics: dict) -> str:
    """The line tools/test.py prints for ``metrics``."""
    return 'test metrics: ' + ', '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                                        for k, v in metrics.items())


def predictions(dump: Path) -> list:
    """The scores of each sample in a ``--dump`` file (mmaction2 1.1 or 1.2 field names)."""
    with open(dump, 'rb') as f:
        samples = pickle.load(f)
    scores = [s.get('pred_scores', s.get('pred_score')) for s in samples]
    return [np.asarray(v['item'] if isinstance(v, dict) else v) for v in scores]


def assert_same_test(single: dict, dist_out: str, single_dump: Path, dist_dump: Path,
                     size: int) -> None:
    assert metrics_line(dist_out) == printed(single)
    a, b = predictions(single_dump), predictions(dist_dump)
    assert len(a) == len(b) == size  # the sampler's padding is not in the results
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-5)


def fake_python(path: Path) -> Path:
    """An executable that records how it was called (its path, then one argument a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/sh\nprintf "%s\\n" "$0" "$@" > "$CALLED"\n')
    path.chmod(0o755)
    return path


@pytest.mark.parametrize('script,args', [
    ('dist_train.sh', ['cfg.py', '3', '--seed', '1']),
    ('dist_test.sh', ['cfg.py', 'ckpt.pth', '3', '--seed', '1'])])
def test_scripts_pick_the_projects_python_and_pass_node_settings(tmp_path, script, args):
    checkout = tmp_path / 'checkout'
    (checkout / 'tools').mkdir(parents=True)
    (checkout / 'tools' / script).write_text((REPO / 'tools' / script).read_text())
    bin_dir = tmp_path / 'bin'
    python3 = fake_python(bin_dir / 'python3')
    called = tmp_path / 'called.txt'
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHON', 'NNODES', 'NODE_RANK', 'MASTER_ADDR', 'PORT')}
    env.update(CALLED=str(called), PATH=f'{bin_dir}{os.pathsep}{env["PATH"]}')

    def call(**extra) -> list:
        subprocess.run(['bash', str(checkout / 'tools' / script), *args], env=dict(env, **extra),
                       check=True, timeout=60)
        return called.read_text().splitlines()

    tool = str(checkout / 'tools' / ('train.py' if script == 'dist_train.sh' else 'test.py'))
    # no project environment: python3 from PATH, one node on the loopback address
    assert call() == [str(python3), '-m', 'torch.distributed.run', '--nnodes=1',
                      '--node_rank=0', '--master_addr=127.0.0.1', '--master_port=29500',
                      '--nproc_per_node=3', tool, *args[:-3], '--launcher', 'pytorch',
                      '--seed', '1']
    # the README's setup: the checkout's .venv; node settings passed through
    venv = fake_python(checkout / '.venv' / 'bin' / 'python')
    got = call(NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.7', PORT='29613')
    assert got[0] == str(venv)
    assert got[3:7] == ['--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.7',
                        '--master_port=29613']
    # PYTHON overrides both
    other = fake_python(tmp_path / 'other' / 'python')
    assert call(PYTHON=str(other))[0] == str(other)


@pytest.fixture(scope='module')
def kinetics(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('kinetics')
    write_colour_dataset(root, 'train', per_class=3, seed=0)  # 12 videos
    _, lines = write_colour_dataset(root, 'test', per_class=2, seed=1)
    (root / 'test7.txt').write_text('\n'.join(lines[:7]) + '\n')  # odd: 2 ranks pad one
    return root


def kinetics_options(root: Path) -> list:
    return ['--cfg-options',
            f'train_dataloader.dataset.ann_file={root / "train.txt"}',
            f'train_dataloader.dataset.data_prefix.video={root}',
            'train_dataloader.batch_size=2',
            f'val_dataloader.dataset.ann_file={root / "test7.txt"}',
            f'val_dataloader.dataset.data_prefix.video={root}',
            f'test_dataloader.dataset.ann_file={root / "test7.txt"}',
            f'test_dataloader.dataset.data_prefix.video={root}']


def test_kinetics_two_processes_then_two_nodes_resume_then_test(kinetics, probe_configs,
                                                                tmp_path):
    probe_kinetics = probe_configs[0]
    start = time.time()
    work = tmp_path / 'work'
    train = ['--work-dir', work, '--seed', 0, '--no-validate'] + kinetics_options(kinetics)
    # 2 processes on one machine, 2 epochs
    out = run('dist_train.sh', [probe_kinetics, 2] + train + ['train_cfg.max_epochs=2'],
              tmp_path / 'train.log')
    assert 'Distributed training: True' in out and "'backend': 'gloo'" in out
    [ranks] = probes(work)
    assert sorted(ranks) == [0, 1] and ranks[0]['world_size'] == 2
    per_rank = {}
    for epoch in (0, 1):
        a, b = loaded(ranks[0], epoch), loaded(ranks[1], epoch)
        assert len(a) == len(b) == 6 and sorted(a + b) == list(range(12)), (epoch, a, b)
        per_rank[epoch] = (a, b)
    # rank 0 alone saved the checkpoints, one per epoch
    assert ranks[0]['saved'] == [0, 1] and ranks[1]['saved'] == []
    assert len(re.findall(r'Saving checkpoint at \d+ epochs', out)) == 2
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_1.pth', 'epoch_2.pth']

    # two "nodes" of one process each on this machine resume from the latest checkpoint
    port = free_port()
    resume = train + ['train_cfg.max_epochs=3']
    node_args = [probe_kinetics, 1, '--resume'] + resume
    nodes = [launch('dist_train.sh', node_args, tmp_path / f'node{n}.log', port, nnodes=2,
                    node_rank=n) for n in (0, 1)]
    out0, _ = [finish(proc, tmp_path / f'node{n}.log') for n, proc in enumerate(nodes)]
    assert 'resumed epoch: 2' in out0
    assert not re.search(r'Epoch\(train\)\s+\[[12]\]', out0)
    _, ranks = probes(work)
    assert ranks[0]['world_size'] == 2 and ranks[0]['resumed'] == ranks[1]['resumed'] == [2]
    a, b = loaded(ranks[0], 2), loaded(ranks[1], 2)
    assert len(a) == len(b) == 6 and sorted(a + b) == list(range(12))
    assert {e for e, _ in ranks[0]['loaded'] + ranks[1]['loaded']} == {2}
    assert ranks[0]['saved'] == [2] and ranks[1]['saved'] == []
    state = torch.load(work / 'epoch_3.pth', map_location='cpu', weights_only=True)
    assert state['meta']['epoch'] == 3
    train_s = time.time() - start

    # test: 2 processes (7 videos, so the sampler pads rank 1) vs one process
    ckpt = work / 'epoch_3.pth'
    dist_out = run('dist_test.sh', [probe_kinetics, ckpt, 2, '--work-dir', tmp_path / 'test2',
                                    '--dump', tmp_path / 'dist.pkl'] + kinetics_options(kinetics),
                   tmp_path / 'test.log')
    single = call_tool('test', 'test_metrics',
                       [probe_kinetics, ckpt, '--work-dir', tmp_path / 'test1', '--dump',
                        tmp_path / 'single.pkl'] + kinetics_options(kinetics))
    assert_same_test(single, dist_out, tmp_path / 'single.pkl', tmp_path / 'dist.pkl', 7)
    print(f'\nkinetics: samples per rank per epoch {[len(x) for x in per_rank[0]]} '
          f'(epoch 1 rank 0: {sorted(per_rank[0][0])}, rank 1: {sorted(per_rank[0][1])}); '
          f'test {metrics_line(dist_out)} (2 processes) vs {printed(single)} (1 process); '
          f'train+resume {train_s:.0f} s, all {time.time() - start:.0f} s')


@pytest.fixture(scope='module')
def recordings(tmp_path_factory) -> Path:
    """Training: 4 recordings of 4 windows and 2 of 8 (32 in all, dealt 8 per slot to 2 ranks
    x 2 slots); test: 3 recordings of 18 clips (5 windows with the tail: 15, an odd number)."""
    import csv
    from video_swin_plugin.datasets.synthetic import write_recordings
    root = tmp_path_factory.mktemp('recordings')
    short = write_recordings(root, 4, duration_sec=16, seed=0, prefix='short',
                             ann_name='short.csv')
    long = write_recordings(root, 2, duration_sec=32, seed=1, prefix='long', ann_name='long.csv')
    with open(short) as a, open(long) as b, open(root / 'train.csv', 'w', newline='') as out:
        rows = list(csv.reader(a)) + list(csv.reader(b))[1:]
        csv.writer(out).writerows(rows)
    write_recordings(root, 3, duration_sec=18, seed=2, prefix='test', ann_name='test.csv')
    return root


def fam_options(root: Path) -> list:
    return ['--cfg-options',
            f'train_dataloader.dataset.ann_file={root / "train.csv"}',
            f'train_dataloader.dataset.data_prefix.video={root}',
            'train_dataloader.batch_size=2', 'train_dataloader.sampler.batch_size=2',
            f'val_dataloader.dataset.ann_file={root / "test.csv"}',
            f'val_dataloader.dataset.data_prefix.video={root}',
            f'test_dataloader.dataset.ann_file={root / "test.csv"}',
            f'test_dataloader.dataset.data_prefix.video={root}']


def windows(root: Path, ann: str) -> list:
    """(video, first clip index) of each item of the FAM dataset, as the Runner builds it."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from video_swin_plugin.datasets.long_video import LongVideoDataset
    init_default_scope('video_swin_plugin')
    cfg = Config.fromfile(str(FAM_SYNTHETIC_TINY)).train_dataloader.dataset
    cfg.pop('type')
    cfg.update(ann_file=str(root / ann), data_prefix=dict(video=str(root)), lazy_init=False)
    ds = LongVideoDataset(**cfg)
    return [(ds.get_data_info(i)['video'], int(ds.get_data_info(i)['clip_index'][0]))
            for i in range(len(ds))]


def test_fam_sequences_two_processes_then_test(recordings, probe_configs, tmp_path):
    probe_fam = probe_configs[1]
    start = time.time()
    work = tmp_path / 'work'
    out = run('dist_train.sh', [probe_fam, 2, '--work-dir', work, '--seed', 0, '--no-validate']
              + fam_options(recordings) + ['train_cfg.max_epochs=2'], tmp_path / 'train.log')
    assert 'Distributed training: True' in out
    [ranks] = probes(work)
    items = windows(recordings, 'train.csv')
    assert len(items) == 32
    shares = []
    for epoch in (0, 1):
        a, b = loaded(ranks[0], epoch), loaded(ranks[1], epoch)
        assert len(a) == len(b) == 16 and sorted(a + b) == list(range(32)), (epoch, a, b)
        videos = [{items[i][0] for i in share} for share in (a, b)]
        assert not videos[0] & videos[1]  # no recording split across the ranks
        for share in (a, b):
            for slot in (share[0::2], share[1::2]):  # batch t = window t of each slot
                # whole recordings in time order: a new recording starts at clip 0, the next
                # window of the same one continues it (what state passing needs)
                for prev, cur in zip([None] + slot, slot):
                    if prev is None or items[prev][0] != items[cur][0]:
                        assert items[cur][1] == 0, (epoch, slot)
                    else:
                        assert items[cur][1] == items[prev][1] + K, (epoch, slot)
        shares.append([sorted(videos[0]), sorted(videos[1])])
    assert ranks[0]['saved'] == [0, 1] and ranks[1]['saved'] == []
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_1.pth', 'epoch_2.pth']
    train_s = time.time() - start

    ckpt = work / 'epoch_2.pth'
    dist_out = run('dist_test.sh', [probe_fam, ckpt, 2, '--work-dir', tmp_path / 'test2',
                                    '--dump', tmp_path / 'dist.pkl'] + fam_options(recordings),
                   tmp_path / 'test.log')
    single = call_tool('test', 'test_metrics',
                       [probe_fam, ckpt, '--work-dir', tmp_path / 'test1', '--dump',
                        tmp_path / 'single.pkl'] + fam_options(recordings))
    assert single['staging/confusion_matrix'].sum() == 3 * 18  # every clip once
    assert_same_test(single, dist_out, tmp_path / 'single.pkl', tmp_path / 'dist.pkl', 15)
    print(f'\nfam: recordings per rank, epoch 1: {shares[0]}, epoch 2: {shares[1]}; 16 windows '
          f'per rank per epoch; test {metrics_line(dist_out)} (2 processes) vs '
          f'{printed(single)} (1 process); train {train_s:.0f} s, all '
          f'{time.time() - start:.0f} s')
