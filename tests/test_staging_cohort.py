"""Whole-night statistics on hand-made hypnograms, by hand and against YASA's
``sleep_statistics``; the cohort table; the per-clip statistics' named latencies and shares."""
import csv
import io

import numpy as np
import pytest

from video_swin_plugin.staging.cohort import (NOT_RECORDED, cohort_columns, cohort_csv,
                                              night_statistics)
from video_swin_plugin.staging.reports import stage_statistics

CLASSES = ['awake', 'nrem', 'rem']
W, N, R, U = 0, 1, 2, -1
# 30-s epochs: 4 wake (2 min), 10 NREM, 2 wake, 6 NREM, 4 REM, 2 unscored, 4 NREM, 3 wake
NIGHT = np.array([W] * 4 + [N] * 10 + [W] * 2 + [N] * 6 + [R] * 4 + [U] * 2 + [N] * 4 + [W] * 3)


def test_night_statistics_by_hand():
    s = night_statistics(NIGHT, 30.0, CLASSES, 0, 2)
    assert s['time_in_bed_min'] == 17.5  # 35 epochs, unscored included
    assert s['total_sleep_time_min'] == 12.0  # 24 sleep epochs
    assert s['sleep_efficiency_pct'] == pytest.approx(100 * 24 / 35, abs=0.01)
    assert s['sleep_onset_latency_min'] == 2.0
    assert s['sleep_period_time_min'] == 14.0  # epochs 4..31
    assert s['waso_min'] == 1.0  # the 2 wake epochs inside the sleep period, not the final 3
    assert s['rem_latency_from_start_min'] == 11.0  # epoch 22
    assert s['rem_latency_from_sleep_onset_min'] == 9.0
    assert s['nrem_min'] == 10.0 and s['rem_min'] == 2.0 and s['awake_min'] == 4.5
    assert s['nrem_pct_tst'] == pytest.approx(100 * 20 / 24, abs=0.01)
    assert s['rem_pct_tst'] == pytest.approx(100 * 4 / 24, abs=0.01)
    assert s['awake_pct_tst'] is None  # wake is not part of TST
    assert s['awake_pct_tib'] == pytest.approx(100 * 9 / 35, abs=0.01)
    assert s['nrem_bouts'] == 3 and s['awake_bouts'] == 3 and s['rem_bouts'] == 1
    assert s['nrem_mean_bout_min'] == pytest.approx(20 / 3 * 0.5, abs=1e-3)
    # W->N, N->W, W->N, N->R, (R->U, U->N not counted), N->W
    assert s['transitions'] == 5
    assert s['fragmentation_index'] == pytest.approx(2 / 0.2, abs=1e-3)  # 2 awakenings / 0.2 h
    assert s['unscored_min'] == 1.0 and s['not_recorded_min'] == 0.0


def test_night_statistics_match_yasa():
    import yasa
    names = {W: 'WAKE', N: 'NREM', R: 'REM', U: 'UNS'}
    hyp = yasa.Hypnogram([names[int(v)] for v in NIGHT], n_stages=3, freq='30s')
    ref = hyp.sleep_statistics()
    s = night_statistics(NIGHT, 30.0, CLASSES, 0, 2)
    pairs = [('TIB', 'time_in_bed_min'), ('TST', 'total_sleep_time_min'),
             ('SPT', 'sleep_period_time_min'), ('WASO', 'waso_min'),
             ('SOL', 'sleep_onset_latency_min'), ('Lat_REM', 'rem_latency_from_start_min'),
             ('SE', 'sleep_efficiency_pct'), ('SFI', 'fragmentation_index'),
             ('%NREM', 'nrem_pct_tst'), ('%REM', 'rem_pct_tst'), ('NREM', 'nrem_min'),
             ('REM', 'rem_min'), ('WAKE', 'awake_min')]
    for theirs, ours in pairs:
        assert s[ours] == pytest.approx(float(ref[theirs]), abs=0.01), (theirs, ours)
    assert s['rem_latency_from_sleep_onset_min'] == pytest.approx(
        float(ref['Lat_REM'] - ref['SOL']), abs=0.01)  # the AASM REM latency, as YASA says


def test_not_recorded_epochs_are_out_of_time_in_bed_and_the_window_bounds_everything():
    labels = np.array([W] * 4 + [N] * 6 + [NOT_RECORDED] * 10 + [N] * 4 + [R] * 2 + [W] * 4)
    s = night_statistics(labels, 30.0, CLASSES, 0, 2)
    assert s['time_in_bed_min'] == 10.0 and s['not_recorded_min'] == 5.0
    assert s['sleep_period_time_min'] == 11.0  # the gap lies inside the sleep period
    assert s['waso_min'] == 0.0
    # lights-off at epoch 2, lights-on at epoch 22: 4 recorded epochs before, 8 after
    s = night_statistics(labels, 30.0, CLASSES, 0, 2, window=slice(2, 22))
    assert s['time_in_bed_min'] == 5.0 and s['sleep_onset_latency_min'] == 1.0
    assert s['rem_min'] == 0.0 and s['rem_latency_from_start_min'] is None


def test_no_sleep_and_no_wake_class():
    s = night_statistics(np.array([W] * 10), 30.0, CLASSES, 0, 2)
    assert s['total_sleep_time_min'] == 0.0 and s['sleep_onset_latency_min'] is None
    assert s['fragmentation_index'] is None and s['rem_latency_from_sleep_onset_min'] is None
    s = night_statistics(np.array([0, 1, 1]), 30.0, ['lying', 'standing'], None, None)
    assert s['total_sleep_time_min'] is None and s['sleep_efficiency_pct'] is None


def test_cohort_csv_has_one_row_per_night_and_empty_cells_for_missing_values():
    rows = [dict(night='sow1', animal='1', files=3, **night_statistics(NIGHT, 30, CLASSES, 0, 2)),
            dict(night='sow2', animal='2', files=1, accuracy=0.9,
                 **night_statistics(np.array([W] * 4), 30, CLASSES, 0, 2))]
    table = list(csv.DictReader(io.StringIO(cohort_csv(rows, CLASSES))))
    assert list(table[0]) == cohort_columns(CLASSES)
    assert [r['night'] for r in table] == ['sow1', 'sow2']
    assert table[0]['total_sleep_time_min'] == '12.0' and table[0]['accuracy'] == ''
    assert table[1]['sleep_onset_latency_min'] == '' and table[1]['accuracy'] == '0.9'
    for column in ('rem_latency_from_start_min', 'rem_latency_from_sleep_onset_min',
                   'nrem_pct_tst', 'nrem_pct_tib', 'fragmentation_index', 'waso_min'):
        assert column in table[0]


def test_clip_statistics_name_their_latencies_and_shares():
    labels = np.array([W] * 4 + [N] * 4 + [R] * 2 + [U] * 2 + [N] * 8)
    s = stage_statistics(labels, CLASSES, 2.0, 0)
    assert s['latency_to_first_rem_s'] == s['latency_to_first_rem_from_start_s'] == 16.0
    assert s['latency_to_first_rem_from_sleep_onset_s'] == 8.0
    assert s['stages']['nrem']['share'] == pytest.approx(12 / 18, abs=1e-4)
    assert s['stages']['nrem']['share_of_record'] == pytest.approx(12 / 20, abs=1e-4)
    assert s['stages']['nrem']['share_of_tst'] == pytest.approx(12 / 14, abs=1e-4)
    assert s['stages']['awake']['share_of_tst'] is None
    assert s['total_sleep_time_s'] == 28.0 and s['latency_to_first_sleep_s'] == 8.0
