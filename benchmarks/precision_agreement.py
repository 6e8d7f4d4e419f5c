"""Agreement of each reduced precision with fp32 on whole recordings: what staging would change.

Stages recordings clip by clip with ``StreamingClassifier`` (the staging job's per-clip loop)
once per precision and compares every precision's per-clip results with fp32's: the share of
clips with the same label (raw argmax, and after the staging default's 9-clip centred median
filter), the largest difference of any class probability, and the time. Default recordings:
the demo's synthetic night (``tools/demo_sleep.py``: 30 min, seed 2026) and the demo model's
held-out recordings (``tools/train_demo_model.py``'s test set: 2 x 5 min, seed 1000), staged by
the demo model, a tiny Swin + FAM: agreement on a tiny model, not Swin-T's.

    python benchmarks/precision_agreement.py [--dtypes fp32 bf16 fp16 int8] [--minutes 30]
        [--config C --checkpoint W --video V ...] [--threads 1] [--work-dir DIR]
"""
import argparse
import os
import os.path as osp
import sys
import time
from typing import Dict, List

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))  # demo_sleep's synthetic night

from gemm_rates import machine  # noqa: E402  (this folder is sys.path[0])


def demo_recordings(work_dir: str, minutes: float) -> List[str]:
    """The demo night and the demo model's held-out recordings, written once into
    ``work_dir``."""
    from demo_sleep import write_night
    from video_swin_plugin.datasets.synthetic import write_recordings
    night = osp.join(work_dir, 'night', 'night', 'recording_000.mp4')
    if not osp.exists(night):
        write_night(osp.join(work_dir, 'night'), minutes, 2026)
    held_out = osp.join(work_dir, 'held_out')
    if not osp.isdir(osp.join(held_out, 'test')):
        write_recordings(held_out, num_recordings=2, duration_sec=5 * 60, epoch_sec=10.0,
                         fps=8, size=32, seed=1000, ann_name='test.csv', prefix='test')
    return [night] + sorted(osp.join(held_out, 'test', f)
                            for f in os.listdir(osp.join(held_out, 'test')))


def stage(config: str, checkpoint: str, dtype: str, video: str) -> Dict:
    from video_swin_plugin.apis.streaming import StreamingClassifier
    clf = StreamingClassifier(config, checkpoint, dtype=dtype)
    start = time.perf_counter()
    results = [r for r in clf.run(video) if r.scores is not None]
    seconds = time.perf_counter() - start
    return dict(scores=np.stack([r.scores for r in results]), seconds=seconds,
                memory_dtype=str(results[-1].memory.tokens.dtype) if results[-1].memory
                is not None else None)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=osp.join(REPO, 'demo', 'sowsleep_synthetic_tiny.py'))
    p.add_argument('--checkpoint', default=osp.join(REPO, 'demo', 'sowsleep_synthetic_tiny.pth'))
    p.add_argument('--video', nargs='+', help='recordings (default: the demo ones)')
    p.add_argument('--dtypes', nargs='+', default=['fp32', 'bf16', 'fp16', 'int8'],
                   choices=['fp32', 'bf16', 'fp16', 'int8'])
    p.add_argument('--minutes', type=float, default=30.0, help='length of the demo night')
    p.add_argument('--smooth', type=int, default=9, help='median filter window (clips)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'precision_agreement'))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from video_swin_plugin.staging.smoothing import smooth_labels
    dtypes = ['fp32'] + [d for d in args.dtypes if d != 'fp32']
    videos = args.video or demo_recordings(args.work_dir, args.minutes)
    print(f'{machine()} | {osp.basename(args.config)}')
    total: Dict[str, List] = {d: [] for d in dtypes}
    for video in videos:
        runs = {d: stage(args.config, args.checkpoint, d, video) for d in dtypes}
        ref = runs['fp32']['scores']
        ref_smooth = smooth_labels(ref, args.smooth)
        print(f'{video}: {len(ref)} clips')
        for d in dtypes:
            s = runs[d]['scores']
            raw = (s.argmax(1) == ref.argmax(1))
            smooth = (smooth_labels(s, args.smooth) == ref_smooth)
            diff = np.abs(s - ref).max()
            total[d].append((raw, smooth, diff, runs[d]['seconds'], len(s)))
            print(f'  {d:5s} label agreement with fp32: raw {raw.mean():.4f} ({raw.sum()}/'
                  f'{len(raw)}), smoothed {smooth.mean():.4f}; max probability difference '
                  f'{diff:.2e}; {len(s) / runs[d]["seconds"]:.1f} clips/s; memory '
                  f'{runs[d]["memory_dtype"]}')
    print('all recordings:')
    for d, rows in total.items():
        raw = np.concatenate([r[0] for r in rows])
        smooth = np.concatenate([r[1] for r in rows])
        clips = sum(r[4] for r in rows)
        print(f'  {d:5s} raw {raw.mean():.4f} ({raw.sum()}/{len(raw)}), smoothed '
              f'{smooth.mean():.4f}, max probability difference {max(r[2] for r in rows):.2e}, '
              f'{clips / sum(r[3] for r in rows):.1f} clips/s')


if __name__ == '__main__':
    main()
