"""The staging job (staging/job.py, stream_videos) over whole recordings: resume after a stop or
a crash, finished videos not recomputed, bad files among good ones, sessions carrying memory
across files. The model is the tiny Swin + FAM on 32 px frames (one CPU thread)."""
import json
import shutil

import numpy as np
import pytest
import torch

from video_swin_plugin.apis.streaming import StreamingClassifier
from video_swin_plugin.errors import VideoReadError
from video_swin_plugin.staging import Smoothing, stream_videos
from video_swin_plugin.staging.inputs import group_sessions
from video_swin_plugin.video_reader import ClipReader

from .helpers import CountingModel, read_outputs


def _with_model(clf, model):
    return StreamingClassifier.from_model(model, clf.classes, clf.schedule, clf.transform)


def test_stopped_then_rerun_gives_the_outputs_of_an_uninterrupted_run(
        stage_videos, stream_classifier, tmp_path):
    inputs = [str(stage_videos / 'night_a.mp4'), str(stage_videos / 'night_b.mp4')]
    smooth = Smoothing(5, 'centred', 3.0)
    ref = stream_videos(stream_classifier, inputs, tmp_path / 'ref', smooth, progress=False)
    assert [v['status'] for v in ref['videos']] == ['done', 'done']
    # stop after 13 clips, then after 40 more (inside the second video), then finish
    out = tmp_path / 'stopped'
    first = stream_videos(stream_classifier, inputs, out, smooth, max_clips=13, progress=False)
    assert first['stopped'] and not (out / 'night_a.csv').exists()
    second = stream_videos(stream_classifier, inputs, out, smooth, max_clips=40, progress=False)
    assert second['stopped'] and (out / 'night_a.csv').exists()
    counting = CountingModel(stream_classifier.model)
    stream_videos(_with_model(stream_classifier, counting), inputs, out, smooth, progress=False)
    assert counting.calls == 80 - 13 - 40  # only the clips not done before
    for stem in ('night_a', 'night_b'):
        assert read_outputs(out, stem) == read_outputs(tmp_path / 'ref', stem), stem
    assert not list(out.glob('*.part')) and not list(out.glob('.*.tmp'))


def test_crash_mid_video_then_rerun_gives_identical_outputs(stage_videos, stream_classifier,
                                                            tmp_path):
    inputs = [str(stage_videos / 'night_a.mp4')]
    stream_videos(stream_classifier, inputs, tmp_path / 'ref', progress=False)
    crashing = CountingModel(stream_classifier.model, fail_at=23)
    report = stream_videos(_with_model(stream_classifier, crashing), inputs, tmp_path / 'out',
                           progress=False, save_every=5, save_interval_sec=1e9)
    assert report['videos'][0]['status'] == 'failed'
    assert 'injected failure' in report['videos'][0]['error']
    state = torch.load(tmp_path / 'out' / 'night_a.state.pt', weights_only=True)
    assert state['next_clip'] == 20  # the last save before the crash
    counting = CountingModel(stream_classifier.model)
    stream_videos(_with_model(stream_classifier, counting), inputs, tmp_path / 'out',
                  progress=False, save_every=5)
    assert counting.calls == 20
    assert read_outputs(tmp_path / 'out', 'night_a') == read_outputs(tmp_path / 'ref', 'night_a')


def test_finished_video_is_not_recomputed_and_new_smoothing_only_resummarises(
        stage_videos, stream_classifier, tmp_path):
    inputs = [str(stage_videos / 'night_a.mp4')]
    stream_videos(stream_classifier, inputs, tmp_path, Smoothing(5), progress=False)
    before = read_outputs(tmp_path, 'night_a')
    counting = CountingModel(stream_classifier.model)
    report = stream_videos(_with_model(stream_classifier, counting), inputs, tmp_path, Smoothing(5),
                           progress=False)
    assert counting.calls == 0 and report['videos'][0]['status'] == 'done'
    assert read_outputs(tmp_path, 'night_a') == before
    stream_videos(_with_model(stream_classifier, counting), inputs, tmp_path,
                  Smoothing(15, 'causal'), progress=False)
    assert counting.calls == 0
    summary = json.loads((tmp_path / 'night_a.json').read_text())
    assert summary['smoothing']['size'] == 15 and summary['smoothing']['mode'] == 'causal'
    assert (read_outputs(tmp_path, 'night_a', ['csv'])['csv'].split(b'\n')[1].split(b',')[4]
            == before['csv'].split(b'\n')[1].split(b',')[4])  # raw labels unchanged


def test_bad_files_among_good_ones_are_reported_and_the_good_ones_finish(
        stage_videos, stream_classifier, tmp_path, shared_data):
    folder = tmp_path / 'in'
    folder.mkdir()
    for name in ('night_a.mp4', 'damaged.mp4', 'truncated.mp4', 'cut_short.mp4', 'notes.mp4'):
        shutil.copy(stage_videos / name, folder / name)
    shutil.copy(shared_data / 'videos' / 'test.mp4', folder / 'real_test.mp4')
    out = tmp_path / 'out'
    report = stream_videos(stream_classifier, [str(folder)], out, progress=False)
    status = {v['video']: v['status'] for v in report['videos']}
    assert status == {'cut_short.mp4': 'done', 'damaged.mp4': 'done', 'night_a.mp4': 'done',
                      'notes.mp4': 'failed', 'real_test.mp4': 'done', 'truncated.mp4': 'failed'}
    errors = {v['video']: v['error'] for v in report['videos'] if 'error' in v}
    assert all(name in errors[name] for name in errors)  # the message names the file
    on_disk = json.loads((out / 'run_report.json').read_text())
    assert [v['status'] for v in on_disk['videos']] == [v['status'] for v in report['videos']]
    assert json.loads((out / 'truncated.json').read_text())['status'] == 'failed'

    damaged = json.loads((out / 'damaged.json').read_text())
    assert damaged['skipped'] and damaged['decode_error_count'] > 0
    assert 0 < damaged['clips']['skipped'] < 40
    assert len(damaged['skipped']) == 1  # one damaged stretch, reported as one
    s = damaged['skipped'][0]
    assert 5 < s['start'] < s['end'] < 35 and 'missing' in s['reason']
    rows = (out / 'damaged.csv').read_text().splitlines()
    assert len(rows) - 1 == damaged['clips']['scored']  # skipped clips have no row

    cut = json.loads((out / 'cut_short.json').read_text())
    assert cut['skipped'][-1]['reason'].startswith('past the last decodable frame')
    assert cut['clips']['scheduled'] == 40 and 10 < cut['clips']['scored'] < 35
    real = json.loads((out / 'real_test.json').read_text())
    assert real['clips']['skipped'] == 0 and real['clips']['scored'] == 10  # 10 s at 1 s
    # good outputs equal a run on the good file alone
    alone = tmp_path / 'alone'
    stream_videos(stream_classifier, [str(stage_videos / 'night_a.mp4')], alone, progress=False)
    assert read_outputs(out, 'night_a', ['csv', 'png']) == read_outputs(alone, 'night_a',
                                                                          ['csv', 'png'])
    a, b = (json.loads((d / 'night_a.json').read_text()) for d in (out, alone))
    assert a.pop('path') != b.pop('path')
    for summary in (a, b):  # the same file, copied: only where and when differ
        assert summary['source'].pop('path') and summary['source'].pop('mtime')
    assert a == b
    with pytest.raises(VideoReadError, match='notes.mp4'):
        ClipReader(folder / 'notes.mp4', stream_classifier.schedule)


def test_session_carries_memory_across_files_in_name_order(stage_videos, stream_classifier,
                                                           tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    shutil.copy(stage_videos / 'night_a.mp4', folder / 'sow1_part10.mp4')
    shutil.copy(stage_videos / 'night_b.mp4', folder / 'sow1_part2.mp4')
    shutil.copy(stage_videos / 'night_b.mp4', folder / 'sow2_part1.mp4')
    groups = group_sessions([(str(p), p.name) for p in sorted(folder.iterdir())],
                            r'(sow\d+)_part')
    assert [[n for _, n in g] for g in groups] == [['sow1_part2.mp4', 'sow1_part10.mp4'],
                                                   ['sow2_part1.mp4']]
    out = tmp_path / 'out'
    stream_videos(stream_classifier, [str(folder)], out, session=r'(sow\d+)_part', progress=False)
    first = list(stream_classifier.run(folder / 'sow1_part2.mp4'))
    carried = list(stream_classifier.run(folder / 'sow1_part10.mp4', first[-1].memory))
    rows = (out / 'sow1_part10.csv').read_text().splitlines()[1:]
    p0 = np.array([float(x) for x in rows[0].split(',')[6:]])
    np.testing.assert_allclose(p0, carried[0].scores, atol=1e-6)
    # the other session starts from a reset memory
    rows = (out / 'sow2_part1.csv').read_text().splitlines()[1:]
    p0 = np.array([float(x) for x in rows[0].split(',')[6:]])
    np.testing.assert_allclose(p0, first[0].scores, atol=1e-6)
    reset = list(stream_classifier.run(folder / 'sow1_part10.mp4', max_clips=1))
    assert not np.allclose(reset[0].scores, carried[0].scores, atol=1e-6)
