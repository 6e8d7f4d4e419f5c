"""Stage whole recordings clip by clip: per video a CSV, a summary JSON and a hypnogram PNG.

    python tools/stream_infer.py CONFIG CHECKPOINT VIDEO_OR_DIR... --out-dir DIR \\
        [--labels ann.csv] [--session REGEX] [--smooth 9 --smooth-mode centred --min-bout 0]
        [--device cuda] [--dtype auto|fp32|bf16|fp16|int8] [--cfg-options k=v ...]
        [--epoch-sec 30] [--start 2024-05-01T22:00 | --start-from-name REGEX FORMAT]
        [--lights-off 22:00 --lights-on 06:00] [--smooth hmm --transitions-from ann.csv
        --forbid awake->rem] [--edf-stage rem="Sleep stage R"] [--boris]

Per video also ``<name>.epochs.csv`` (scoring epochs), ``<name>.edf`` (EDF+ hypnogram) and with
--boris ``<name>.boris.xlsx`` (a BORIS import table); per session of several files the whole
night (``<session>.night.*``); per run ``cohort.csv`` (a row per night).

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
the run (rerun to continue). A recording whose model output looks collapsed (one label for >= 99%
of its clips, or class probabilities that hardly vary) is warned about on stderr and in its
summary JSON's and the run report's ``warnings``, without changing the exit status.
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
from video_swin_plugin.staging import Smoothing, StreamJob  # noqa: E402
from video_swin_plugin.staging.claims import STALE_SEC  # noqa: E402
from video_swin_plugin.staging.inputs import find_videos  # noqa: E402
from video_swin_plugin.staging.run_report import WORKER, exit_status  # noqa: E402
from video_swin_plugin.staging.smoothing import SMOOTH_MODES  # noqa: E402
from video_swin_plugin.staging.clock import ClockSettings, NamePattern  # noqa: E402
from video_swin_plugin.staging.sleep_settings import SleepSettings  # noqa: E402


def smooth_option(text: str):
    """``--smooth``: a median window in clips, or ``hmm``."""
    if text.strip().lower() == 'hmm':
        return 'hmm'
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is neither a window in clips (an integer) '
                                         'nor "hmm"') from None


def class_text(items, option: str) -> dict:
    """``CLASS=TEXT`` options -> dict."""
    out = {}
    for item in items or ():
        name, sep, text = item.partition('=')
        if not sep or not name.strip():
            raise UsageError(f'{option} {item!r} must be CLASS=TEXT')
        out[name.strip()] = text.strip()
    return out


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
    p.add_argument('--smooth', type=smooth_option, default=9, metavar='N|hmm',
                   help='median filter window in clips (1 = off), or "hmm": Viterbi decoding '
                   'with a transition matrix (--transitions-from or the config\'s '
                   'hmm_transitions). Default: 9')
    p.add_argument('--smooth-mode', choices=SMOOTH_MODES, default='centred',
                   help='causal (past clips only) or centred. Default: centred')
    p.add_argument('--min-bout', type=float, default=0.0, metavar='SEC',
                   help='relabel bouts shorter than this between two bouts of one stage '
                   '(seconds, 0 = off). Default: 0')
    p.add_argument('--transitions-from', metavar='CSV',
                   help="a scorer's video,start,end,label CSV to count stage transitions in "
                   '(for --smooth hmm)')
    p.add_argument('--forbid', action='append', default=[], metavar='FROM->TO',
                   help='a transition --smooth hmm never makes (e.g. awake->rem); repeatable')
    p.add_argument('--epoch-sec', type=float, metavar='SEC',
                   help="scoring epoch of the epoch table, EDF+ and statistics. Default: the "
                   "config's scoring_epoch_sec, else 30")
    p.add_argument('--start', metavar='ISO8601',
                   help='clock time the (first) recording starts, e.g. 2024-05-01T22:00:00')
    p.add_argument('--start-from-name', nargs=2, metavar=('REGEX', 'FORMAT'),
                   help="each file's start from its name: the regex's group 'start' (else "
                   "group 1, else the match) parsed by strptime FORMAT, e.g. "
                   "'(\\d{8}_\\d{4})' '%%Y%%m%%d_%%H%%M'")
    p.add_argument('--no-creation-time', action='store_true',
                   help="do not take a file's start from its container's creation_time tag")
    p.add_argument('--lights-off', metavar='HH:MM',
                   help='lights-off: sleep statistics count from here (needs the clock start)')
    p.add_argument('--lights-on', metavar='HH:MM', help='lights-on: statistics count up to here')
    p.add_argument('--no-edf', action='store_true', help='no <name>.edf hypnogram')
    p.add_argument('--edf-stage', action='append', default=[], metavar='CLASS=TEXT',
                   help='EDF+ annotation text of a class (default "Sleep stage W/N/R/..."); '
                   'repeatable')
    p.add_argument('--boris', action='store_true',
                   help='also write <name>.boris.xlsx: the predicted stages as state events '
                   'for BORIS (Observations > Import observations)')
    p.add_argument('--boris-subject', default='', metavar='NAME',
                   help='subject column of the BORIS table. Default: none')
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
    p.add_argument('--batch', type=int, default=1, metavar='B',
                   help='stage up to B recordings in lockstep, one clip of each per forward '
                   '(each with its own memory; fills a GPU). Default: 1')
    p.add_argument('--claim-timeout', type=float, default=STALE_SEC, metavar='SEC',
                   help='a recording claimed by a process that has not shown life for this '
                   f'long is taken over. Default: {STALE_SEC:g}')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress (on a terminal a bar; in a log one line every 30 s or '
                   '5%%)')
    args = p.parse_args(argv)
    for option in ('clip_len', 'frame_interval', 'threads', 'save_every', 'max_clips', 'batch'):
        cli.at_least('--' + option.replace('_', '-'), getattr(args, option), 1)
    if args.smooth != 'hmm':
        cli.at_least('--smooth', args.smooth, 1)
    cli.positive('--epoch-sec', args.epoch_sec)
    args.clock = ClockSettings(
        args.start, NamePattern(*args.start_from_name) if args.start_from_name else None,
        not args.no_creation_time, args.lights_off, args.lights_on)
    args.edf_stage = class_text(args.edf_stage, '--edf-stage')
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
    args.device = cli.check_device(cli.worker_device(args.device))  # torchrun: its GPU
    args.precision = choose_precision(args.dtype, args.device)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = cli.config_file(args.config)
    cli.existing_file(args.checkpoint, 'checkpoint file')
    cli.existing_file(args.labels, 'labels file')
    cli.existing_file(args.transitions_from, 'transitions file')
    found = find_videos(args.inputs, args.glob, skip=args.out_dir)  # before the slow model
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
    sleep = SleepSettings.from_config(
        getattr(clf.model, 'cfg', None), epoch_sec=args.epoch_sec,
        method='hmm' if args.smooth == 'hmm' else 'median',
        transitions_from=args.transitions_from, forbidden=args.forbid, clock=args.clock,
        edf=not args.no_edf, edf_stage_strings=args.edf_stage, boris=args.boris,
        boris_subject=args.boris_subject)
    job = StreamJob(clf, args.out_dir,
                    Smoothing(1 if args.smooth == 'hmm' else args.smooth, args.smooth_mode,
                              args.min_bout),
                    labels=args.labels, save_every=args.save_every, max_clips=args.max_clips,
                    progress=not args.no_progress, save_interval_sec=args.save_interval,
                    claim_stale_sec=args.claim_timeout, sleep=sleep, batch=args.batch)
    report = job.run(found, args.session)
    for v in report['videos']:
        detail = v.get('error') or v.get('note') or ''
        if v.get('staged_by', WORKER) != WORKER:
            detail = f"staged by {v['staged_by']}"
        if v.get('skipped_clips'):
            detail = f"{v['skipped_clips']} clips unreadable" + (f'; {detail}' if detail else '')
        if v.get('warnings'):  # a collapsed model output (the summary JSON has it too)
            detail = '; '.join(v['warnings'] + ([detail] if detail else []))
        print(f"{v['status']:>11}  {v['video']}" + (f'  ({detail})' if detail else ''))
    if found.ignored:
        print(f'{len(found.ignored)} files without a video extension ignored (listed in '
              f'{osp.join(args.out_dir, "run_report.json")}; --glob picks them)')
    if report['stopped']:
        print(f'stopped after --max-clips {args.max_clips}; rerun to continue')
    return exit_status(report)


if __name__ == '__main__':
    sys.exit(cli.run(main))
