"""tools/boris_to_csv.py: BORIS aggregated-events exports (as BORIS 8 writes them, TSV and
XLSX, and BORIS 7's columns) into the annotation CSV; a round trip from our predictions through
the BORIS import table, paired the way BORIS pairs state events, and back."""
import csv

import numpy as np
import openpyxl
import pytest

from video_swin_plugin.datasets.long_video import read_intervals
from video_swin_plugin.errors import AnnotationError, UsageError
from video_swin_plugin.staging.boris import import_rows
from video_swin_plugin.staging.formats import stage_runs

from .helpers import run_tool

CLASSES = ['awake', 'nrem', 'rem']
HEADER8 = ['Observation id', 'Observation date', 'Description', 'Observation type', 'Source',
           'Time offset (s)', 'Coding duration', 'Media duration (s)', 'FPS (frame/s)',
           'Subject', 'Observation duration by subject by observation', 'Behavior',
           'Behavioral category', 'Behavior type', 'Start (s)', 'Stop (s)', 'Duration (s)',
           'Media file name', 'Image index start', 'Image index stop', 'Image file path start',
           'Image file path stop', 'Comment start', 'Comment stop']


def _row8(obs, source, durations, subject, behavior, kind, start, stop, media, offset=0.0):
    return [obs, '2024-05-02 09:00:00', '', 'Media file', source, offset, '', durations, '8.000',
            subject, '', behavior, '', kind, f'{start:.3f}', f'{stop:.3f}',
            f'{stop - start:.3f}' if kind == 'STATE' else 'NA', media, '', '', 'NA', 'NA', '', '']


def _write(path, header, rows, delimiter='\t'):
    if path.suffix == '.xlsx':
        book = openpyxl.Workbook()
        book.active.append(header)
        for r in rows:
            book.active.append(r)
        book.save(path)
        return path
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def _read(path):
    with open(path, newline='') as f:
        return [(r['video'], float(r['start']), float(r['end']), r['label'])
                for r in csv.DictReader(f)]


@pytest.fixture
def export(tmp_path):
    """One observation of two 60-s files (times run on across them), scored for sow3 with
    a state that crosses the file boundary, a point event, and sow4 in another file."""
    two = 'player #1:/data/night/a.mp4;/data/night/b.mp4'
    rows = [_row8('obs1', two, '60.000;60.000', 'sow3', 'Wake', 'STATE', 0, 20,
                  '/data/night/a.mp4'),
            _row8('obs1', two, '60.000;60.000', 'sow3', 'Quiet sleep', 'STATE', 20, 75,
                  '/data/night/a.mp4'),  # runs on into b.mp4 until 15 s
            _row8('obs1', two, '60.000;60.000', 'sow3', 'Twitch', 'POINT', 30, 30,
                  '/data/night/a.mp4'),
            _row8('obs1', two, '60.000;60.000', 'sow3', 'REM', 'STATE', 75, 120,
                  '/data/night/b.mp4'),
            _row8('obs2', 'player #1:/data/night/c.mp4', '40.000', 'sow4', 'Wake', 'STATE',
                  5, 40, '/data/night/c.mp4')]
    return _write(tmp_path / 'aggregated.tsv', HEADER8, rows)


def test_aggregated_export_to_annotation_csv(export, tmp_path):
    out = tmp_path / 'labels.csv'
    assert run_tool('boris_to_csv', [export, '--out', out, '--classes', 'awake,nrem,rem',
                                     '--map', 'Wake=awake', '--map', 'Quiet sleep=nrem',
                                     '--relative-to', '/data']) == 0
    assert _read(out) == [('night/a.mp4', 0.0, 20.0, 'awake'), ('night/a.mp4', 20.0, 60.0, 'nrem'),
                          ('night/b.mp4', 0.0, 15.0, 'nrem'), ('night/b.mp4', 15.0, 60.0, 'rem'),
                          ('night/c.mp4', 5.0, 40.0, 'awake')]
    read_intervals(str(out), CLASSES)  # what training and --labels read


def test_subject_filter_basename_and_xlsx(export, tmp_path):
    with open(export, newline='') as f:
        rows = list(csv.reader(f, delimiter='\t'))
    xlsx = _write(tmp_path / 'aggregated.xlsx', rows[0], rows[1:])
    out = tmp_path / 'labels.csv'
    run_tool('boris_to_csv', [xlsx, '--out', out, '--classes', 'awake,nrem,rem', '--map',
                              'Wake=awake', '--map', 'Quiet sleep=nrem', '--subject', 'sow4',
                              '--basename'])
    assert _read(out) == [('c.mp4', 5.0, 40.0, 'awake')]


def test_boris7_columns_and_time_offset(tmp_path):
    header = ['Observation id', 'Observation date', 'Description', 'Media file', 'Total length',
              'FPS', 'Subject', 'Behavior', 'Modifiers', 'Behavior type', 'Start (s)',
              'Stop (s)', 'Duration (s)', 'Comment start', 'Comment stop']
    rows = [['o', '', '', 'd.mp4', '100', '25', '', 'awake', '', 'STATE', '12', '40', '28', '',
             ''], ['o', '', '', 'd.mp4', '100', '25', '', 'REM', '', 'STATE', '40', '52', '12',
                   '', '']]
    out = tmp_path / 'labels.csv'
    run_tool('boris_to_csv', [_write(tmp_path / 'old.csv', header, rows, ','), '--out', out,
                              '--classes', 'awake,nrem,rem'])
    assert _read(out) == [('d.mp4', 12.0, 40.0, 'awake'), ('d.mp4', 40.0, 52.0, 'rem')]


def test_bad_exports_are_named(export, tmp_path):
    out = tmp_path / 'labels.csv'
    base = ['--out', out, '--classes', 'awake,nrem,rem']
    with pytest.raises(AnnotationError, match=r"aggregated.tsv, line 3: behavior 'Quiet sleep' "
                                              r'maps to no class'):
        run_tool('boris_to_csv', [export] + base + ['--map', 'Wake=awake'])
    assert not out.exists()
    run_tool('boris_to_csv', [export] + base + ['--map', 'Wake=awake', '--drop-unmapped'])
    assert {r[3] for r in _read(out)} == {'awake', 'rem'}
    with pytest.raises(AnnotationError, match=r"--map targets \['sleep'\]"):
        run_tool('boris_to_csv', [export] + base + ['--map', 'Wake=sleep'])
    with pytest.raises(AnnotationError, match="no events of subject 'sow9'"):
        run_tool('boris_to_csv', [export] + base + ['--subject', 'sow9', '--drop-unmapped'])
    two = [_row8('o', 'player #1:e.mp4', '60', 'sow1', 'awake', 'STATE', 0, 30, 'e.mp4'),
           _row8('o', 'player #1:e.mp4', '60', 'sow2', 'rem', 'STATE', 0, 30, 'e.mp4')]
    with pytest.raises(AnnotationError, match=r"e.mp4 is scored for several subjects "
                                              r"\['sow1', 'sow2'\]"):
        run_tool('boris_to_csv', [_write(tmp_path / 'two.tsv', HEADER8, two)] + base)
    overlap = [_row8('o', 'player #1:e.mp4', '60', 's', 'awake', 'STATE', 0, 30, 'e.mp4'),
               _row8('o', 'player #1:e.mp4', '60', 's', 'rem', 'STATE', 20, 40, 'e.mp4')]
    with pytest.raises(AnnotationError, match=r'overlap.tsv, line 3: rem \[20.0, 40.0\) of e.mp4 '
                                              r'overlaps awake'):
        run_tool('boris_to_csv', [_write(tmp_path / 'overlap.tsv', HEADER8, overlap)] + base)
    (tmp_path / 'plain.csv').write_text('a,b\n1,2\n')
    with pytest.raises(AnnotationError, match='no header row with "Behavior"'):
        run_tool('boris_to_csv', [tmp_path / 'plain.csv'] + base)
    with pytest.raises(UsageError, match='not under --relative-to'):
        run_tool('boris_to_csv', [export] + base + ['--drop-unmapped', '--relative-to', '/x'])


def _boris_pairs(rows, media, duration):
    """What BORIS does with an imported table: each code's events toggle its state on and off
    in time order; the aggregated export lists the resulting state events."""
    on, events = {}, []
    for time, subject, code, _, _ in rows:
        if code in on:
            events.append(_row8('review', f'player #1:{media}', f'{duration:.3f}', subject,
                                code, 'STATE', on.pop(code), time, media))
        else:
            on[code] = time
    assert not on, 'every state started is stopped'
    return events


def test_predictions_to_boris_and_back(tmp_path):
    stages = np.array([0] * 4 + [1] * 10 + [2] * 3 + [-1] * 2 + [1] * 5 + [0] * 2)
    runs = stage_runs(stages, 30.0)
    rows = import_rows(runs, CLASSES, 'sow3')
    export = _write(tmp_path / 'review.tsv', HEADER8,
                    _boris_pairs(rows, 'rec.mp4', len(stages) * 30.0))
    out = tmp_path / 'labels.csv'
    run_tool('boris_to_csv', [export, '--out', out, '--classes', 'awake,nrem,rem'])
    expected = [('rec.mp4', r['onset'], r['onset'] + r['duration'], CLASSES[r['stage']])
                for r in runs if r['stage'] >= 0]
    assert _read(out) == expected
