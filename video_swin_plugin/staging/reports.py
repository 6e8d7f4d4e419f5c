"""What a staging run writes for each recording besides the hypnogram: the per-clip CSV and
the numbers of the summary JSON that sleep-analysis tools report (time and share per stage,
bouts, transitions, latencies, sleep efficiency, wake after sleep onset)."""
import csv
import io
import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .smoothing import UNSCORED, bouts, transitions

WAKE_NAMES = ('awake', 'wake', 'w')
REM_NAMES = ('rem', 'r')


# ---- the per-clip table -------------------------------------------------------------------------
@dataclass
class ClipTable:
    """All scored clips of one video, in clip order (only these few numbers per clip are kept
    in memory: a night of 2-s clips is ~15k rows).

    ``clip`` are schedule indices (gaps where a clip was skipped); ``labels`` raw argmax;
    ``probs`` per-class probabilities.
    """
    clip: np.ndarray  # int64 [M]
    start: np.ndarray  # float64 [M]
    end: np.ndarray  # float64 [M]
    labels: np.ndarray  # int64 [M]
    probs: np.ndarray  # float64 [M, C]

    def dense(self, values: np.ndarray, num_clips: int, fill=UNSCORED) -> np.ndarray:
        """Spread per-row values over clip indices ``0..num_clips-1``; skipped clips get
        ``fill``."""
        out = np.full((num_clips,) + values.shape[1:], fill, dtype=values.dtype)
        out[self.clip] = values
        return out


def format_row(video: str, clip: int, start: float, end: float, label: str,
               probs: Sequence[float]) -> List[str]:
    return [video, str(clip), f'{start:.3f}', f'{end:.3f}', label] + [f'{p:.6f}' for p in probs]


def read_rows(path: str, classes: Sequence[str], smoothed: bool) -> ClipTable:
    """Read a per-clip CSV written by this module (raw rows, or the final CSV when
    ``smoothed``)."""
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    expect = csv_header(classes, smoothed)
    if header != expect:
        raise ValueError(f'{path}: header {header} is not {expect}')
    index = {name: i for i, name in enumerate(classes)}
    first_p = 6 if smoothed else 5
    try:
        return ClipTable(
            clip=np.array([int(r[1]) for r in rows], dtype=np.int64),
            start=np.array([float(r[2]) for r in rows], dtype=np.float64),
            end=np.array([float(r[3]) for r in rows], dtype=np.float64),
            labels=np.array([index[r[4]] for r in rows], dtype=np.int64),
            probs=np.array([[float(p) for p in r[first_p:]] for r in rows],
                           dtype=np.float64).reshape(len(rows), len(classes)))
    except (KeyError, ValueError, IndexError) as e:
        raise ValueError(f'{path}: unreadable row ({e})') from e


def csv_header(classes: Sequence[str], smoothed: bool = True) -> List[str]:
    return (['video', 'clip', 'start', 'end', 'label'] + (['smoothed_label'] if smoothed else [])
            + [f'p_{c}' for c in classes])


def final_csv(video: str, table: ClipTable, smoothed: np.ndarray, classes: Sequence[str]) -> str:
    """The per-video CSV: ``video,clip,start,end,label,smoothed_label,p_<class>...``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(csv_header(classes))
    for i in range(len(table.clip)):
        row = format_row(video, int(table.clip[i]), table.start[i], table.end[i],
                         classes[table.labels[i]], table.probs[i])
        row.insert(5, classes[smoothed[i]])
        writer.writerow(row)
    return buf.getvalue()


# ---- the summary --------------------------------------------------------------------------------
def find_class(classes: Sequence[str], names: Sequence[str]) -> Optional[int]:
    for i, c in enumerate(classes):
        if c.lower() in names:
            return i
    return None


def stage_statistics(labels: np.ndarray, classes: Sequence[str], stride_sec: float,
                     wake: Optional[int]) -> Dict:
    """Time, share, bouts, transitions and latencies of one dense label sequence (one entry
    per scheduled clip, ``-1`` for unscored), each clip counting ``stride_sec`` seconds.
    :data:`STATISTICS_DEFINITIONS` says what each key measures."""
    labels = np.asarray(labels, dtype=np.int64)
    scored = int((labels != UNSCORED).sum())
    runs = [r for r in bouts(labels) if r[0] != UNSCORED]
    stages = {}
    total_sleep = (int(((labels != UNSCORED) & (labels != wake)).sum()) if wake is not None
                   else 0)
    for i, name in enumerate(classes):
        n = int((labels == i).sum())
        lengths = [length for label, _, length in runs if label == i]
        stages[name] = dict(
            time_s=round(n * stride_sec, 3),
            share=round(n / scored, 4) if scored else 0.0,
            share_of_record=round(n / len(labels), 4) if len(labels) else 0.0,
            share_of_tst=(round(n / total_sleep, 4) if total_sleep and i != wake else None),
            bouts=len(lengths),
            mean_bout_s=round(float(np.mean(lengths)) * stride_sec, 3) if lengths else 0.0)
    trans = transitions(labels)
    matrix = {f'{a}->{b}': 0 for a in classes for b in classes if a != b}
    for _, a, b in trans:
        matrix[f'{classes[a]}->{classes[b]}'] += 1
    out = dict(stages=stages, transitions=dict(total=len(trans), by_pair=matrix))
    rem = find_class(classes, REM_NAMES)
    if wake is not None:
        sleep = (labels != UNSCORED) & (labels != wake)
        first = np.flatnonzero(sleep)
        out['total_sleep_time_s'] = round(int(sleep.sum()) * stride_sec, 3)
        out['sleep_efficiency'] = round(int(sleep.sum()) / scored, 4) if scored else 0.0
        out['latency_to_first_sleep_s'] = (round(int(first[0]) * stride_sec, 3)
                                           if first.size else None)
        if first.size:  # wake after sleep onset
            waso = int(((labels == wake)[first[0]:]).sum())
            out['wake_after_sleep_onset_s'] = round(waso * stride_sec, 3)
    if rem is not None:
        first_rem = np.flatnonzero(labels == rem)
        out['latency_to_first_rem_s'] = (round(int(first_rem[0]) * stride_sec, 3)
                                         if first_rem.size else None)
        out['latency_to_first_rem_from_start_s'] = out['latency_to_first_rem_s']
        if wake is not None:
            onset = first[0] if first.size else None
            out['latency_to_first_rem_from_sleep_onset_s'] = (
                round(int(first_rem[0] - onset) * stride_sec, 3)
                if first_rem.size and onset is not None else None)
    return out


STATISTICS_DEFINITIONS = {
    'time_s': 'clips of that stage times the clip stride',
    'share': 'of the scored clips',
    'share_of_record': 'of all scheduled clips (unscored ones included)',
    'share_of_tst': 'of total sleep time (sleep stages only)',
    'total_sleep_time_s': 'scored clips of any stage but wake',
    'sleep_efficiency': 'total sleep time / scored time (a fraction)',
    'latency_to_first_sleep_s': 'from the start of the file to the first sleep clip',
    'wake_after_sleep_onset_s': 'wake from the first sleep clip to the end of the file',
    'latency_to_first_rem_s': 'from the start of the file (same as '
                              'latency_to_first_rem_from_start_s)',
    'latency_to_first_rem_from_sleep_onset_s': 'from the first sleep clip (the AASM REM '
                                               'latency)',
    'transitions': 'changes of stage between consecutive scored clips',
}


def merge_stretches(items: List[Dict], gap: float) -> List[Dict]:
    """Merge ``{'start','end','reason'}`` stretches that touch (within ``gap`` s) and share a
    reason."""
    merged: List[Dict] = []
    for item in items:
        if (merged and merged[-1]['reason'] == item['reason']
                and item['start'] <= merged[-1]['end'] + gap):
            merged[-1]['end'] = max(merged[-1]['end'], item['end'])
            merged[-1]['clips'] = merged[-1].get('clips', 1) + item.get('clips', 1)
        else:
            merged.append(dict(item))
    return merged


def to_json(obj: Dict) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + '\n'


def recording_summary(name: str, path: str, state, schedule, smoothing, min_bout: int,
                      raw: np.ndarray, smoothed: np.ndarray, classes: Sequence[str]) -> Dict:
    """The summary JSON of a staged recording (before agreement and the sleep blocks): its
    source, grid, clip counts, smoothing, stage statistics raw and smoothed, unreadable
    stretches and decode errors. ``state``: its ``ResumeState``; ``raw``/``smoothed``: dense
    labels over the grid (``-1`` unscored)."""
    from .outputs import GENERATOR
    n = len(raw)
    scored = int((raw != UNSCORED).sum())
    stride = schedule.clip_stride_sec
    wake = find_class(classes, WAKE_NAMES)
    return dict(
        video=name, path=path, generator=GENERATOR, status='done', source=state.source,
        classes=list(classes), schedule=dict(schedule.to_dict(), fps=state.info['fps']),
        duration_s=round(state.info['duration'], 3),
        clips=dict(scheduled=n, scored=scored, skipped=n - scored),
        smoothing=dict(size=smoothing.size, mode=smoothing.mode,
                       min_bout_sec=smoothing.min_bout_sec, min_bout_clips=min_bout),
        smoothed=stage_statistics(smoothed, classes, stride, wake),
        raw=stage_statistics(raw, classes, stride, wake),
        skipped=state.skipped, decode_errors=state.errors[:100],
        decode_error_count=len(state.errors))
