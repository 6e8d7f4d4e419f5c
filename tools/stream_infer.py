"""Stage whole recordings clip by clip: per video a CSV, a summary JSON and a hypnogram PNG.

    python tools/stream_infer.py CONFIG CHECKPOINT VIDEO_OR_DIR... --out-dir DIR \\
        [--labels ann.csv] [--session REGEX] [--smooth 9 --smooth-mode centred --min-bout 0]
        [--device cuda] [--dtype auto|fp32|bf16|fp16|int8] [--cfg-options k=v ...]

Rerun the same command after a crash: finished videos are skipped and an unfinished one
continues from its last saved clip. Exit status 0 when every video finished, 1 when one or
more could not be read (they are listed in DIR/run_report.json), 3 when --max-clips stopped it,
2 with one ``error:`` line for bad input (a missing file, a bad option value).
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
from video_swin_plugin.precision import choose_precision  # noqa: E402
from video_swin_plugin.staging import Smoothing, stream_videos  # noqa: E402
from video_swin_plugin.staging.smoothing import SMOOTH_MODES  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='model config (a recognizer with init_memory/predict_clip)')
    p.add_argument('checkpoint', help='weights, loaded strictly')
    p.add_argument('inputs', nargs='+', metavar='VIDEO_OR_DIR',
                   help='video files and folders (searched recursively)')
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
    cli.add_dtype_arg(p)
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
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = p.parse_args(argv)
    for option in ('smooth', 'clip_len', 'frame_interval', 'threads', 'save_every', 'max_clips'):
        cli.at_least('--' + option.replace('_', '-'), getattr(args, option), 1)
    cli.at_least('--min-bout', args.min_bout, 0)
    cli.positive('--stride', args.stride)
    cli.positive('--save-interval', args.save_interval)
    if args.session is not None:
        try:
            re.compile(args.session)
        except re.error as e:
            raise UsageError(f'--session {args.session!r} is not a regular expression: '
                             f'{e}') from None
    cli.check_device(args.device)
    args.precision = choose_precision(args.dtype, args.device)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = cli.config_file(args.config)
    cli.existing_file(args.checkpoint, 'checkpoint file')
    cli.existing_file(args.labels, 'labels file')
    if args.threads:
        torch.set_num_threads(args.threads)
    clf = StreamingClassifier(args.config, args.checkpoint, device=args.device,
                              cfg_options=args.cfg_options, dtype=args.precision)
    print(f'precision: {clf.precision}', file=sys.stderr, flush=True)
    if args.clip_len or args.frame_interval or args.stride:
        s = clf.schedule
        clf.schedule = ClipSchedule(args.clip_len or s.clip_len,
                                    args.frame_interval or s.frame_interval,
                                    args.stride or s.clip_stride_sec)
    report = stream_videos(clf, args.inputs, args.out_dir,
                           Smoothing(args.smooth, args.smooth_mode, args.min_bout),
                           labels=args.labels, session=args.session,
                           save_every=args.save_every, max_clips=args.max_clips,
                           progress=not args.no_progress,
                           save_interval_sec=args.save_interval)
    failed = [v for v in report['videos'] if v['status'] == 'failed']
    for v in report['videos']:
        print(f"{v['status']:>8}  {v['video']}" + (f"  ({v['error']})" if 'error' in v else ''))
    if report['stopped']:
        print(f'stopped after --max-clips {args.max_clips}; rerun to continue')
        return 3
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
