"""tools/stream_infer.py shared by several workers: plain processes started on one out-dir and
torchrun's processes. Each recording (each session) is staged by exactly one worker, the
outputs equal a single worker's byte for byte, and a worker killed mid-recording leaves
nothing a rerun cannot finish with the same outputs."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import REPO, read_outputs, write_stage_video

SESSION = r'^(?P<session>[a-z0-9]+)_'
NAMES = ['a_night', 'b_night', 'c_night', 'sow1_part1', 'sow1_part2', 'sow1_part3']
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))


@pytest.fixture(scope='module')
def farm(tmp_path_factory, stream_model):
    """Six recordings: three nights of one file and one night of three files (a session)."""
    root = tmp_path_factory.mktemp('workers')
    config, checkpoint = stream_model.config, stream_model.checkpoint
    videos = root / 'videos'
    videos.mkdir()
    for i, name in enumerate(NAMES):
        stages = ([0] * 5 + [1] * 8 + [2] * 4)[i:] + [1] * i
        write_stage_video(videos / f'{name}.mp4', stages, seed=i)
    single = root / 'single'
    proc = subprocess.run(command(config, checkpoint, videos, single), cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return config, checkpoint, videos, single


def command(config, checkpoint, videos, out, *extra, launcher=(sys.executable, )):
    return [*launcher, str(REPO / 'tools' / 'stream_infer.py'), str(config), str(checkpoint),
            str(videos), '--out-dir', str(out), '--session', SESSION, '--threads', '1',
            '--device', 'cpu', '--no-progress', *map(str, extra)]


def staged_once(outputs):
    """{recording: times staged}, from the workers' status lines (a recording a worker found
    done, or staged by another, is not counted for it)."""
    staged = {}
    for stdout in outputs:
        for line in stdout.splitlines():
            status, _, rest = line.strip().partition('  ')
            if status == 'done' and not any(w in rest for w in ('finished earlier',
                                                                 'staged by', 'another')):
                name = rest.split()[0]
                staged[name] = staged.get(name, 0) + 1
    return staged


def same_outputs(out: Path, single: Path):
    for name in NAMES:
        assert read_outputs(out, name, ['csv', 'json', 'png', 'epochs.csv']) == \
            read_outputs(single, name, ['csv', 'json', 'png', 'epochs.csv']), name
    assert read_outputs(out, 'sow1.night', ['json', 'png', 'epochs.csv']) == \
        read_outputs(single, 'sow1.night', ['json', 'png', 'epochs.csv'])
    assert (out / 'cohort.csv').read_bytes() == (single / 'cohort.csv').read_bytes()
    assert not list(out.glob('*.claim')) and not list(out.glob('*.rows.part'))


def test_three_processes_share_the_work(farm, tmp_path):
    config, checkpoint, videos, single = farm
    out = tmp_path / 'out'
    procs = []
    for _ in range(3):
        procs.append(subprocess.Popen(command(config, checkpoint, videos, out), cwd=REPO,
                                      env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
        time.sleep(0.3)
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [r[1][-2000:] for r in results]
    assert staged_once(r[0] for r in results) == {f'{n}.mp4': 1 for n in NAMES}, results
    same_outputs(out, single)
    # a session is one worker's: its three files name the same stager
    import json
    report = json.loads((out / 'run_report.json').read_text())
    stagers = {v['video']: v['staged_by'] for v in report['videos']}
    assert len({stagers[f'sow1_part{i}.mp4'] for i in (1, 2, 3)}) == 1


def test_torchrun_workers_share_the_work(farm, tmp_path):
    config, checkpoint, videos, single = farm
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = tmp_path / 'out'
    launcher = (sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                '--master_addr', '127.0.0.1', '--master_port', str(port))
    proc = subprocess.run(command(config, checkpoint, videos, out, launcher=launcher),
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # torchrun interleaves the two workers' stdout; each status line is whole
    assert staged_once([proc.stdout]) == {f'{n}.mp4': 1 for n in NAMES}, proc.stdout
    same_outputs(out, single)


def test_a_worker_killed_mid_recording_then_a_rerun(farm, tmp_path):
    config, checkpoint, videos, single = farm
    out = tmp_path / 'out'
    proc = subprocess.Popen(command(config, checkpoint, videos, out, '--save-every', 1),
                            cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        parts = list(out.glob('*.rows.part'))
        if parts and any(len(p.read_text().splitlines()) > 6 for p in parts):
            os.kill(proc.pid, signal.SIGKILL)  # mid-recording: rows written, not finished
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert list(out.glob('*.claim'))  # the dead worker's claim is left behind
    rerun = subprocess.run(command(config, checkpoint, videos, out), cwd=REPO, env=ENV,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert 'resuming at clip' in rerun.stderr
    same_outputs(out, single)
