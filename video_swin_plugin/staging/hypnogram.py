"""The hypnogram PNG of a file or a whole night: stage over time, the scorer's stages aligned
below with disagreements marked, the stage probabilities (a hypnodensity), unreadable and
not-recorded stretches shaded and named.

Time runs across in clock time when the recording's start is known, else in hours (minutes
for less than two hours). Stages go up the axis wake first, then the others with REM above
NREM; each class keeps one colour in every panel and the legend (outside the data, classes in
axis order), REM in red.
"""
import io
from datetime import datetime, timedelta
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .outputs import GENERATOR
from .reports import REM_NAMES, WAKE_NAMES, find_class

UNREADABLE_COLOUR = '#9e9e9e'
NOT_RECORDED_COLOUR = '#e0e0e0'
DISAGREE_COLOUR = '#1b1b1b'  # not a stage colour
_NAMED = {**{n: '#f2a541' for n in WAKE_NAMES},           # wake: amber
          **{n: '#d62728' for n in REM_NAMES},            # REM: red, the stage people look for
          **{n: '#3a6fb0' for n in ('nrem', 'n', 'sleep', 'nonrem', 'non-rem')},
          'n1': '#9ecae1', 'n2': '#4a90c8', 'n3': '#08306b', 'deep': '#08306b',
          'light': '#9ecae1'}
_OTHERS = ['#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f']


def stage_colours(classes: Sequence[str]) -> List[str]:
    """One colour per class: the usual one for wake/NREM/REM/N1-N3, others from a palette."""
    spare = iter(_OTHERS * (1 + len(classes) // len(_OTHERS)))
    return [_NAMED.get(c.lower()) or next(spare) for c in classes]


def axis_order(classes: Sequence[str]) -> List[int]:
    """Class indices from the top of the stage axis down: wake, then the others from the
    last class to the first (so REM sits above NREM)."""
    wake = find_class(classes, WAKE_NAMES)
    return ([wake] if wake is not None else []) + [
        i for i in range(len(classes)) if i != wake][::-1]


def _tick_step(total_sec: float) -> float:
    for step in (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200):
        if total_sec / step <= 12:
            return float(step)
    return 86400.0


def _time_axis(ax, total_sec: float, start: Optional[datetime]) -> str:
    """Ticks and labels for seconds from the timeline's start; returns the axis label."""
    from matplotlib.ticker import FixedLocator, FuncFormatter
    step = _tick_step(total_sec)
    if start is not None:
        since_midnight = (start.hour * 3600 + start.minute * 60 + start.second
                          + start.microsecond / 1e6)
        first = (np.ceil(since_midnight / step) * step) - since_midnight
        ticks = np.arange(first, total_sec + 1e-6, step)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda s, _: (start + timedelta(seconds=float(s))).strftime('%H:%M')))
        zone = start.strftime(' %Z') if start.tzinfo else ''
        return f'clock time{zone} (start {start.strftime("%Y-%m-%d %H:%M:%S")})'
    ticks = np.arange(0, total_sec + 1e-6, step)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    if total_sec >= 2 * 3600:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda s, _: f'{s / 3600:g}'))
        return 'time from start (h)   (clock start unknown)'
    ax.xaxis.set_major_formatter(FuncFormatter(lambda s, _: f'{s / 60:g}'))
    return 'time from start (min)   (clock start unknown)'


def _stage_panel(ax, labels: np.ndarray, t: np.ndarray, height: Dict[int, int],
                 colours: Sequence[str], lw_line: float, line_colour: str) -> None:
    """A step line through the stage levels, with each run of a stage drawn as a bar in its
    colour (so the eye finds REM at once)."""
    from .smoothing import bouts
    y = np.array([height.get(int(v), np.nan) for v in labels], dtype=float)
    ax.step(t, np.append(y, y[-1] if len(y) else np.nan), where='post', lw=lw_line,
            color=line_colour, zorder=3)
    for label, start, length in bouts(labels):
        if label in height:
            ax.hlines(height[label], t[start], t[start + length], colors=colours[label], lw=6,
                      zorder=2)


def hypnogram_png(*args, **kwargs) -> bytes:
    """The hypnogram of :func:`hypnogram_figure` (same arguments) as PNG bytes."""
    buf = io.BytesIO()
    hypnogram_figure(*args, **kwargs).savefig(buf, format='png',
                                              metadata={'Software': GENERATOR})
    return buf.getvalue()


def hypnogram_figure(raw: np.ndarray, smoothed: np.ndarray, probs: np.ndarray,
                     classes: Sequence[str], stride_sec: float, title: str,
                     truth: Optional[np.ndarray] = None, skipped: Sequence[Dict] = (), *,
                     start: Optional[datetime] = None,
                     not_recorded: Sequence[Tuple[float, float]] = (),
                     boundaries: Sequence[Tuple[float, str]] = (),
                     subtitle: str = ''):
    """The hypnogram as a matplotlib ``Figure`` (Agg, outside pyplot's state).

    Args:
        raw (ndarray[T]): argmax stage per step (clip or epoch), ``-1`` unscored (any negative
            value: no stage).
        smoothed (ndarray[T]): smoothed stage per step.
        probs (ndarray[T, C]): stage probabilities per step (NaN or 0 where unscored).
        classes: stage names.
        stride_sec (float): seconds per step.
        title (str): the figure's title (the recording or night).
        truth (ndarray[T], optional): the scorer's stage per step.
        skipped: unreadable stretches ``{start, end, ...}`` (s from the timeline's start).
        start (datetime, optional): the timeline's clock start.
        not_recorded: ``(start, end)`` seconds no file covers (gaps of a night).
        boundaries: ``(seconds, name)`` where each file of a night starts.
        subtitle (str): a second title line (epoch length, smoothing).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D

    raw, smoothed = np.asarray(raw, np.int64), np.asarray(smoothed, np.int64)
    n = len(smoothed)
    total = max(n * stride_sec, 1.0)
    t = np.arange(n + 1) * stride_sec
    colours = stage_colours(classes)
    order = axis_order(classes)
    height = {c: len(order) - 1 - r for r, c in enumerate(order)}
    empty = not (smoothed >= 0).any()
    with_truth = truth is not None and not empty
    ratios = [3] + ([1.6, 0.35] if with_truth else []) + ([1.6] if not empty else [])
    fig = Figure(figsize=(12.5, 1.2 + 1.05 * sum(ratios)), dpi=100)
    axes = list(np.atleast_1d(fig.subplots(len(ratios), 1, sharex=True,
                                           gridspec_kw=dict(height_ratios=ratios, hspace=0.12))))
    fig.subplots_adjust(left=0.07, right=0.8, top=1 - 0.62 / fig.get_figheight(),
                        bottom=0.55 / fig.get_figheight() + 0.02)
    handles = []
    ax = axes[0]
    if empty:
        ax.set_yticks([])
        ax.text(0.5, 0.5, 'no scored clips', transform=ax.transAxes, ha='center', va='center',
                fontsize=16, color='0.2', bbox=dict(facecolor='white', edgecolor='0.6'))
    else:
        if (raw != smoothed).any():
            y = np.array([height.get(int(v), np.nan) for v in raw], dtype=float)
            ax.step(t, np.append(y, y[-1]), where='post', lw=0.5, color='0.65', zorder=1)
            handles.append(Line2D([], [], lw=0.8, color='0.65', label='raw (argmax)'))
        _stage_panel(ax, smoothed, t, height, colours, 1.0, '0.15')
        handles.insert(0, Line2D([], [], lw=1.2, color='0.15', label='predicted'))
        ax.set_yticks([height[c] for c in order], [classes[c] for c in order])
        ax.set_ylim(-0.6, len(order) - 0.4)
        ax.set_ylabel('predicted')
        if with_truth:
            truth = np.asarray(truth, np.int64)
            _stage_panel(axes[1], truth, t, height, colours, 1.0, 'k')
            axes[1].set_yticks([height[c] for c in order], [classes[c] for c in order])
            axes[1].set_ylim(-0.6, len(order) - 0.4)
            axes[1].set_ylabel('scorer')
            both = (truth >= 0) & (smoothed >= 0)
            differ = both & (truth != smoothed)
            strip = axes[2]
            strip.fill_between(t, 0, np.append(differ, differ[-1]).astype(float),
                               step='post', lw=0, color=DISAGREE_COLOUR)
            strip.set_yticks([])
            strip.set_ylim(0, 1)
            share = differ.sum() / both.sum() if both.any() else 0.0
            strip.set_ylabel('differ', rotation=0, ha='right', va='center')
            handles.append(Patch(color=DISAGREE_COLOUR,
                                 label=f'scorer differs ({100 * share:.0f}% of steps)'))
        dens = axes[-1]
        p = np.nan_to_num(np.asarray(probs, dtype=float).reshape(n, len(classes)))
        p = np.concatenate([p, p[-1:]])  # a 'post' step needs the last value repeated
        top = np.ones(n + 1)
        for c in order:  # stacked top-down in axis order: wake at the top, as in the panel
            dens.fill_between(t, top - p[:, c], top, step='post', lw=0, color=colours[c])
            top = top - p[:, c]
        dens.set_ylim(0, 1)
        dens.set_yticks([0, 0.5, 1])
        dens.set_ylabel('probability')
        handles = [Patch(color=colours[c], label=classes[c]) for c in order] + handles
    for s in skipped:
        for a in axes:
            a.axvspan(s['start'], s['end'], facecolor=UNREADABLE_COLOUR, alpha=0.55, lw=0,
                      hatch='//', edgecolor='white', zorder=0)
    for s, e in not_recorded:
        for a in axes:
            a.axvspan(s, e, facecolor=NOT_RECORDED_COLOUR, lw=0, hatch='xx', edgecolor='0.75',
                      zorder=0)
    if skipped:
        secs = sum(s['end'] - s['start'] for s in skipped)
        handles.append(Patch(facecolor=UNREADABLE_COLOUR, alpha=0.55, hatch='//',
                             edgecolor='white', label=f'unreadable ({secs / 60:.1f} min)'))
    if len(not_recorded):
        handles.append(Patch(facecolor=NOT_RECORDED_COLOUR, hatch='xx', edgecolor='0.75',
                             label='not recorded'))
    # name each shaded stretch wide enough to hold a word, inside it (file names use the top)
    for (s, e), text in [((x['start'], x['end']), 'unreadable') for x in skipped] + [
            (span, 'not recorded') for span in not_recorded]:
        if e - s >= 0.012 * total:
            axes[0].text((s + e) / 2, 0.03, text, transform=axes[0].get_xaxis_transform(),
                         rotation=90, ha='center', va='bottom', fontsize=7, color='0.25',
                         zorder=5)
    for s, name in boundaries:
        for a in axes:
            a.axvline(s, color='0.4', lw=0.7, ls=':', zorder=4)
        axes[0].text(s, 1.0, f' {name}', transform=axes[0].get_xaxis_transform(),
                     fontsize=7, color='0.3', va='bottom', ha='left', rotation=0, clip_on=False)
    for a in axes:
        a.grid(axis='x', alpha=0.3)
    axes[-1].set_xlim(0, total)
    axes[-1].set_xlabel(_time_axis(axes[-1], total, start))
    if handles:
        axes[0].legend(handles=handles, loc='upper left', bbox_to_anchor=(1.01, 1.0),
                       fontsize=8, frameon=False, borderaxespad=0)
    fig.suptitle(title + (f'\n{subtitle}' if subtitle else ''), fontsize=10,
                 y=1 - 0.08 / fig.get_figheight())
    return fig
