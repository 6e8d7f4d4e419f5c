"""What a streaming run writes for each video: the per-clip CSV, the summary JSON (the numbers
sleep-analysis tools report, see ../shared/SLEEP.md) and the hypnogram PNG. Every file is written
atomically (a temporary file in the same folder, then ``os.replace``), so a reader or a crash
never sees half a file.
"""
import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .smoothing import UNSCORED, bouts, transitions

WAKE_NAMES = ('awake', 'wake', 'w')
REM_NAMES = ('rem', 'r')


# ---- atomic files -------------------------------------------------------------------------------
def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is always either the old or the new file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode('utf-8'))


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
    per scheduled clip, ``-1`` for unscored), each clip counting ``stride_sec`` seconds."""
    labels = np.asarray(labels, dtype=np.int64)
    scored = int((labels != UNSCORED).sum())
    runs = [r for r in bouts(labels) if r[0] != UNSCORED]
    stages = {}
    for i, name in enumerate(classes):
        n = int((labels == i).sum())
        lengths = [length for label, _, length in runs if label == i]
        stages[name] = dict(
            time_s=round(n * stride_sec, 3),
            share=round(n / scored, 4) if scored else 0.0,
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
    return out


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


# ---- the hypnogram ------------------------------------------------------------------------------
def hypnogram_png(raw: np.ndarray, smoothed: np.ndarray, probs: np.ndarray,
                  classes: Sequence[str], stride_sec: float, title: str,
                  truth: Optional[np.ndarray] = None,
                  skipped: Sequence[Dict] = ()) -> bytes:
    """A hypnogram: time across, stage up (wake on top), raw labels thin and smoothed bold,
    the scorer's labels in their own row when given, and the per-clip probabilities below
    (a hypnodensity). Dense arrays over the schedule, ``-1`` for unscored; returns PNG
    bytes."""
    # a bare Figure renders with Agg and leaves pyplot's global state (and backend) alone
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    n = len(raw)
    hours = n * stride_sec > 3 * 3600
    unit = 3600.0 if hours else 60.0
    t = np.arange(n + 1) * stride_sec / unit
    wake = find_class(classes, WAKE_NAMES)
    order = ([wake] if wake is not None else []) + [
        i for i in range(len(classes)) if i != wake][::-1]
    # stage index -> height: wake highest, then the others (e.g. REM above NREM)
    height = {c: len(order) - 1 - r for r, c in enumerate(order)}

    def levels(labels):
        y = np.array([height.get(int(v), np.nan) for v in labels], dtype=float)
        return np.append(y, y[-1] if n else np.nan)

    rows = 3 if truth is not None else 2
    fig = Figure(figsize=(12, 2.2 * rows + 0.6), dpi=100)
    axes = fig.subplots(rows, 1, sharex=True,
                        gridspec_kw=dict(height_ratios=[2] * (rows - 1) + [1.2]))
    palette = colormaps['tab10']
    panels = [('predicted', axes[0])] + ([('scorer', axes[1])] if truth is not None else [])
    for name, ax in panels:
        if name == 'predicted':
            ax.step(t, levels(raw), where='post', lw=0.6, color='0.6', label='raw')
            ax.step(t, levels(smoothed), where='post', lw=1.8, color='C0', label='smoothed')
        else:
            ax.step(t, levels(truth), where='post', lw=1.8, color='k', label='scorer')
        ax.set_yticks([height[c] for c in order], [classes[c] for c in order])
        ax.set_ylim(-0.5, len(order) - 0.5)
        ax.set_ylabel(name)
        ax.legend(loc='upper right', fontsize=8, ncol=2, framealpha=0.8)
        ax.grid(axis='x', alpha=0.3)
    ax = axes[-1]
    p = np.nan_to_num(probs)
    bottom = np.zeros(n)
    for r, c in enumerate(order[::-1]):
        ax.fill_between(t[:-1], bottom, bottom + p[:, c], step='post', lw=0,
                        color=palette(c % 10), label=classes[c])
        bottom = bottom + p[:, c]
    ax.set_ylim(0, 1)
    ax.set_ylabel('probability')
    ax.legend(loc='upper right', fontsize=8, ncol=len(classes), framealpha=0.8)
    for s in skipped:
        for a in axes:
            a.axvspan(s['start'] / unit, s['end'] / unit, color='red', alpha=0.15, lw=0)
    ax.set_xlabel('time (h)' if hours else 'time (min)')
    ax.set_xlim(0, t[-1] if n else 1)
    axes[0].set_title(title + ('   (red: unreadable stretches)' if skipped else ''), fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', metadata={'Software': None})
    return buf.getvalue()
