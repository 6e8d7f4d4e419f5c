"""The standard formats, read back by the tools of the field: EDF+ hypnograms (edfio, which
wrote them, and MNE), YASA integer codes (``yasa.Hypnogram``), the epoch CSV, and the BORIS
import table."""
import csv
import datetime as dt
import io

import numpy as np
import pytest

from video_swin_plugin.errors import ConfigError
from video_swin_plugin.staging.boris import import_rows, import_xlsx, read_import_xlsx
from video_swin_plugin.staging.edf import edf_bytes, hypnogram_annotations, read_edf_annotations
from video_swin_plugin.staging.epochs import clip_epochs
from video_swin_plugin.staging.formats import (edf_stage_strings, epochs_csv, epochs_header,
                                               stage_runs, yasa_codes, yasa_stage_count)

CLASSES = ['awake', 'nrem', 'rem']
STAGES = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, -1, -1, 1, 1, 0, 2])
START = dt.datetime(2024, 5, 1, 22, 0, 5)


def test_default_stage_strings_and_codes():
    assert edf_stage_strings(CLASSES) == ['Sleep stage W', 'Sleep stage N', 'Sleep stage R']
    assert edf_stage_strings(['W', 'N1', 'N2', 'N3', 'R']) == [
        'Sleep stage W', 'Sleep stage N1', 'Sleep stage N2', 'Sleep stage N3', 'Sleep stage R']
    assert yasa_codes(CLASSES) == [0, 2, 4]
    assert yasa_codes(['wake', 'n1', 'n2', 'n3', 'rem']) == [0, 1, 2, 3, 4]
    assert yasa_codes(['lying', 'rem']) == [None, 4]  # no usual equivalent: left empty
    assert yasa_codes(['lying', 'rem'], {'lying': 2}) == [2, 4]
    assert yasa_stage_count([0, 2, 4]) == 3 and yasa_stage_count([0, 1, 2, 3, 4]) == 5


def test_overrides_are_checked():
    assert edf_stage_strings(CLASSES, {'rem': 'Sleep stage REM'})[2] == 'Sleep stage REM'
    with pytest.raises(ConfigError, match="'sleep'"):
        edf_stage_strings(CLASSES, {'sleep': 'x'})
    with pytest.raises(ConfigError, match='printable ASCII'):
        edf_stage_strings(CLASSES, {'rem': 'Schlaf\u00e4'})
    with pytest.raises(ConfigError, match='-2..4'):
        yasa_codes(CLASSES, {'rem': 5})


def _write_edf(path, start=START):
    texts = edf_stage_strings(CLASSES)
    annotations = hypnogram_annotations(STAGES, 30.0, texts)
    path.write_bytes(edf_bytes(annotations, start, 'night/recording 1.mp4'))
    return annotations


def _expected_runs():
    texts = ['Sleep stage W', 'Sleep stage N', 'Sleep stage R']
    return [(0.0, 90.0, texts[0]), (90.0, 120.0, texts[1]), (210.0, 60.0, texts[2]),
            (270.0, 60.0, 'Sleep stage ?'), (330.0, 60.0, texts[1]), (390.0, 30.0, texts[0]),
            (420.0, 30.0, texts[2])]


def test_edf_hypnogram_reads_back_through_edfio(tmp_path):
    annotations = _write_edf(tmp_path / 'h.edf')
    assert annotations == _expected_runs()
    read, start = read_edf_annotations(str(tmp_path / 'h.edf'))
    assert read == _expected_runs()
    assert start == START
    # the header is EDF+ (annotations only, continuous) with the recording's start
    header = (tmp_path / 'h.edf').read_bytes()[:256].decode('ascii')
    assert header[168:184] == '01.05.2422.00.05' and header[192:197] == 'EDF+C'
    assert 'Startdate 01-MAY-2024' in header[88:168]


def test_edf_with_unknown_start_says_so(tmp_path):
    texts = edf_stage_strings(CLASSES)
    (tmp_path / 'h.edf').write_bytes(edf_bytes(hypnogram_annotations(STAGES, 30.0, texts), None))
    header = (tmp_path / 'h.edf').read_bytes()[:256].decode('ascii')
    assert 'Startdate X' in header[88:168]
    assert read_edf_annotations(str(tmp_path / 'h.edf'))[1] is None


def test_edf_hypnogram_reads_back_through_mne(tmp_path):
    import mne
    _write_edf(tmp_path / 'h.edf')
    ann = mne.read_annotations(tmp_path / 'h.edf')
    expected = _expected_runs()
    np.testing.assert_allclose(ann.onset, [e[0] for e in expected])
    np.testing.assert_allclose(ann.duration, [e[1] for e in expected])
    assert list(ann.description) == [e[2] for e in expected]
    # the Sleep-EDF event mapping MNE's sleep tutorial uses recognises the stage texts
    events, ids = mne.events_from_annotations(
        mne.io.RawArray(np.zeros((1, 50 * 500)), mne.create_info(1, 1.0), verbose=False)
        .set_annotations(ann), chunk_duration=30.0, verbose=False)
    assert set(ids) == {'Sleep stage W', 'Sleep stage N', 'Sleep stage R', 'Sleep stage ?'}
    assert len(events) == 15  # one event per 30-s epoch


def _epoch_table():
    rng = np.random.default_rng(0)
    n = len(STAGES)
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), np.maximum(STAGES, 0)] = 0.8
    centres = np.arange(n) * 30.0 + 15.0
    return clip_epochs(centres, probs + rng.normal(0, 0.01, probs.shape), STAGES >= 0, 30.0)


def test_epochs_csv_columns_clock_and_codes():
    table = _epoch_table()
    text = epochs_csv(table, STAGES, CLASSES, yasa_codes(CLASSES), START,
                      scorer=np.where(STAGES >= 0, STAGES, -1))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == epochs_header(CLASSES, with_scorer=True)
    assert len(rows) == len(STAGES)
    assert rows[0]['onset_clock'] == '2024-05-01T22:00:05.000'
    assert rows[14]['offset_clock'] == '2024-05-01T22:07:35.000'
    assert [r['stage'] for r in rows[:4]] == ['awake'] * 3 + ['nrem']
    assert [int(r['yasa_code']) for r in rows] == [
        -2 if s < 0 else [0, 2, 4][s] for s in STAGES]
    assert rows[9]['status'] == 'unscored' and rows[9]['p_rem'] == '' and rows[9]['stage'] == ''
    assert float(rows[7]['p_rem']) == pytest.approx(table.probs[7, 2], abs=1e-6)
    assert [float(r['onset_s']) for r in rows] == list(np.arange(15) * 30.0)
    no_clock = list(csv.DictReader(io.StringIO(epochs_csv(table, STAGES, CLASSES,
                                                           yasa_codes(CLASSES)))))
    assert no_clock[0]['onset_clock'] == ''


def test_yasa_hypnogram_round_trip():
    import yasa
    codes = yasa_codes(CLASSES)
    ints = np.array([-2 if s < 0 else codes[s] for s in STAGES])
    hyp = yasa.Hypnogram.from_integers(ints, mapping={0: 'WAKE', 2: 'NREM', 4: 'REM',
                                                      -2: 'UNS', -1: 'ART'},
                                       n_stages=yasa_stage_count(codes), freq='30s',
                                       start=START)
    assert list(hyp.hypno.astype(str)) == [
        'UNS' if s < 0 else ['WAKE', 'NREM', 'REM'][s] for s in STAGES]
    np.testing.assert_array_equal(hyp.as_int().to_numpy(), ints)
    assert hyp.hypno.index[0] == START and hyp.n_epochs == len(STAGES)
    # the codes we write are YASA's own for these stages
    for name, code in zip(['WAKE', 'NREM', 'REM'], codes):
        assert hyp.mapping[name] == code


def test_boris_import_table_pairs_start_and_stop(tmp_path):
    runs = stage_runs(STAGES, 30.0)
    rows = import_rows(runs, CLASSES, 'sow3', probs=lambda r: 0.75)
    (tmp_path / 'b.xlsx').write_bytes(import_xlsx(rows))
    back = read_import_xlsx(str(tmp_path / 'b.xlsx'))
    assert back[:4] == [[0.0, 'sow3', 'awake', '', 'p=0.75'], [90.0, 'sow3', 'awake', '', ''],
                        [90.0, 'sow3', 'nrem', '', 'p=0.75'], [210.0, 'sow3', 'nrem', '', '']]
    # BORIS pairs state events of one code in time order: every code toggles on then off
    by_code = {}
    for time, _, code, _, _ in back:
        by_code.setdefault(code, []).append(time)
    paired = sorted((t[i], t[i + 1], c) for c, t in by_code.items() for i in range(0, len(t), 2))
    scored = [(r['onset'], r['onset'] + r['duration'], CLASSES[r['stage']]) for r in runs
              if r['stage'] >= 0]
    assert paired == sorted(scored)
    assert all(len(t) % 2 == 0 for t in by_code.values())
