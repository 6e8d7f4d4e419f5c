"""The sleep outputs of a staging run, end to end on a tiny model: per-file epoch tables, EDF+
and BORIS files with clock time, a whole night of three files with a gap, cohort.csv, HMM
smoothing with a forbidden transition and the lights window from the command line, and the
hypnogram's layout."""
import csv
import datetime as dt
import json

import numpy as np
import pytest
import torch

from video_swin_plugin.apis.streaming import StreamingClassifier
from video_swin_plugin.errors import UsageError
from video_swin_plugin.staging import Smoothing, stream_videos
from video_swin_plugin.staging.clock import ClockSettings, NamePattern
from video_swin_plugin.staging.edf import read_edf_annotations
from video_swin_plugin.staging.hypnogram import hypnogram_figure, stage_colours
from video_swin_plugin.staging.sleep_settings import SleepSettings

from .helpers import (STAGE_NAMES as CLASSES, run_tool, tiny_stream_config as tiny_config,
                      write_stage_video, write_stream_config as write_config)

STAGES = [0] * 8 + [1] * 14 + [2] * 6 + [1] * 6 + [0] * 6  # 40 s at 1 s per stage
NAMES = ['sow3_20240501_220000.mp4', 'sow3_20240501_220100.mp4', 'sow3_20240501_220140.mp4']
SESSION = r'(?P<animal>sow\d+)_(?P<session>\d{8})'
FROM_NAME = NamePattern(r'_(\d{8}_\d{6})', '%Y%m%d_%H%M%S')


def _labels(path, names):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['video', 'start', 'end', 'label'])
        for name in names:
            start = 0
            for i in range(1, len(STAGES) + 1):
                if i == len(STAGES) or STAGES[i] != STAGES[start]:
                    w.writerow([name, start, i, CLASSES[STAGES[start]]])
                    start = i
    return path


@pytest.fixture(scope='module')
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp('sleep')
    (root / 'night').mkdir()
    for i, name in enumerate(NAMES):
        write_stage_video(root / 'night' / name, STAGES, seed=i)
    torch.manual_seed(0)
    clf = StreamingClassifier(tiny_config())
    return root, clf, _labels(root / 'labels.csv', NAMES)


def _run(root, clf, ann, out, **sleep):
    return stream_videos(clf, [root / 'night'], out, Smoothing(3), labels=str(ann),
                         session=SESSION, progress=False,
                         sleep=SleepSettings(epoch_sec=10, clock=ClockSettings(
                             name_pattern=FROM_NAME), boris=True, **sleep))


def _rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_a_session_gives_file_outputs_a_whole_night_and_a_cohort_row(night, tmp_path):
    root, clf, ann = night
    out = tmp_path / 'out'
    report = _run(root, clf, ann, out)
    assert [v['status'] for v in report['videos']] == ['done'] * 3
    # per file: epochs with clock time, EDF+ with the file's start, a BORIS table
    second = _rows(out / 'sow3_20240501_220100.epochs.csv')
    assert len(second) == 4 and {r['status'] for r in second} == {'scored'}
    assert second[0]['onset_clock'] == '2024-05-01T22:01:00.000'
    assert all(int(r['clips']) == 10 for r in second)
    for r in second:
        p = [float(r[f'p_{c}']) for c in CLASSES]
        assert sum(p) == pytest.approx(1, abs=1e-5)
    annotations, start = read_edf_annotations(str(out / 'sow3_20240501_220100.edf'))
    assert start == dt.datetime(2024, 5, 1, 22, 1)
    assert sum(d for _, d, _ in annotations) == 40.0
    assert (out / 'sow3_20240501_220100.boris.xlsx').exists()
    summary = json.loads((out / 'sow3_20240501_220100.json').read_text())
    assert summary['clock'] == dict(start='2024-05-01T22:01:00.000', source='file name',
                                    note=None)
    assert summary['epochs']['epoch_sec'] == 10.0 and summary['epochs']['scored'] == 4
    assert summary['agreement']['epochs']['smoothed']['epochs'] == 4
    assert 'rem_latency_from_sleep_onset' in summary['definitions']['epochs']
    assert summary['raw']['latency_to_first_rem_from_sleep_onset_s'] is not None or \
        summary['raw']['latency_to_first_rem_s'] is None
    # the night: 22:00:00-22:00:40, gap, 22:01:00-22:02:20 on one timeline
    epochs = _rows(out / '20240501.night.epochs.csv')
    assert len(epochs) == 14
    assert [r['status'] for r in epochs] == ['scored'] * 4 + ['not recorded'] * 2 + [
        'scored'] * 8
    assert epochs[4]['stage'] == '' and epochs[4]['yasa_code'] == '-2'
    assert [r['video'] for r in epochs[3:7]] == [NAMES[0], '', '', NAMES[1]]
    assert epochs[13]['offset_clock'] == '2024-05-01T22:02:20.000'
    meta = json.loads((out / '20240501.night.json').read_text())
    assert meta['placement'] == 'clock' and meta['animal'] == 'sow3'
    assert [f['offset_s'] for f in meta['files']] == [0.0, 60.0, 100.0]
    assert meta['epochs']['not_recorded'] == 2
    assert read_edf_annotations(str(out / '20240501.night.edf'))[1] == dt.datetime(
        2024, 5, 1, 22, 0)
    assert (out / '20240501.night.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # the night's stages are the per-file ones where the files do not meet (no smoothing
    # reaches across the gap); the cohort row is the night's
    cohort = _rows(out / 'cohort.csv')
    assert len(cohort) == 1
    row = cohort[0]
    assert (row['night'], row['animal'], row['files']) == ('20240501', 'sow3', '3')
    assert row['start'] == '2024-05-01T22:00:00' and row['start_source'] == 'file name'
    assert float(row['record_min']) == pytest.approx(14 * 10 / 60, abs=1e-3)
    assert float(row['not_recorded_min']) == pytest.approx(20 / 60, abs=1e-3)
    assert float(row['time_in_bed_min']) == pytest.approx(2.0, abs=1e-3)
    assert int(row['agreement_epochs']) == 12
    stage_min = sum(float(row[f'{c}_min']) for c in CLASSES)
    assert stage_min + float(row['unscored_min']) == pytest.approx(2.0, abs=1e-3)
    assert report['cohort']['nights'] == 1
    # a rerun stages nothing and rewrites the same night and cohort
    before = {p.name: p.read_bytes() for p in out.iterdir()
              if p.name.startswith('20240501.night') or p.name == 'cohort.csv'}
    report = _run(root, clf, ann, out)
    assert all(v.get('note') == 'finished earlier, not recomputed' for v in report['videos'])
    assert before == {name: (out / name).read_bytes() for name in before}


def test_without_a_clock_the_files_go_end_to_end_and_outputs_say_the_start_is_unknown(
        night, tmp_path):
    root, clf, ann = night
    out = tmp_path / 'out'
    stream_videos(clf, [root / 'night'], out, Smoothing(3), session=SESSION, progress=False,
                  sleep=SleepSettings(epoch_sec=10, clock=ClockSettings(creation_time=False)))
    summary = json.loads((out / 'sow3_20240501_220000.json').read_text())
    assert summary['clock']['start'] is None and 'unknown' in summary['clock']['note']
    meta = json.loads((out / '20240501.night.json').read_text())
    assert meta['placement'] == 'end to end' and 'gaps unknown' in meta['placement_note']
    epochs = _rows(out / '20240501.night.epochs.csv')
    assert len(epochs) == 12 and {r['status'] for r in epochs} == {'scored'}
    assert epochs[0]['onset_clock'] == ''
    row = _rows(out / 'cohort.csv')[0]
    assert row['start'] == '' and row['start_source'] == 'unknown'
    assert not (out / 'sow3_20240501_220000.boris.xlsx').exists()  # only with boris=True


def test_cli_hmm_with_a_forbidden_transition_and_the_lights_window(night, tmp_path):
    root, clf, ann = night
    config = write_config(tmp_path / 'tiny.py')
    ckpt = tmp_path / 'tiny.pth'
    torch.save(clf.model.state_dict(), ckpt)
    out = tmp_path / 'out'
    video = root / 'night' / NAMES[0]
    status = run_tool('stream_infer', [
        config, ckpt, video, '--out-dir', out, '--no-progress', '--smooth', 'hmm',
        '--transitions-from', ann, '--forbid', 'awake->rem', '--epoch-sec', '5',
        '--start', '2024-05-01T21:59:50', '--lights-off', '22:00', '--lights-on', '22:00:20',
        '--edf-stage', 'rem=Sleep stage REM', '--boris', '--boris-subject', 'sow3'])
    assert status == 0
    stem = out / NAMES[0].replace('.mp4', '')
    summary = json.loads(stem.with_suffix('.json').read_text())
    assert summary['smoothing']['method'] == 'hmm'
    assert summary['smoothing']['transitions']['matrix']['awake']['rem'] == 0
    assert summary['epochs']['transitions']['forbidden'] == ['awake->rem']
    assert summary['epochs']['transitions']['step_sec'] == 5.0
    lights = summary['epochs']['lights']
    assert lights['lights_off'] == '2024-05-01T22:00:00' and lights['window_epochs'] == [2, 6]
    assert summary['epochs']['statistics']['time_in_bed_min'] == pytest.approx(20 / 60, abs=1e-3)
    clips = _rows(stem.with_suffix('.csv'))
    smoothed = [r['smoothed_label'] for r in clips]
    assert not any(a == 'awake' and b == 'rem' for a, b in zip(smoothed, smoothed[1:]))
    stages = [r['stage'] for r in _rows(str(stem) + '.epochs.csv')]
    assert not any(a == 'awake' and b == 'rem' for a, b in zip(stages, stages[1:]))
    texts = {t for _, _, t in read_edf_annotations(str(stem) + '.edf')[0]}
    assert texts <= {'Sleep stage W', 'Sleep stage N', 'Sleep stage REM', 'Sleep stage ?'}
    cohort = _rows(out / 'cohort.csv')
    assert cohort[0]['smoothing'].startswith('HMM') and cohort[0]['lights_on'] == \
        '2024-05-01T22:00:20'


def test_cli_option_errors(night, tmp_path, capsys):
    root, clf, ann = night
    config = write_config(tmp_path / 'tiny.py')
    ckpt = tmp_path / 'tiny.pth'
    torch.save(clf.model.state_dict(), ckpt)
    base = [config, ckpt, root / 'night', '--out-dir', tmp_path / 'out', '--no-progress']
    with pytest.raises(UsageError, match='--smooth hmm needs a transition matrix'):
        run_tool('stream_infer', base + ['--smooth', 'hmm'])
    with pytest.raises(UsageError, match='not a regular expression'):
        run_tool('stream_infer', base + ['--start-from-name', '(', '%Y'])
    with pytest.raises(UsageError, match="--lights-off '10pm'"):
        run_tool('stream_infer', base + ['--lights-off', '10pm'])
    with pytest.raises(UsageError, match='--edf-stage'):
        run_tool('stream_infer', base + ['--edf-stage', 'rem'])
    with pytest.raises(UsageError, match="--forbid: 'awake->dream'"):
        run_tool('stream_infer', base + ['--smooth', 'hmm', '--transitions-from', ann,
                                         '--forbid', 'awake->dream'])
    with pytest.raises(SystemExit):
        run_tool('stream_infer', base + ['--smooth', 'lots'])
    assert "'lots' is neither a window in clips" in capsys.readouterr().err


def _legend_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_hypnogram_layout():
    truth = np.array(([0] * 10 + [1] * 30 + [2] * 10 + [0] * 10) * 2)
    pred = truth.copy()
    pred[45:49] = 1  # 4 of 120 steps
    probs = np.eye(3)[pred] * 0.8 + 0.2 / 3
    start = dt.datetime(2024, 5, 1, 21, 45)
    fig = hypnogram_figure(pred, pred, probs, CLASSES, 360.0, 'night', truth,
                           [dict(start=3600.0, end=5400.0, reason='x')], start=start,
                           not_recorded=[(36000.0, 39600.0)],
                           boundaries=[(0.0, 'a.mp4'), (39600.0, 'b.mp4')])
    stage_ax, scorer_ax, strip, dens = fig.axes
    # classes in axis order, wake on top, then REM above NREM; one colour per class
    top_down = sorted(zip(stage_ax.get_yticks(), stage_ax.get_yticklabels()),
                      key=lambda p: -p[0])
    assert [t.get_text() for _, t in top_down] == ['awake', 'rem', 'nrem']
    labels = _legend_labels(fig)
    assert labels[:3] == ['awake', 'rem', 'nrem']
    assert any(s.startswith('unreadable') for s in labels) and 'not recorded' in labels
    assert any(s.startswith('scorer differs (3%') for s in labels)
    colours = stage_colours(CLASSES)
    assert colours[2] == '#d62728' and len(set(colours)) == 3
    # the legend sits right of the data
    fig.canvas.draw()
    box = stage_ax.get_legend().get_window_extent()
    assert box.x0 > stage_ax.get_window_extent().x1
    # 12 hours: clock time on the axis, whole hours
    ticks = [t.get_text() for t in dens.get_xticklabels()]
    assert ticks[0] == '22:00' and all(t.endswith(':00') for t in ticks)
    assert 'clock time' in dens.get_xlabel()
    # without a clock: hours (minutes below 2 h)
    fig = hypnogram_figure(pred, pred, probs, CLASSES, 360.0, 'night')
    assert fig.axes[-1].get_xlabel().startswith('time from start (h)')
    fig = hypnogram_figure(pred[:60], pred[:60], probs[:60], CLASSES, 30.0, 'half hour')
    assert fig.axes[-1].get_xlabel().startswith('time from start (min)')
    assert len(fig.axes) == 2  # no scorer: stage and hypnodensity


def test_hypnogram_of_a_file_without_a_scored_clip_says_so():
    fig = hypnogram_figure(np.full(10, -1), np.full(10, -1), np.full((10, 3), np.nan), CLASSES,
                           30.0, 'broken.mp4', None, [dict(start=0.0, end=300.0, reason='x')])
    assert len(fig.axes) == 1
    assert 'no scored clips' in [t.get_text() for t in fig.axes[0].texts]
    assert _legend_labels(fig) == ['unreadable (5.0 min)']  # no legend for absent stages


def test_settings_from_the_config_with_options_on_top():
    from mmengine.config import Config
    from video_swin_plugin.errors import ConfigError
    cfg = Config(dict(classes=CLASSES, scoring_epoch_sec=20,
                      hmm_transitions=dict(matrix=[[.9, .05, .05], [.05, .9, .05],
                                                   [.05, .05, .9]],
                                           step_sec=20, forbidden=['awake->rem']),
                      edf_stage_strings=dict(nrem='Sleep stage NREM')))
    s = SleepSettings.from_config(cfg, method='hmm', edf_stage_strings={'rem': 'R'})
    assert s.epoch_sec == 20.0 and s.epoch_source == 'config scoring_epoch_sec'
    assert s.transitions.matrix[0, 2] == 0 and s.transitions.forbidden == [('awake', 'rem')]
    assert s.edf_stage_strings == {'nrem': 'Sleep stage NREM', 'rem': 'R'}
    assert SleepSettings.from_config(cfg, epoch_sec=30).epoch_source == '--epoch-sec'
    assert SleepSettings.from_config(None).epoch_sec is None  # 30 s by default
    with pytest.raises(ConfigError, match='hmm_transitions must be dict'):
        SleepSettings.from_config(Config(dict(classes=CLASSES, hmm_transitions=dict(
            matrix=[[1.0]]))))
    with pytest.raises(ConfigError, match='must be 3x3'):
        SleepSettings.from_config(Config(dict(classes=CLASSES, hmm_transitions=dict(
            matrix=[[1.0]], step_sec=30))))
    with pytest.raises(UsageError, match='config key scoring_epoch_sec'):
        SleepSettings.from_config(Config(dict(classes=CLASSES, scoring_epoch_sec=0)))
