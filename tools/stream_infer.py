"""Stage whole recordings clip by clip: per video a CSV, a summary JSON and a hypnogram PNG.

    python tools/stream_infer.py CONFIG CHECKPOINT VIDEO_OR_DIR... --out-dir DIR \\
        [--labels ann.csv] [--session REGEX] [--smooth 9 --smooth-mode centred --min-bout 0]
        [--device cuda] [--cfg-options k=v ...]

Outputs mirror the inputs: a folder ``cams/`` holding ``cam1/2024-05-01.mp4`` gives
``DIR/cam1/2024-05-01.{csv,json,png}``. Rerun the same command after a crash: finished videos
are skipped and an unfinished one continues from its last saved clip. Several runs may share
DIR (a nightly job and a manual rerun, several machines on a NAS): each recording is staged by
one of them, the others move on. A file this tool did not write, or outputs of another
recording with the same name, are never replaced.

Exit status: 0 when every scheduled clip of every input was scored; 1 when anything was
unreadable, too short or failed (each named, with its time range, on stderr and in
DIR/run_report.json); 2 with one ``error:`` line for a usage error (a missing file, a bad
option value, outputs that would replace someone else's files); 3 when --max-clips stopped
the run (rerun to continue).
"""
import argparse
import os.path as osp
import re
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402
from video_swin_plugin.apis.streaming import StreamingClassifier  # noqa: E402
from video_swin_plugin.clip_grid import ClipSchedule  # noqa: E402
from video_swin_plugin.errors import UsageError  # noqa: E402
from video_swin_plugin.staging import Smoothing, StreamJob  # noqa: E402
from video_swin_plugin.staging.claims import STALE_SEC  # noqa: E402
from video_swin_plugin.staging.inputs import find_videos  # noqa: E402
from video_swin_plugin.staging.job import WORKER, exit_status  # noqa: E402
from video_swin_plugin.staging.smoothing import SMOOTH_MODES  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='model config (a recognizer with init_memory/predict_clip)')
    p.add_argument('checkpoint', help='weights, loaded strictly')
    p.add_argument('inputs', nargs='+', metavar='VIDEO_OR_DIR',
                   help='video files and folders (searched recursively for video files)')
    p.add_argument('--glob', action='append', metavar='PATTERN',
                   help="in folders, take the files matching this pattern (e.g. '*.dav', "
                   "'cam*/*.mp4'; repeatable) instead of those with a video extension")
    p.add_argument('--out-dir', required=True, help='where outputs and resume state go')
    p.add_argument('--labels', help="a scorer's long-recording CSV (video,start,end,label) to "
                   'report agreement against')
    p.add_argument('--session', metavar='REGEX',
                   help='group files into sessions by this regex on their names (the group '
                   "'session', else group 1); a session's files run in name order and carry "
                   'the memory across file boundaries. Default: every file resets it')
    p.add_argument('--smooth', type=int, default=9, metavar='N',
                   help='median filter window in clips (1 = off). Default: 9')
    p.add_argument('--smooth-mode', choices=SMOOTH_MODES, default='centred',
                   help='causal (past clips only) or centred. Default: centred')
    p.add_argument('--min-bout', type=float, default=0.0, metavar='SEC',
                   help='relabel bouts shorter than this between two bouts of one stage '
                   '(seconds, 0 = off). Default: 0')
    p.add_argument('--clip-len', type=int, help="override the config's clip_len")
    p.add_argument('--frame-interval', type=int, help="override the config's frame_interval")
    p.add_argument('--stride', type=float, help="override the config's clip stride (s)")
    cli.add_device_arg(p)
    cli.add_cfg_options_arg(p)
    p.add_argument('--threads', type=int,
                   help='torch CPU threads (1 often wins on a busy or 2-core machine; '
                   'decoding runs in its own thread)')
    p.add_argument('--save-every', type=int, metavar='N',
                   help='save the resume state every N clips (1: after every clip). Default: '
                   'by time, see --save-interval')
    p.add_argument('--save-interval', type=float, default=1.0, metavar='SEC',
                   help='save the resume state when this long has passed since the last save '
                   '(a kill loses at most this much work). Default: 1')
    p.add_argument('--max-clips', type=int, help='stop the run after N clips (resumable)')
    p.add_argument('--claim-timeout', type=float, default=STALE_SEC, metavar='SEC',
                   help='a recording claimed by a process that has not shown life for this '
                   f'long is taken over. Default: {STALE_SEC:g}')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress (on a terminal a bar; in a log one line every 30 s or '
                   '5%%)')
    args = p.parse_args(argv)
    for option in ('smooth', 'clip_len', 'frame_interval', 'threads', 'save_every', 'max_clips'):
        cli.at_least('--' + option.replace('_', '-'), getattr(args, option), 1)
    cli.at_least('--min-bout', args.min_bout, 0)
    cli.positive('--stride', args.stride)
    cli.positive('--save-interval', args.save_interval)
    cli.positive('--claim-timeout', args.claim_timeout)
    if args.session is not None:
        try:
            re.compile(args.session)
        except re.error as e:
            raise UsageError(f'--session {args.session!r} is not a regular expression: '
                             f'{e}') from None
    cli.check_device(args.device)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = cli.config_file(args.config)
    cli.existing_file(args.checkpoint, 'checkpoint file')
    cli.existing_file(args.labels, 'labels file')
    found = find_videos(args.inputs, args.glob, skip=args.out_dir)  # before the slow model
    if args.threads:
        torch.set_num_threads(args.threads)
    clf = StreamingClassifier(args.config, args.checkpoint, device=args.device,
                              cfg_options=args.cfg_options)
    if args.clip_len or args.frame_interval or args.stride:
        s = clf.schedule
        clf.schedule = ClipSchedule(args.clip_len or s.clip_len,
                                    args.frame_interval or s.frame_interval,
                                    args.stride or s.clip_stride_sec)
    job = StreamJob(clf, args.out_dir, Smoothing(args.smooth, args.smooth_mode, args.min_bout),
                    labels=args.labels, save_every=args.save_every, max_clips=args.max_clips,
                    progress=not args.no_progress, save_interval_sec=args.save_interval,
                    claim_stale_sec=args.claim_timeout)
    report = job.run(found, args.session)
    for v in report['videos']:
        detail = v.get('error') or v.get('note') or ''
        if v.get('staged_by', WORKER) != WORKER:
            detail = f"staged by {v['staged_by']}"
        if v.get('skipped_clips'):
            detail = f"{v['skipped_clips']} clips unreadable" + (f'; {detail}' if detail else '')
        print(f"{v['status']:>11}  {v['video']}" + (f'  ({detail})' if detail else ''))
    if found.ignored:
        print(f'{len(found.ignored)} files without a video extension ignored (listed in '
              f'{osp.join(args.out_dir, "run_report.json")}; --glob picks them)')
    if report['stopped']:
        print(f'stopped after --max-clips {args.max_clips}; rerun to continue')
    return exit_status(report)


if __name__ == '__main__':
    sys.exit(cli.run(main))
