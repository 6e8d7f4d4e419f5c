"""Turn BORIS aggregated-events exports into the project's annotation CSV (video,start,end,label).

    python tools/boris_to_csv.py EXPORT.tsv [EXPORT2.xlsx ...] --out labels.csv \\
        (--config CONFIG | --classes awake,nrem,rem) [--map "Sleeping REM=rem" ...]
        [--subject sow3] [--relative-to /data/videos | --basename] [--drop-unmapped]

Export the observations in BORIS with Observations > Export aggregated events (TSV, CSV or
XLSX). Each state event becomes an interval of its media file, in that file's own time (an
observation of several files is cut back per file). A behavior maps to the class of the same
name (case-insensitive) or through --map. Exit status 0; 2 with one ``error:`` line for bad
input (the message names the export file and line).
"""
import argparse
import csv
import io
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402
from video_swin_plugin.errors import UsageError  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('exports', nargs='+', metavar='EXPORT',
                   help='BORIS aggregated-events exports (.tsv, .csv, .xlsx)')
    p.add_argument('--out', required=True, help='the annotation CSV to write')
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument('--config', help='a model config (or config name) whose classes to use')
    which.add_argument('--classes', help='comma-separated class names, e.g. awake,nrem,rem')
    p.add_argument('--map', action='append', default=[], metavar='BEHAVIOR=CLASS',
                   help='map a BORIS behavior to a class; repeatable')
    p.add_argument('--subject', help='keep the events of this subject only (needed when a '
                   'video is scored for several)')
    where = p.add_mutually_exclusive_group()
    where.add_argument('--relative-to', metavar='DIR',
                       help='write media paths relative to DIR (the data_prefix of the config)')
    where.add_argument('--basename', action='store_true', help='write media file names only')
    p.add_argument('--drop-unmapped', action='store_true',
                   help='leave out behaviors that map to no class (listed) instead of failing')
    return p.parse_args(argv)


def classes_of(args) -> list:
    if args.classes:
        classes = [c.strip() for c in args.classes.split(',') if c.strip()]
        if not classes:
            raise UsageError(f'--classes {args.classes!r} names no class')
        return classes
    from mmengine.config import Config
    cfg = Config.fromfile(cli.config_file(args.config))
    if not cfg.get('classes'):
        raise UsageError(f'{args.config}: the config has no classes; give --classes')
    return list(cfg.classes)


def mapping_of(items) -> dict:
    out = {}
    for item in items:
        behavior, sep, label = item.rpartition('=')
        if not sep or not behavior.strip() or not label.strip():
            raise UsageError(f'--map {item!r} must be BEHAVIOR=CLASS')
        out[behavior.strip()] = label.strip()
    return out


def video_name(media: str, args) -> str:
    if args.basename:
        return osp.basename(media.replace('\\', '/'))
    if args.relative_to:
        rel = osp.relpath(media, args.relative_to)
        if rel.startswith('..'):
            raise UsageError(f'{media} is not under --relative-to {args.relative_to}')
        return rel.replace(os.sep, '/')
    return media


def convert(args) -> dict:
    """Write ``args.out``; returns ``{video: intervals}`` and prints a summary."""
    from video_swin_plugin.datasets.long_video import read_intervals
    from video_swin_plugin.staging.atomic import atomic_write_text
    from video_swin_plugin.staging.boris import read_aggregated, to_intervals
    classes = classes_of(args)
    events = []
    for path in args.exports:
        events += read_aggregated(path)
    intervals, dropped = to_intervals(events, mapping_of(args.map), classes, args.subject,
                                      args.drop_unmapped)
    rows = {}
    for media, items in intervals.items():
        name = video_name(media, args)
        if name in rows:
            raise UsageError(f'two media files become the video {name!r}; use --relative-to '
                             'instead of --basename')
        rows[name] = items
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['video', 'start', 'end', 'label'])
    for name in sorted(rows):
        for start, end, label in rows[name]:
            writer.writerow([name, f'{start:.3f}', f'{end:.3f}', label])
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    atomic_write_text(args.out, buf.getvalue())
    read_intervals(args.out, classes)  # what training and --labels will read, checked now
    print(f'{args.out}: {sum(len(v) for v in rows.values())} intervals of {len(rows)} videos'
          + (f'; dropped behaviors {dropped}' if dropped else ''))
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    for path in args.exports:
        cli.existing_file(path, 'BORIS export')
    convert(args)
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
