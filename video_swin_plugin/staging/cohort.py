"""Whole-night sleep statistics and the run's ``cohort.csv`` (one row per night, session or
file, to compare animals and nights).

The measures follow the AASM definitions as YASA computes them (``Hypnogram.sleep_statistics``,
which the tests compare against), with every latency named by what it is measured from and
every share by what it is a share of; :data:`DEFINITIONS` is the block the JSON carries.
"""
import csv
import io
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..clip_grid import UNSCORED
from .smoothing import bouts

NOT_RECORDED = -3  # an epoch no file covers (a gap between the files of a night)

DEFINITIONS = {
    'epoch': 'the scoring unit: the mean probability of the clips whose centre falls in it; '
             'unscored when it holds no readable clip; "not recorded" when no file covers it',
    'window': 'lights-off to lights-on when both are given and the clock start is known, '
              'else the whole recording; every measure below counts epochs inside it only',
    'time_in_bed (TIB)': 'recorded epochs in the window, scored or unscored '
                         '(not-recorded gaps excluded)',
    'total_sleep_time (TST)': 'epochs of any sleep stage (scored, not wake)',
    'sleep_efficiency_pct (SE)': '100 * TST / TIB',
    'sleep_period_time (SPT)': 'from the first to the last sleep epoch, inclusive',
    'waso (wake after sleep onset)': 'wake epochs within the SPT',
    'sleep_onset_latency (SOL)': 'from the start of the window (lights-off, or the first '
                                 'recorded epoch) to the first sleep epoch',
    'rem_latency_from_start': 'from the start of the window to the first REM epoch (YASA\'s '
                              'Lat_REM)',
    'rem_latency_from_sleep_onset': 'from the first sleep epoch to the first REM epoch '
                                    '(the AASM REM latency)',
    '<stage>_pct_tst': 'share of TST in that sleep stage, percent (sleep stages only)',
    '<stage>_pct_tib': 'share of TIB in that stage, percent (wake included; unscored '
                       'epochs make the shares sum to less than 100)',
    'bouts / mean_bout': 'runs of consecutive epochs of one stage, and their mean length',
    'transitions': 'changes of stage between consecutive scored epochs',
    'fragmentation_index': 'transitions from a sleep stage to wake per hour of TST '
                           '(YASA\'s SFI)',
    'unscored_min': 'recorded epochs in the window without a readable clip',
    'not_recorded_min': 'epochs of the night\'s timeline that no file covers',
}


def _minutes(n: int, epoch_sec: float) -> float:
    return round(n * epoch_sec / 60.0, 3)


def night_statistics(labels: np.ndarray, epoch_sec: float, classes: Sequence[str],
                     wake: Optional[int], rem: Optional[int],
                     window: Optional[slice] = None) -> Dict:
    """The measures of :data:`DEFINITIONS` for one night, as a flat dict (minutes, percent).

    Args:
        labels (ndarray[E]): stage per epoch; ``-1`` unscored, ``-3`` not recorded.
        epoch_sec (float): epoch length (s).
        classes: stage names.
        wake, rem (int, optional): indices of the wake and REM classes (None: the measures
            that need them are left empty).
        window (slice, optional): the epochs between lights-off and lights-on.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if window is not None:
        labels = labels[window]
    recorded = labels != NOT_RECORDED
    scored = recorded & (labels != UNSCORED)
    sleep = scored & (labels != wake) if wake is not None else np.zeros_like(scored)
    m = lambda n: _minutes(int(n), epoch_sec)  # noqa: E731
    tib, tst = int(recorded.sum()), int(sleep.sum())
    first_recorded = np.flatnonzero(recorded)
    origin = int(first_recorded[0]) if first_recorded.size else 0
    sleep_idx = np.flatnonzero(sleep)
    row: Dict = dict(time_in_bed_min=m(tib), total_sleep_time_min=m(tst) if wake is not None
                     else None)
    row['sleep_efficiency_pct'] = round(100.0 * tst / tib, 2) if tib and wake is not None \
        else None
    if sleep_idx.size:
        onset, last = int(sleep_idx[0]), int(sleep_idx[-1])
        period = labels[onset:last + 1]
        row['sleep_period_time_min'] = m(last - onset + 1)
        row['waso_min'] = m((period == wake).sum())
        row['sleep_onset_latency_min'] = m(onset - origin)
    else:
        onset = None
        row.update(sleep_period_time_min=None, waso_min=None, sleep_onset_latency_min=None)
    first_rem = np.flatnonzero(labels == rem) if rem is not None else np.zeros(0, np.int64)
    row['rem_latency_from_start_min'] = m(first_rem[0] - origin) if first_rem.size else None
    row['rem_latency_from_sleep_onset_min'] = (m(first_rem[0] - onset)
                                               if first_rem.size and onset is not None else None)
    runs = [r for r in bouts(np.where(scored, labels, UNSCORED)) if r[0] >= 0]
    for i, name in enumerate(classes):
        n = int((labels == i).sum())
        lengths = [length for label, _, length in runs if label == i]
        row[f'{name}_min'] = m(n)
        row[f'{name}_pct_tst'] = (round(100.0 * n / tst, 2) if tst and i != wake
                                  and wake is not None else None)
        row[f'{name}_pct_tib'] = round(100.0 * n / tib, 2) if tib else None
        row[f'{name}_bouts'] = len(lengths)
        row[f'{name}_mean_bout_min'] = (round(float(np.mean(lengths)) * epoch_sec / 60, 3)
                                        if lengths else None)
    a, b = labels[:-1], labels[1:]
    change = (a != b) & (a >= 0) & (b >= 0)
    row['transitions'] = int(change.sum())
    to_wake = change & (b == wake) if wake is not None else np.zeros_like(change)
    row['fragmentation_index'] = (round(int(to_wake.sum()) / (tst * epoch_sec / 3600.0), 3)
                                  if tst else None)
    row['unscored_min'] = m((recorded & ~scored).sum())
    row['not_recorded_min'] = m((~recorded).sum())
    return row


def cohort_columns(classes: Sequence[str]) -> List[str]:
    per_stage = [f'{c}_{k}' for c in classes
                 for k in ('min', 'pct_tst', 'pct_tib', 'bouts', 'mean_bout_min')]
    return (['night', 'animal', 'files', 'start', 'start_source', 'lights_off', 'lights_on',
             'epoch_sec', 'smoothing', 'record_min', 'time_in_bed_min', 'total_sleep_time_min',
             'sleep_efficiency_pct', 'sleep_period_time_min', 'waso_min',
             'sleep_onset_latency_min', 'rem_latency_from_start_min',
             'rem_latency_from_sleep_onset_min'] + per_stage
            + ['transitions', 'fragmentation_index', 'unscored_min', 'not_recorded_min',
               'agreement_epochs', 'accuracy', 'kappa', 'macro_f1'])


def cohort_csv(rows: Sequence[Dict], classes: Sequence[str]) -> str:
    """``cohort.csv``: the columns of :func:`cohort_columns`, one row per night; empty cells
    for measures that do not apply (no sleep, no labels, start unknown)."""
    columns = cohort_columns(classes)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(columns)
    for row in rows:
        writer.writerow(['' if row.get(c) is None else row.get(c) for c in columns])
    return buf.getvalue()
