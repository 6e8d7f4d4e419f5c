"""Stage names as sleep tools spell them, and the per-epoch CSV.

- YASA integer codes (``yasa.Hypnogram``'s ``mapping``): WAKE 0, N1 1, N2 2 (also NREM and
  LIGHT), N3 3 (DEEP), REM 4, artefact -1, unscored -2. Our class names map to them by their
  usual spellings; a config's ``yasa_codes = dict(<class>=<code>)`` overrides or completes that.
- EDF+ hypnogram annotation texts, "Sleep stage W/N1/N2/N3/N/R/?" (the spelling of the Sleep-EDF
  files MNE reads); a config's ``edf_stage_strings = dict(<class>=<text>)`` or
  ``--edf-stage CLASS=TEXT`` overrides them.
"""
import csv
import io
from datetime import datetime, timedelta
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..clip_grid import UNSCORED
from ..errors import ConfigError
from .epochs import EpochTable

YASA_UNSCORED = -2
YASA_ARTEFACT = -1
# class name (lower case) -> (YASA stage name, YASA code, EDF+ text)
_KNOWN = {
    **{n: ('WAKE', 0, 'Sleep stage W') for n in ('awake', 'wake', 'w')},
    **{n: ('N1', 1, 'Sleep stage N1') for n in ('n1', 's1')},
    **{n: ('N2', 2, 'Sleep stage N2') for n in ('n2', 's2')},
    **{n: ('N3', 3, 'Sleep stage N3') for n in ('n3', 's3', 'sws')},
    **{n: ('NREM', 2, 'Sleep stage N') for n in ('nrem', 'n', 'non-rem', 'nonrem')},
    **{n: ('LIGHT', 2, 'Sleep stage N') for n in ('light',)},
    **{n: ('DEEP', 3, 'Sleep stage N3') for n in ('deep',)},
    **{n: ('REM', 4, 'Sleep stage R') for n in ('rem', 'r', 'paradoxical')},
    **{n: ('ART', YASA_ARTEFACT, 'Sleep stage ?') for n in ('artefact', 'artifact', 'art')},
    **{n: ('UNS', YASA_UNSCORED, 'Sleep stage ?') for n in ('unscored', 'uns', 'unknown')},
}
EDF_UNSCORED = 'Sleep stage ?'


def yasa_codes(classes: Sequence[str], overrides: Optional[Mapping[str, int]] = None
               ) -> List[Optional[int]]:
    """The YASA integer code of each class (None for a class with no usual equivalent and no
    override)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(classes))
    if unknown:
        raise ConfigError(f'yasa_codes names {unknown}, which are not classes {list(classes)}')
    out = []
    for c in classes:
        if c in overrides:
            code = overrides[c]
            if code not in (-2, -1, 0, 1, 2, 3, 4):
                raise ConfigError(f'yasa_codes[{c!r}] = {code!r}: YASA codes are -2..4')
            out.append(int(code))
        else:
            known = _KNOWN.get(c.lower())
            out.append(known[1] if known else None)
    return out


def yasa_stage_count(codes: Sequence[Optional[int]]) -> int:
    """The ``n_stages`` of ``yasa.Hypnogram`` these codes fit (5 when N1 or N3 appears, 3 for
    wake/NREM/REM, 2 for wake/sleep)."""
    used = {c for c in codes if c is not None and c >= 0}
    if used & {1, 3}:
        return 5
    return 3 if used & {2, 4} else 2


def edf_stage_strings(classes: Sequence[str], overrides: Optional[Mapping[str, str]] = None
                      ) -> List[str]:
    """The EDF+ annotation text of each class: the override, else the usual "Sleep stage X",
    else ``"Sleep stage <class>"``."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(classes))
    if unknown:
        raise ConfigError(f'EDF stage strings name {unknown}, which are not classes '
                          f'{list(classes)}')
    out = []
    for c in classes:
        known = _KNOWN.get(c.lower())
        text = str(overrides.get(c, known[2] if known else f'Sleep stage {c}'))
        if not text or any(ord(ch) < 32 or ord(ch) > 126 for ch in text):
            raise ConfigError(f'EDF stage string for {c!r} must be printable ASCII, got {text!r}')
        out.append(text)
    return out


def clock(start: Optional[datetime], seconds: float) -> str:
    """ISO 8601 clock time ``seconds`` after ``start`` ('' when the start is unknown)."""
    if start is None:
        return ''
    return (start + timedelta(seconds=float(seconds))).isoformat(timespec='milliseconds')


def epochs_header(classes: Sequence[str], with_video: bool = False,
                  with_scorer: bool = False) -> List[str]:
    return (['epoch', 'onset_s', 'offset_s', 'onset_clock', 'offset_clock', 'status', 'stage',
             'raw_stage', 'yasa_code', 'clips'] + (['video'] if with_video else [])
            + (['scorer_stage'] if with_scorer else []) + [f'p_{c}' for c in classes])


def epochs_csv(table: EpochTable, stages: np.ndarray, classes: Sequence[str],
               codes: Sequence[Optional[int]], start: Optional[datetime] = None,
               videos: Optional[Sequence[str]] = None,
               scorer: Optional[np.ndarray] = None) -> str:
    """One row per epoch: index, onset/offset (s and clock), status (scored, unscored, not
    recorded), smoothed stage, raw stage (argmax of the mean probabilities), YASA code (-2 for
    unscored and not recorded), clips averaged, optionally the file each epoch starts in and the
    scorer's stage, then the mean probability of each class (the hypnodensity)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(epochs_header(classes, videos is not None, scorer is not None))
    status, raw = table.status(), table.labels()
    onset = table.onset
    for e in range(len(table)):
        s = int(stages[e])
        code = YASA_UNSCORED if s == UNSCORED else codes[s]
        row = [e, f'{onset[e]:.3f}', f'{onset[e] + table.epoch_sec:.3f}',
               clock(start, onset[e]), clock(start, onset[e] + table.epoch_sec), status[e],
               classes[s] if s != UNSCORED else '', classes[raw[e]] if raw[e] != UNSCORED else '',
               '' if code is None else code, int(table.clips[e])]
        if videos is not None:
            row.append(videos[e])
        if scorer is not None:
            row.append(classes[scorer[e]] if scorer[e] != UNSCORED else '')
        row += ['' if np.isnan(p) else f'{p:.6f}' for p in table.probs[e]]
        writer.writerow(row)
    return buf.getvalue()


def stage_runs(stages: np.ndarray, epoch_sec: float) -> List[Dict]:
    """Runs of one stage (unscored runs included, as ``-1``): ``{stage, onset, duration}``
    seconds, for the EDF+ and BORIS writers."""
    from .smoothing import bouts
    return [dict(stage=label, onset=start * epoch_sec, duration=length * epoch_sec)
            for label, start, length in bouts(np.asarray(stages, dtype=np.int64))]
