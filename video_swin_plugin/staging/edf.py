"""EDF+ hypnograms: an annotations-only EDF+ file (no signals), one annotation per run of one
stage, as MNE (``mne.read_annotations``), EDFbrowser and sleep-scoring software read them.
Written and read with ``edfio``.
"""
import datetime as dt
import io
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..clip_grid import UNSCORED
from .formats import EDF_UNSCORED, stage_runs
from .outputs import EDF_MARK

Annotation = Tuple[float, float, str]  # onset (s from the file's start), duration (s), text


def hypnogram_annotations(stages: np.ndarray, epoch_sec: float, texts: Sequence[str],
                          merge: bool = True) -> List[Annotation]:
    """``(onset, duration, text)`` per run of one stage (``merge``) or per epoch; unscored
    epochs as "Sleep stage ?"."""
    stages = np.asarray(stages, dtype=np.int64)
    if merge:
        runs = stage_runs(stages, epoch_sec)
    else:
        runs = [dict(stage=int(s), onset=i * epoch_sec, duration=epoch_sec)
                for i, s in enumerate(stages)]
    return [(r['onset'], r['duration'],
             EDF_UNSCORED if r['stage'] == UNSCORED else texts[r['stage']]) for r in runs]


def edf_bytes(annotations: Sequence[Annotation], start: Optional[dt.datetime] = None,
              recording: str = '') -> bytes:
    """An EDF+ file holding only ``annotations``. ``start``: the recording's clock start (EDF
    keeps whole seconds in the header; the fraction goes into the first time-keeping
    annotation, which edfio writes as EDF+C); unknown -> 01.01.85 00:00:00 with "Startdate X",
    as the EDF+ specification says."""
    import edfio
    name = recording.replace(' ', '_')[:40].encode('ascii', 'replace').decode()
    recording_id = edfio.Recording(  # the mark tells our files from a PSG's of the same name
        startdate=start.date() if start is not None else None,
        additional=(EDF_MARK, ) + ((name, ) if name else ()))
    edf = edfio.Edf([], recording=recording_id,
                    starttime=start.time().replace(tzinfo=None) if start is not None else None,
                    annotations=[edfio.EdfAnnotation(float(o), float(d), t)
                                 for o, d, t in annotations])
    buf = io.BytesIO()
    edf.write(buf)
    return buf.getvalue()


def read_edf_annotations(path: str) -> Tuple[List[Annotation], Optional[dt.datetime]]:
    """``(annotations, start)`` of an EDF+ file (start None when its date is unknown)."""
    import edfio
    edf = edfio.read_edf(path)
    try:
        start = dt.datetime.combine(edf.startdate, edf.starttime)
    except Exception:  # noqa: BLE001  ("Startdate X": edfio refuses to give a date)
        start = None
    return [(a.onset, a.duration, a.text) for a in edf.annotations], start
