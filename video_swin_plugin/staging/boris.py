"""BORIS, the event-logging tool ethologists score video in: its aggregated-events export in,
an importable event table out.

In: BORIS's "Export aggregated events" (TSV, CSV or XLSX): one row per state event with its
``Start (s)`` and ``Stop (s)``, ``Behavior``, ``Subject`` and the media file. Its times are
observation times; an observation of several media files (``Source``: ``player #1:a.mp4;b.mp4``
with ``Media duration (s)``: ``600;600``) is cut back into per-file times, and an event that
runs over a file's end is split. Column names of BORIS 7 (``Media file``, ``Total length``) and
8+ (``Media file name``, ``Source``) are both read.

Out: BORIS's "Import observations" reads an XLSX/ODS sheet of events with the columns
``time, subject, code, modifier, comment`` into the open observation; a state event is a START
and a STOP row of the same code. :func:`import_rows` makes those rows from a hypnogram's runs,
so a scorer can review the predictions on the video in BORIS (the codes must be state events of
the project's ethogram).
"""
import csv
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import AnnotationError

START_COLUMNS = ('Start (s)', 'Start')
STOP_COLUMNS = ('Stop (s)', 'Stop')
MEDIA_COLUMNS = ('Media file name', 'Media file', 'Media file path')
IMPORT_HEADER = ['time', 'subject', 'code', 'modifier', 'comment']


@dataclass
class BorisEvent:
    """One state event of an export, in its media file's time (s)."""
    media: str
    subject: str
    behavior: str
    start: float
    stop: float
    where: str  # 'file, line N' of the export row


def _read_table(path: str) -> List[List[str]]:
    ext = os.path.splitext(path)[1].lower()
    if ext in ('.xlsx', '.xlsm'):
        import openpyxl
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = [['' if v is None else str(v) for v in row] for row in sheet.iter_rows(
            values_only=True)]
        book.close()
        return rows
    with open(path, newline='', encoding='utf-8-sig') as f:
        text = f.read()
    if ext in ('.tsv', '.txt', '.tab'):
        delimiter = '\t'
    else:
        first = text.splitlines()[0] if text else ''
        delimiter = '\t' if first.count('\t') > first.count(',') else ','
    return list(csv.reader(text.splitlines(), delimiter=delimiter))


def _column(header: List[str], names: Sequence[str]) -> Optional[int]:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name.lower() in lowered:
            return lowered.index(name.lower())
    return None


def _sources(text: str) -> List[str]:
    """``'player #1:a.mp4;b.mp4|player #2:c.mp4'`` -> the first player's files."""
    first = text.split('|')[0]
    first = re.sub(r'^\s*player\s*#\d+\s*:', '', first)
    return [f.strip() for f in first.split(';') if f.strip()]


def _number(text: str, where: str, column: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise AnnotationError(f'{where}: {column} {text!r} is not a number of seconds') from None


def read_aggregated(path: str) -> List[BorisEvent]:
    """The state events of a BORIS aggregated-events export, per media file (point events,
    which have no duration, are left out).

    Raises:
        AnnotationError: no header with ``Behavior``, ``Start (s)`` and ``Stop (s)``, a live
            observation (no media), or a bad number; the message names the file and line.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'BORIS export not found: {path}')
    rows = _read_table(path)
    head = next((i for i, r in enumerate(rows)
                 if _column(r, ('Behavior',)) is not None
                 and _column(r, START_COLUMNS) is not None), None)
    if head is None:
        raise AnnotationError(f'{path}: no header row with "Behavior", "Start (s)" and '
                              '"Stop (s)"; export the observations with BORIS\'s "Export '
                              'aggregated events" (TSV, CSV or XLSX)')
    header = rows[head]
    col = dict(behavior=_column(header, ('Behavior',)), start=_column(header, START_COLUMNS),
               stop=_column(header, STOP_COLUMNS), media=_column(header, MEDIA_COLUMNS),
               source=_column(header, ('Source',)), subject=_column(header, ('Subject',)),
               type=_column(header, ('Behavior type',)),
               durations=_column(header, ('Media duration (s)', 'Total length')),
               offset=_column(header, ('Time offset (s)',)),
               obs_type=_column(header, ('Observation type',)),
               obs=_column(header, ('Observation id',)))
    if col['stop'] is None:
        raise AnnotationError(f'{path}, line {head + 1}: no "Stop (s)" column; export '
                              'aggregated events (state events with start and stop)')
    if col['media'] is None and col['source'] is None:
        raise AnnotationError(f'{path}, line {head + 1}: no media file column ("Media file '
                              'name", "Media file" or "Source"); only observations of media '
                              'files can be turned into per-video labels')
    events = []
    for i, row in enumerate(rows[head + 1:], start=head + 2):
        row = row + [''] * (len(header) - len(row))
        get = lambda key: row[col[key]].strip() if col[key] is not None else ''  # noqa: E731
        if not any(c.strip() for c in row):
            continue
        where = f'{path}, line {i}'
        kind = get('type').upper()
        if kind == 'POINT':
            continue
        if get('obs_type').lower().startswith('live'):
            raise AnnotationError(f'{where}: a live observation has no video to label')
        start = _number(get('start'), where, 'Start (s)')
        stop = _number(get('stop'), where, 'Stop (s)')
        if stop <= start:
            raise AnnotationError(f'{where}: Stop (s) {stop} is not after Start (s) {start}')
        offset = _number(get('offset') or '0', where, 'Time offset (s)')
        files = _sources(get('source')) if get('source') else []
        durations = [d for d in get('durations').split(';') if d.strip()]
        subject, behavior = get('subject'), get('behavior')
        if len(files) > 1 and len(durations) == len(files):
            # observation time -> each file's own time, splitting across file ends
            begin = 0.0
            for name, length in zip(files, durations):
                length = _number(length, where, 'Media duration (s)')
                a, b = max(start - offset, begin), min(stop - offset, begin + length)
                if b > a:
                    events.append(BorisEvent(name, subject, behavior, a - begin, b - begin,
                                             where))
                begin += length
        else:
            media = get('media') or (files[0] if files else '')
            if not media:
                raise AnnotationError(f'{where}: no media file named for this event')
            events.append(BorisEvent(media, subject, behavior, start - offset, stop - offset,
                                     where))
    return events


def to_intervals(events: Sequence[BorisEvent], mapping: Dict[str, str],
                 classes: Sequence[str], subject: Optional[str] = None,
                 drop_unmapped: bool = False) -> Tuple[Dict[str, List[Tuple[float, float, str]]],
                                                       List[str]]:
    """Per media file, ``(start, end, class)`` intervals sorted by start, touching intervals
    of one class merged. A behavior maps through ``mapping`` (behavior -> class), else to the
    class of the same name (case-insensitive). Returns the intervals and the behaviors dropped.

    Raises:
        AnnotationError: a behavior maps to no class (unless ``drop_unmapped``), a file scored
            for several subjects with no ``subject`` chosen, or two intervals overlap.
    """
    lower = {c.lower(): c for c in classes}
    bad_targets = sorted({v for v in mapping.values() if v not in classes})
    if bad_targets:
        raise AnnotationError(f'--map targets {bad_targets} are not classes {list(classes)}')
    chosen = [e for e in events if subject is None or e.subject == subject]
    if subject is not None and not chosen:
        found = sorted({e.subject for e in events})
        raise AnnotationError(f'no events of subject {subject!r}; the export has {found}')
    if subject is None:
        by_media: Dict[str, set] = {}
        for e in chosen:
            by_media.setdefault(e.media, set()).add(e.subject)
        several = {m: sorted(s) for m, s in by_media.items() if len(s) > 1}
        if several:
            m, s = next(iter(several.items()))
            raise AnnotationError(f'{m} is scored for several subjects {s}; choose one with '
                                  '--subject')
    dropped, unknown = set(), {}
    out: Dict[str, List[Tuple[float, float, str, str]]] = {}
    for e in chosen:
        label = mapping.get(e.behavior) or lower.get(e.behavior.lower())
        if label is None:
            (dropped.add(e.behavior) if drop_unmapped
             else unknown.setdefault(e.behavior, e.where))
            continue
        out.setdefault(e.media, []).append((e.start, e.stop, label, e.where))
    if unknown:
        b, where = next(iter(unknown.items()))
        raise AnnotationError(f'{where}: behavior {b!r} maps to no class of {list(classes)} '
                              f'(unmapped: {sorted(unknown)}); add --map "{b}=CLASS" or '
                              '--drop-unmapped')
    merged: Dict[str, List[Tuple[float, float, str]]] = {}
    for media, rows in out.items():
        rows.sort()
        keep: List[list] = []
        for start, stop, label, where in rows:
            if keep and start < keep[-1][1] - 1e-6:
                if label == keep[-1][2]:  # the same stage logged twice: one interval
                    keep[-1][1] = max(keep[-1][1], stop)
                    continue
                raise AnnotationError(f'{where}: {label} [{start}, {stop}) of {media} overlaps '
                                      f'{keep[-1][2]} [{keep[-1][0]}, {keep[-1][1]}) from '
                                      f'{keep[-1][3]}')
            if keep and label == keep[-1][2] and abs(start - keep[-1][1]) < 1e-6:
                keep[-1][1] = stop
                continue
            keep.append([start, stop, label, where])
        merged[media] = [(a, b, label) for a, b, label, _ in keep]
    return merged, sorted(dropped)


def import_rows(runs: Sequence[Dict], classes: Sequence[str], subject: str = '',
                probs=None) -> List[List]:
    """BORIS import rows (``time, subject, code, modifier, comment``) for hypnogram runs
    ``{stage, onset, duration}`` (seconds; unscored runs, ``stage < 0``, left out): a START row
    at each run's onset and a STOP row at its end, in time order (a STOP before the START that
    follows it at the same time). ``probs(run) -> float`` adds the run's mean probability as
    a comment."""
    rows = []
    for run in runs:
        if run['stage'] < 0:
            continue
        code = classes[run['stage']]
        comment = f'p={probs(run):.2f}' if probs is not None else ''
        rows.append([round(run['onset'], 3), subject, code, '', comment, 1])
        rows.append([round(run['onset'] + run['duration'], 3), subject, code, '', '', 0])
    rows.sort(key=lambda r: (r[0], r[5]))  # STOP (0) before START (1) at one time
    return [r[:5] for r in rows]


def import_xlsx(rows: Sequence[Sequence]) -> bytes:
    """The rows under :data:`IMPORT_HEADER` as an XLSX workbook (BORIS imports XLSX/ODS)."""
    import io

    import openpyxl
    from .outputs import GENERATOR
    book = openpyxl.Workbook()
    book.properties.creator = GENERATOR  # how stream_infer tells its own files
    sheet = book.active
    sheet.title = 'events'
    sheet.append(IMPORT_HEADER)
    for row in rows:
        sheet.append(list(row))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def read_import_xlsx(path: str) -> List[List]:
    """Rows of a table written by :func:`import_xlsx` (header checked)."""
    rows = _read_table(path)
    if [h.lower() for h in rows[0][:5]] != IMPORT_HEADER:
        raise AnnotationError(f'{path}: header {rows[0]} is not {IMPORT_HEADER}')
    return [[float(r[0])] + r[1:5] for r in rows[1:]]
