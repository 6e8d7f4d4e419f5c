"""The hypnogram PNG of one recording: stage over time, the scorer's stages, per-clip
probabilities (a hypnodensity) and unreadable stretches."""
import io
from typing import Dict, Optional, Sequence

import numpy as np

from .outputs import GENERATOR
from .reports import WAKE_NAMES, find_class


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
    fig.savefig(buf, format='png', metadata={'Software': GENERATOR})
    return buf.getvalue()
