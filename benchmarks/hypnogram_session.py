"""Render the whole-night outputs of a synthetic 12-hour session of three files, through the
same code staging uses (clip probabilities -> scoring epochs -> smoothing -> night timeline ->
epoch CSV, EDF+, statistics, hypnogram), without decoding video.

    python benchmarks/hypnogram_session.py --out-dir outputs/session12h \\
        [--copy-png docs/hypnogram_12h_session.png] [--smooth median|hmm] [--hours 12]

A 12-h night at 32 px and 8 fps would take long to write and decode on CPU, so the per-clip
probability table is drawn directly: a night-like stage sequence (awake at lights-off, NREM/REM
cycles with awakenings, more wake towards morning) on the FAM config's grid (10-s clips), each
clip's probabilities a noisy softmax around its true stage. The recording is cut into three
files with a 10-minute gap between the first two and an unreadable stretch in the second; the
scorer's labels are the true stages. Prints the night's statistics and HMM-vs-median figures.
"""
import argparse
import datetime as dt
import json
import os
import os.path as osp
import shutil
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin.clip_grid import ClipSchedule  # noqa: E402
from video_swin_plugin.staging.clock import ClockSettings, RecordingClock  # noqa: E402
from video_swin_plugin.staging.hmm import TransitionModel, estimate_transitions  # noqa: E402
from video_swin_plugin.staging.nights import NightPart, build_night  # noqa: E402
from video_swin_plugin.staging.sleep import SleepOutputs, SleepSettings  # noqa: E402
from video_swin_plugin.staging.smoothing import Smoothing  # noqa: E402

CLASSES = ['awake', 'nrem', 'rem']
EPOCH = 30.0


def night_epochs(hours: float, rng: np.random.Generator) -> np.ndarray:
    """True stage per 30-s epoch: ~20 min awake, then ~90-min cycles of NREM and REM (REM
    bouts lengthening towards morning), awakenings between cycles, a long final wake."""
    n = int(hours * 3600 / EPOCH)
    stages = [0] * int(rng.integers(30, 50))
    cycle = 0
    while len(stages) < n:
        stages += [1] * int(rng.integers(90, 150)) + [2] * int(rng.integers(8, 16) + 6 * cycle)
        stages += [0] * int(rng.integers(2, 12) + 4 * cycle)
        cycle += 1
    stages = np.array(stages[:n])
    stages[-int(rng.integers(20, 40)):] = 0
    return stages


def clip_probs(truth_epochs: np.ndarray, centres: np.ndarray, rng: np.random.Generator,
               noise: float = 1.1) -> np.ndarray:
    truth = truth_epochs[np.minimum((centres // EPOCH).astype(int), len(truth_epochs) - 1)]
    z = 2.0 * np.eye(3)[truth] + rng.normal(0, noise, (len(truth), 3))
    return np.exp(z) / np.exp(z).sum(1, keepdims=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out-dir', default='outputs/session12h')
    p.add_argument('--hours', type=float, default=12.0)
    p.add_argument('--smooth', choices=('median', 'hmm'), default='hmm')
    p.add_argument('--seed', type=int, default=14)
    p.add_argument('--copy-png', metavar='PNG', help='also copy the night hypnogram here')
    args = p.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    sched = ClipSchedule(32, 2, 10.0)  # the FAM sowsleep config's grid
    fps = 25.0
    truth = night_epochs(args.hours, rng)
    total = len(truth) * EPOCH
    start = dt.datetime(2024, 5, 1, 19, 0)
    gap = 600.0
    cut1, cut2 = total * 0.35, total * 0.7  # three files; the gap shifts the later ones
    spans = [(0.0, cut1), (cut1 + gap, cut2), (cut2, total)]
    parts, clocks = [], {}
    for i, (a, b) in enumerate(spans):
        name = f'sow3_cam1_{(start + dt.timedelta(seconds=a)).strftime("%Y%m%d_%H%M%S")}.mp4'
        duration = b - a
        n = sched.num_clips(int(duration * fps), fps)
        centres = sched.centre_times(n, fps)
        probs = clip_probs(truth, centres + a, rng)
        scored = np.ones(n, bool)
        skipped = []
        if i == 1:  # a 20-minute stretch the decoder could not read
            bad = (centres > 3600) & (centres < 4800)
            scored[bad] = False
            skipped = [dict(start=3600.0, end=4800.0, reason='decode error')]
        # the scorer's epochs of this file, in the file's time
        first = int(a // EPOCH)
        intervals = [((e - first) * EPOCH, (e - first + 1) * EPOCH, int(truth[e]))
                     for e in range(first, min(len(truth), int(np.ceil(b / EPOCH))))
                     if (e - first) * EPOCH >= 0]
        clock = start + dt.timedelta(seconds=a)
        parts.append(NightPart(name, duration, centres, probs, scored, clock, skipped,
                               intervals))
        clocks[name] = RecordingClock(clock, 'file name')
    # a transition matrix counted on two other synthetic nights (the "scorer's" training set)
    train = [night_epochs(args.hours, np.random.default_rng(s)) for s in (1, 2)]
    model = TransitionModel(estimate_transitions(train, 3), EPOCH, CLASSES,
                            source='2 other synthetic nights')
    results = {}
    for method in ('median', 'hmm'):
        settings = SleepSettings(epoch_sec=EPOCH, method=method,
                                 transitions=model if method == 'hmm' else None,
                                 clock=ClockSettings(lights_off='19:00', lights_on='07:00'))
        out = SleepOutputs(settings, CLASSES, sched, Smoothing(9, 'centred'), None,
                           args.out_dir, print)
        out.clocks = clocks
        night = build_night(parts, EPOCH)
        stem = osp.join(args.out_dir, f'sow3_20240501.night.{method}')
        block, png, stages, scorer = out.night_outputs(
            night, stem, 'night 20240501 (sow3), synthetic',
            f'; {len(parts)} files placed by {night.placement}')
        with open(stem + '.png', 'wb') as f:
            f.write(png)
        with open(stem + '.json', 'w') as f:
            json.dump(block, f, indent=2)
        both = (scorer >= 0) & (stages >= 0)
        changes = lambda s: int(((s[1:] != s[:-1]) & (s[1:] >= 0) & (s[:-1] >= 0)).sum())  # noqa
        results[method] = dict(accuracy=round(float((stages[both] == scorer[both]).mean()), 4),
                               transitions=changes(stages), true_transitions=changes(scorer),
                               png=stem + '.png')
        if method == args.smooth and args.copy_png:
            os.makedirs(osp.dirname(osp.abspath(args.copy_png)), exist_ok=True)
            shutil.copyfile(stem + '.png', args.copy_png)
    raw = night.epochs.labels()
    both = (scorer >= 0) & (raw >= 0)
    print(f'{total / 3600:.1f} h, {len(truth)} epochs, files at offsets {night.offsets} s')
    print(f"raw argmax: accuracy {(raw[both] == scorer[both]).mean():.4f}, transitions "
          f"{int(((raw[1:] != raw[:-1]) & (raw[1:] >= 0) & (raw[:-1] >= 0)).sum())}")
    for method, r in results.items():
        print(f"{method:>6}: accuracy {r['accuracy']:.4f}, transitions {r['transitions']} "
              f"(scorer {r['true_transitions']})  -> {r['png']}")
    print(json.dumps(block['statistics'], indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
