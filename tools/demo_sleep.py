"""The main job: stage a synthetic 30-minute overnight recording and compare with its known stages.

    bash scripts/demo.sh            # = python tools/demo_sleep.py --out-dir outputs/demo

1. writes a synthetic night with known stages (awake, then NREM/REM cycles with brief
   awakenings, scored in 30-s epochs), drawn by video_swin_plugin.datasets.synthetic (32 px
   frames at 8 fps), and its ``video,start,end,label`` CSV;
2. stages it clip by clip (one clip a second) with the demo model, a tiny Swin + FAM trained on
   OTHER synthetic recordings by tools/train_demo_model.py (demo/, synthetic data only);
3. writes the per-clip CSV, the 30-s epoch table, the EDF+ hypnogram, the summary JSON, the
   hypnogram PNG and cohort.csv, and prints the agreement with the known stages (per clip and
   per epoch, raw and smoothed) and the night's cohort row.

Rerunning it skips the finished recording (delete the output folder to start over). Exit status
0, 1 when staging failed, 2 with one ``error:`` line for bad input.
"""
import argparse
import csv
import json
import os
import os.path as osp
import shutil
import sys
import time
from typing import List

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out-dir', default=osp.join(REPO, 'outputs', 'demo'))
    p.add_argument('--config', default=osp.join(REPO, 'demo', 'sowsleep_synthetic_tiny.py'))
    p.add_argument('--checkpoint', default=osp.join(REPO, 'demo', 'sowsleep_synthetic_tiny.pth'))
    p.add_argument('--minutes', type=float, default=30.0, help='length of the recording')
    p.add_argument('--seed', type=int, default=2026, help='seed of the synthetic recording')
    p.add_argument('--smooth', type=int, default=9)
    p.add_argument('--smooth-mode', default='centred', choices=('causal', 'centred'))
    p.add_argument('--min-bout', type=float, default=0.0, metavar='SEC')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads (decoding has its own thread). Default: 1')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--copy-hypnogram', metavar='PNG',
                   help='also copy the hypnogram here (docs/hypnogram_demo.png for the README)')
    cli.add_device_arg(p)
    cli.add_cfg_options_arg(p)
    args = p.parse_args(argv)
    cli.positive('--minutes', args.minutes)
    cli.at_least('--smooth', args.smooth, 1)
    cli.at_least('--min-bout', args.min_bout, 0)
    cli.at_least('--threads', args.threads, 1)
    cli.check_device(args.device)
    return args


EPOCH_SEC = 30.0


def night_stages(num_epochs: int, rng: np.random.Generator) -> List[str]:
    """A night-like sequence of 30-s epochs: awake at first (sleep latency), then cycles of
    NREM and REM, some cycles ending in a brief awakening."""
    stages = ['awake'] * int(rng.integers(4, 9))
    while len(stages) < num_epochs:
        stages += ['nrem'] * int(rng.integers(6, 15)) + ['rem'] * int(rng.integers(2, 6))
        if rng.random() < 0.6:
            stages += ['awake'] * int(rng.integers(1, 3))
    return stages[:num_epochs]


def write_night(root: str, minutes: float, seed: int) -> None:
    """``root/night/recording_000.mp4`` (32 px, 8 fps, drawn by the project's synthetic
    generator) and ``root/night.csv`` with its stages per 30-s epoch."""
    from video_swin_plugin.datasets.synthetic import render, write_video
    rng = np.random.default_rng(seed)
    fps = 8
    stages = night_stages(int(minutes * 60 // EPOCH_SEC), rng)
    os.makedirs(osp.join(root, 'night'), exist_ok=True)
    write_video(osp.join(root, 'night', 'recording_000.mp4'),
                render(stages, int(EPOCH_SEC * fps), 32, rng), fps)
    with open(osp.join(root, 'night.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['video', 'start', 'end', 'label'])
        for e, stage in enumerate(stages):
            writer.writerow(['night/recording_000.mp4', f'{e * EPOCH_SEC:.3f}',
                             f'{(e + 1) * EPOCH_SEC:.3f}', stage])


def _row(name, a):
    def fmt(v):  # None: undefined (e.g. kappa when both sides use a single stage)
        return 'n/a' if v is None else f'{v:.3f}'
    return (f"  {name:<9} accuracy {fmt(a['accuracy'])}   kappa {fmt(a['kappa'])}   "
            f"macro-F1 {fmt(a['macro_f1'])}   "
            + (f"({a['clips']} clips)" if 'clips' in a else f"({a['epochs']} epochs)"))


def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = cli.config_file(args.config)
    cli.existing_file(args.checkpoint, 'checkpoint file')
    torch.set_num_threads(args.threads)
    from video_swin_plugin.apis.streaming import StreamingClassifier
    from video_swin_plugin.staging import Smoothing, stream_videos
    from video_swin_plugin.staging.sleep_settings import SleepSettings

    started = time.time()
    data = osp.join(args.out_dir, 'data')
    ann = osp.join(data, 'night.csv')
    video = osp.join(data, 'night', 'recording_000.mp4')
    if not (osp.exists(ann) and osp.exists(video)):
        write_night(data, args.minutes, args.seed)
    made = time.time()
    print(f'synthetic {args.minutes:g}-min recording with known stages: {video} '
          f'({made - started:.1f} s)', flush=True)

    clf = StreamingClassifier(args.config, args.checkpoint, device=args.device,
                              cfg_options=args.cfg_options)
    report = stream_videos(clf, [video], args.out_dir,
                           Smoothing(args.smooth, args.smooth_mode, args.min_bout), labels=ann,
                           progress=not args.no_progress,
                           sleep=SleepSettings.from_config(clf.model.cfg))
    staged = time.time()
    entry = report['videos'][0]
    if entry['status'] != 'done':
        print(f"staging failed: {entry.get('error')}", file=sys.stderr)
        return 1
    stem = osp.join(args.out_dir, 'recording_000')
    summary = json.load(open(stem + '.json'))
    if args.copy_hypnogram:
        os.makedirs(osp.dirname(osp.abspath(args.copy_hypnogram)), exist_ok=True)
        shutil.copyfile(stem + '.png', args.copy_hypnogram)

    sm = summary['smoothed']
    print(f"\nstaged {summary['clips']['scored']} clips ({summary['duration_s'] / 60:.0f} min of "
          f"video) in {staged - made:.1f} s")
    print('agreement with the known stages:')
    print(_row('raw', summary['agreement']['raw']))
    print(_row('smoothed', summary['agreement']['smoothed']))
    print('time in each stage (smoothed): ' + ', '.join(
        f"{k} {v['time_s'] / 60:.1f} min ({100 * v['share']:.0f}%, {v['bouts']} bouts)"
        for k, v in sm['stages'].items()))
    print(f"transitions: raw {summary['raw']['transitions']['total']}, smoothed "
          f"{sm['transitions']['total']}; latency to first sleep "
          f"{sm.get('latency_to_first_sleep_s')} s")
    epochs = summary['epochs']
    print(f"\nper {epochs['epoch_sec']:g}-s epoch ({epochs['scored']} scored, smoothing: "
          f"{epochs['smoothing']}):")
    print(_row('raw', epochs['agreement']['raw']))
    print(_row('smoothed', epochs['agreement']['smoothed']))
    with open(osp.join(args.out_dir, 'cohort.csv'), newline='') as f:
        header, row = list(csv.reader(f))[:2]
    print('cohort.csv: ' + ', '.join(f'{k}={v}' for k, v in zip(header, row) if v != ''))
    print(f'\noutputs: {stem}.csv, {stem}.epochs.csv, {stem}.edf, {stem}.json, {stem}.png, '
          f"{osp.join(args.out_dir, 'cohort.csv')}")
    print(f'total run time {time.time() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
