"""tools/stream_infer.py as a farm runs it: DVR formats, a folder per camera with dated file
names, a nightly job beside a manual rerun on one out-dir, scorer files beside the videos,
deleted outputs, bad and short files. Each case is a defect the tool once had."""
import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest
import torch

from video_swin_plugin.apis.streaming import StreamingClassifier
from video_swin_plugin.datasets.format_corpus import CORPUS, write_numbered_video

from .helpers import (REPO, CountingModel, read_outputs, tiny_stream_config as tiny_config,
                      write_stage_video)

NIGHT = [0] * 6 + [1] * 8 + [2] * 4 + [0] * 4  # 22 s at 1 s per stage


@pytest.fixture(scope='module')
def model(stream_model):
    """The seed-0 tiny FAM model's config file and checkpoint (conftest's stream_model)."""
    return stream_model.config, stream_model.checkpoint


@pytest.fixture(scope='module')
def cams(tmp_path_factory):
    """cams/cam1/2024-05-01.mp4 and cams/cam2/2024-05-01.mp4: two cameras, one date."""
    root = tmp_path_factory.mktemp('cams')
    for cam, seed in (('cam1', 1), ('cam2', 2)):
        (root / cam).mkdir()
        write_stage_video(root / cam / '2024-05-01.mp4', NIGHT, seed=seed)
    return root


def run(model, *args, umask=None, env=None):
    config, checkpoint = model
    cmd = [sys.executable, str(REPO / 'tools' / 'stream_infer.py'), str(config),
           str(checkpoint), *map(str, args), '--threads', '1', '--device', 'cpu']
    kwargs = dict(cwd=REPO, capture_output=True, text=True, timeout=600,
                  env=dict(os.environ, OMP_NUM_THREADS='1', **(env or {})))
    if umask is not None:
        kwargs['preexec_fn'] = lambda: os.umask(umask)
    return subprocess.run(cmd, **kwargs)


def error_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith('error: ')]
    assert proc.returncode == 2 and len(lines) == 1 and 'Traceback' not in proc.stderr, \
        proc.stderr[-3000:]
    return lines[0]


def test_folder_per_camera_keeps_nights_apart_and_labels_by_path(model, cams, tmp_path):
    labels = tmp_path / 'scored.csv'  # only cam1 was scored; cam2 must not borrow its labels
    labels.write_text('video,start,end,label\n' + ''.join(
        f'cam1/2024-05-01.mp4,{s},{s + 2},{["awake", "nrem", "rem"][NIGHT[s]]}\n'
        for s in range(0, 22, 2)))
    out = tmp_path / 'out'
    proc = run(model, cams, '--out-dir', out, '--labels', labels, '--no-progress')
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = (json.loads((out / cam / '2024-05-01.json').read_text()) for cam in
                ('cam1', 'cam2'))
    assert one['source']['path'].endswith('cam1/2024-05-01.mp4')
    assert two['source']['path'].endswith('cam2/2024-05-01.mp4')
    assert one['agreement']['matched_by'] == 'path' and one['agreement']['raw']['clips'] > 10
    assert two['agreement']['note'] == 'video not in labels'
    assert (out / 'cam1' / '2024-05-01.csv').read_text() != \
        (out / 'cam2' / '2024-05-01.csv').read_text()
    # the next night each camera's file given alone: the same names, other recordings
    night = tmp_path / 'next'
    proc = run(model, cams / 'cam1' / '2024-05-01.mp4', '--out-dir', night, '--no-progress')
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = read_outputs(night, '2024-05-01')
    proc = run(model, cams / 'cam2' / '2024-05-01.mp4', '--out-dir', night, '--no-progress')
    line = error_line(proc)
    assert 'cam1/2024-05-01.mp4' in line and 'cam2/2024-05-01.mp4' in line, line
    assert read_outputs(night, '2024-05-01') == before  # cam1's night untouched


def test_two_processes_on_one_out_dir_stage_each_recording_once(model, tmp_path):
    videos = tmp_path / 'videos'
    videos.mkdir()
    for i in range(4):
        write_stage_video(videos / f'sow{i}.mp4', NIGHT[i:] + NIGHT[:i], seed=i)
    single = tmp_path / 'single'
    assert run(model, videos, '--out-dir', single, '--no-progress').returncode == 0
    shared = tmp_path / 'shared'
    config, checkpoint = model
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(
            [sys.executable, str(REPO / 'tools' / 'stream_infer.py'), str(config),
             str(checkpoint), str(videos), '--out-dir', str(shared), '--threads', '1',
             '--no-progress', '--device', 'cpu'], cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS='1')))
        time.sleep(0.5)
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    staged = {}  # recording -> how many processes staged it ("done" without "finished earlier")
    for stdout, _ in results:
        for line in stdout.splitlines():
            status, _, rest = line.strip().partition('  ')
            if status == 'done' and 'finished earlier' not in rest \
                    and 'another process' not in rest and 'staged by' not in rest:
                staged[rest.split()[0]] = staged.get(rest.split()[0], 0) + 1
    assert staged == {f'sow{i}.mp4': 1 for i in range(4)}, results
    for i in range(4):
        assert read_outputs(shared, f'sow{i}') == read_outputs(single, f'sow{i}')
    assert not list(shared.glob('*.claim')) and not list(shared.glob('*.rows.part'))
    report = json.loads((shared / 'run_report.json').read_text())
    assert sorted(v['status'] for v in report['videos']) == ['done'] * 4
    pids = {str(p.pid) for p in procs}
    assert {v['staged_by'].split(':')[-1] for v in report['videos']} <= pids


def test_out_dir_equal_to_the_video_folder_never_replaces_the_scorers_files(model, tmp_path):
    folder = tmp_path / 'night'
    folder.mkdir()
    write_stage_video(folder / 'night1.mp4', NIGHT)
    scorer = 'video,start,end,label\nnight1.mp4,0,6,awake\n'
    (folder / 'night1.csv').write_text(scorer)
    line = error_line(run(model, folder, '--out-dir', folder, '--no-progress'))
    assert 'night1.csv exists and was not written by stream_infer' in line
    assert (folder / 'night1.csv').read_text() == scorer
    assert not (folder / 'night1.json').exists()
    # with nothing to clash, the videos' own folder is a fine out-dir
    (folder / 'night1.csv').rename(tmp_path / 'scored.csv')
    proc = run(model, folder, '--out-dir', folder, '--no-progress')
    assert proc.returncode == 0 and (folder / 'night1.json').exists(), proc.stderr[-2000:]


def test_deleted_outputs_are_staged_again_and_a_failure_keeps_a_good_summary(model, tmp_path):
    video = write_stage_video(tmp_path / 'night.mp4', NIGHT)
    out = tmp_path / 'out'
    assert run(model, video, '--out-dir', out, '--no-progress').returncode == 0
    good = read_outputs(out, 'night')
    (out / 'night.csv').unlink()
    proc = run(model, video, '--out-dir', out, '--no-progress')
    assert proc.returncode == 0 and 'missing or damaged; staging it again' in proc.stderr
    assert read_outputs(out, 'night') == good
    (out / 'night.png').unlink()  # the CSV is whole: summarised again, not staged again
    proc = run(model, video, '--out-dir', out, '--no-progress')
    assert proc.returncode == 0 and 're-summarised' in proc.stdout
    assert read_outputs(out, 'night') == good


def test_a_failure_never_replaces_a_good_summary(tmp_path):
    from video_swin_plugin.staging import StreamJob
    torch.manual_seed(0)
    clf = StreamingClassifier(tiny_config())
    video = write_stage_video(tmp_path / 'night.mp4', NIGHT)
    out = tmp_path / 'out'
    StreamJob(clf, str(out), progress=False).run([(str(video), 'night.mp4')])
    good = read_outputs(out, 'night', ['json', 'png'])
    (out / 'night.csv').unlink()  # staged again on the next run, which fails half way

    crashing = CountingModel(clf.model, fail_at=5, message='GPU fell off the bus')
    failing = StreamingClassifier.from_model(crashing, clf.classes, clf.schedule, clf.transform)
    logged = []
    report = StreamJob(failing, str(out), progress=False, log=logged.append).run(
        [(str(video), 'night.mp4')])
    entry = report['videos'][0]
    assert entry['status'] == 'failed' and 'GPU fell off the bus' in entry['error']
    assert 'earlier run' in entry['note']
    assert read_outputs(out, 'night', ['json', 'png']) == good


def test_exit_status_names_each_bad_case(model, tmp_path, shared_data):
    folder = tmp_path / 'in'
    folder.mkdir()
    shutil.copy(shared_data / 'videos' / 'test.avi', folder / 'dvr.avi')  # B-frames
    write_stage_video(folder / 'short.mp4', [0], sec_per_stage=0.5)  # 4 frames < one clip
    write_numbered_video(folder / 'cut.mkv', CORPUS['h264.mkv'], 250, fps=25)
    cut = (folder / 'cut.mkv').read_bytes()
    (folder / 'cut.mkv').write_bytes(cut[:len(cut) * 6 // 10])
    (folder / 'photo.jpg').write_bytes(b'\xff\xd8\xff\xe0' + bytes(64))  # listed as ignored
    out = tmp_path / 'out'
    proc = run(model, folder, '--out-dir', out)
    assert proc.returncode == 1, proc.stderr[-3000:]
    report = json.loads((out / 'run_report.json').read_text())
    status = {v['video']: v for v in report['videos']}
    assert status['dvr.avi']['status'] == 'done' and not status['dvr.avi'].get('skipped_clips')
    assert json.loads((out / 'dvr.json').read_text())['clips'] == dict(scheduled=7, scored=7,
                                                                        skipped=0)
    assert status['short.mp4']['status'] == 'too short'
    assert 'short.mp4' in status['short.mp4']['error'] and 'shorter than one clip' in \
        status['short.mp4']['error']
    assert status['cut.mkv']['status'] == 'done' and status['cut.mkv']['skipped_clips'] > 0
    assert status['cut.mkv']['unreadable'][-1]['end'] == pytest.approx(10.0, abs=1.0)
    assert report['ignored'] == [str(folder / 'photo.jpg')]
    assert 'TOO SHORT' in proc.stderr and 'UNREADABLE cut.mkv' in proc.stderr
    # progress to a pipe: lines with clips, rate and time left (no bar redrawn per clip)
    progress = [ln for ln in proc.stderr.splitlines() if ln.startswith('dvr.avi: ')]
    assert progress[-1].startswith('dvr.avi: 7/7 clips (100%)') and 'left' in progress[-1]
    assert '\r' not in proc.stderr and '[' not in ''.join(progress)
    # a clean input: 0; nothing to stage: 2; a bad option: 2
    assert run(model, folder / 'dvr.avi', '--out-dir', tmp_path / 'o2',
               '--no-progress').returncode == 0
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('x')
    assert 'no video files' in error_line(run(model, empty, '--out-dir', tmp_path / 'o3'))
    assert '--max-clips' in error_line(run(model, folder, '--out-dir', tmp_path / 'o4',
                                           '--max-clips', '0'))


def test_files_follow_the_users_umask(model, tmp_path):
    video = write_stage_video(tmp_path / 'night.mp4', NIGHT[:8])
    for umask, mode in ((0o022, 0o644), (0o002, 0o664)):
        out = tmp_path / f'out{umask:o}'
        assert run(model, video, '--out-dir', out, '--no-progress',
                   umask=umask).returncode == 0
        for name in ('night.csv', 'night.json', 'night.png', 'night.state.pt',
                     'run_report.json'):
            assert stat.S_IMODE(os.stat(out / name).st_mode) == mode, (name, umask)


def test_annotation_encodings(model, tmp_path):
    video = write_stage_video(tmp_path / 'night.mp4', NIGHT[:8])
    rows = 'video,start,end,label\r\nnight.mp4,0,4,awake\r\nnight.mp4,4,8,nrem\r\n'
    bom = tmp_path / 'excel.csv'
    bom.write_bytes(b'\xef\xbb\xbf' + rows.encode())
    proc = run(model, video, '--out-dir', tmp_path / 'o1', '--labels', bom, '--no-progress')
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / 'o1' / 'night.json').read_text())
    assert summary['agreement']['raw']['clips'] == 8
    for name, data, says in (('latin.csv', rows.replace('awake', 'éveillé').encode('latin-1'),
                              'line 2: not UTF-8 text'),
                             ('utf16.csv', rows.encode('utf-16'), 'UTF-16 encoded')):
        (tmp_path / name).write_bytes(data)
        line = error_line(run(model, video, '--out-dir', tmp_path / 'o2', '--labels',
                              tmp_path / name))
        assert name in line and says in line, line
