"""Staging an archive with several workers: wall time of 1 process against N on one out-dir.

Generates synthetic recordings of different lengths (``datasets.synthetic.write_recordings``)
and stages them with ``tools/stream_infer.py`` and the demo model, once with one process and
once with ``--workers`` processes started together on one ``--out-dir`` (each claims whole
recordings, as on a farm's archive), and optionally with one process at ``--batch B``
(recordings in lockstep, one clip of each per forward). The runs alternate, their order
reversed every repeat, each into a fresh out-dir. Printed per run: wall time (first start to
last exit, model loading included), clips staged per second, the speed-up over one process,
the recordings each worker staged, and whether every recording's CSV is byte-identical to the
single process's (for ``--batch``, which equals batch 1 within 1e-5: else its largest
probability difference and whether every label agrees).

N processes cannot run faster than the cores allow: the machine's core count and load
average are printed with the figures.

Example::

    python benchmarks/bench_staging_workers.py                      # 6 recordings, 1 vs 3
    python benchmarks/bench_staging_workers.py --workers 2 4 --batch 4 --repeats 2
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIG = REPO / 'demo' / 'sowsleep_synthetic_tiny.py'
CHECKPOINT = REPO / 'demo' / 'sowsleep_synthetic_tiny.pth'


def cpu_name() -> str:
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or 'unknown CPU'


def write_archive(root: Path, durations: List[float]) -> Path:
    """``root/videos/night_<i>.mp4``, one synthetic recording per duration (8 fps, 32 px: the
    demo model's input), each from its own seed."""
    from video_swin_plugin.datasets.synthetic import write_recordings
    videos = root / 'videos'
    videos.mkdir(parents=True)
    for i, duration in enumerate(durations):
        part = root / f'part_{i}'
        write_recordings(part, num_recordings=1, duration_sec=duration, seed=i)
        shutil.move(str(part / 'videos' / 'recording_000.mp4'), videos / f'night_{i}.mp4')
        shutil.rmtree(part)
    return videos


def stage(videos: Path, out: Path, processes: int, args, batch: int = 1) -> Dict:
    """``processes`` stream_infer processes started together on ``out``; wall time, each
    process's stdout."""
    cmd = [sys.executable, str(REPO / 'tools' / 'stream_infer.py'), str(args.config),
           str(args.checkpoint), str(videos), '--out-dir', str(out), '--device', 'cpu',
           '--threads', str(args.threads), '--no-progress', '--batch', str(batch)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(args.threads))
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    outputs = [p.communicate() for p in procs]
    wall = time.perf_counter() - start
    for p, (_, err) in zip(procs, outputs):
        if p.returncode:
            raise RuntimeError(f'stream_infer exited {p.returncode}:\n{err[-3000:]}')
    return dict(wall=wall, stdouts=[o for o, _ in outputs])


def staged_by_worker(stdouts: List[str]) -> List[int]:
    """Recordings each process staged itself (its ``done`` lines, less those another
    process staged or an earlier run finished)."""
    counts = []
    for stdout in stdouts:
        n = 0
        for line in stdout.splitlines():
            status, _, rest = line.strip().partition('  ')
            if status == 'done' and not any(w in rest for w in ('finished earlier', 'staged by',
                                                                 'another')):
                n += 1
        counts.append(n)
    return counts


def read_rows(path: Path) -> List[Dict[str, str]]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def compare(out: Path, reference: Path, names: List[str]) -> Dict:
    """Byte-identical CSVs per recording; where not, labels and the largest probability
    difference (columns both CSVs hold as numbers, other than the clip's times)."""
    identical, labels_equal, max_diff = 0, True, 0.0
    for name in names:
        a, b = out / f'{name}.csv', reference / f'{name}.csv'
        if a.read_bytes() == b.read_bytes():
            identical += 1
            continue
        rows_a, rows_b = read_rows(a), read_rows(b)
        labels_equal &= len(rows_a) == len(rows_b)
        for ra, rb in zip(rows_a, rows_b):
            for key in ra.keys() & rb.keys():
                if key.startswith('p_'):
                    max_diff = max(max_diff, abs(float(ra[key]) - float(rb[key])))
                elif key in ('label', 'smoothed_label'):
                    labels_equal &= ra[key] == rb[key]
    return dict(identical=identical, total=len(names), labels_equal=labels_equal,
                max_diff=max_diff)


def count_clips(out: Path, names: List[str]) -> int:
    return sum(len(read_rows(out / f'{name}.csv')) for name in names)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--workers', type=int, nargs='+', default=[3],
                   help='processes started together on one out-dir (one or several counts)')
    p.add_argument('--batch', type=int, default=None, metavar='B',
                   help='also one process with --batch B (recordings in lockstep)')
    p.add_argument('--durations', type=float, nargs='+',
                   default=[120, 300, 180, 240, 150, 210],
                   help='seconds of each recording (one recording each). Default: six of '
                   '120-300 s')
    p.add_argument('--repeats', type=int, default=1, help='rounds of all runs, alternating')
    p.add_argument('--threads', type=int, default=1, help='torch threads per process')
    p.add_argument('--config', type=Path, default=CONFIG)
    p.add_argument('--checkpoint', type=Path, default=CHECKPOINT)
    p.add_argument('--work-dir', type=Path,
                   help='where recordings and outputs go (kept). Default: a temporary folder')
    args = p.parse_args(argv)
    if min(args.workers) < 1 or args.repeats < 1 or (args.batch is not None and args.batch < 1):
        p.error('--workers, --repeats and --batch must be >= 1')

    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='bench_staging_')
        root = Path(tmp.name)
    else:
        root = args.work_dir
        if root.exists() and any(root.iterdir()):
            p.error(f'--work-dir {root}: must be empty or new')
    try:
        run(args, root)
    finally:
        if tmp is not None:
            tmp.cleanup()


def run(args, root: Path) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    load_before = os.getloadavg()
    videos = write_archive(root, args.durations)
    names = [f'night_{i}' for i in range(len(args.durations))]
    print(f'{cpu_name()}, {cores} cores usable ({os.cpu_count()} in the machine); load '
          f'average before {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}'
          f' (1 / 5 / 15 min)')
    print(f'{len(names)} recordings of {", ".join(f"{d:g}" for d in args.durations)} s '
          f'({sum(args.durations) / 60:.1f} min of video), {args.config.name}, '
          f'{args.threads} torch thread(s) per process')
    if max(args.workers) > cores:
        print(f'  note: {max(args.workers)} processes on {cores} cores: at most ~{cores}x '
              f'over one single-threaded process')

    runs = [('1 process', 1, 1)] + [(f'{n} processes', n, 1) for n in args.workers]
    if args.batch:
        runs.append((f'1 process, batch {args.batch}', 1, args.batch))
    walls: Dict[str, List[float]] = {label: [] for label, _, _ in runs}
    results = {}
    for r in range(args.repeats):
        for label, n, batch in (runs if r % 2 == 0 else runs[::-1]):
            out = root / f'out_{r}_{n}_{batch}'
            result = stage(videos, out, n, args, batch)
            walls[label].append(result['wall'])
            results[label] = (out, result)
    reference = results['1 process'][0]
    clips = count_clips(reference, names)
    single = min(walls['1 process'])
    print(f'{clips} clips; wall time = first start to last exit, best of {args.repeats} '
          f'(all runs in brackets), model loading included')
    print(f"  {'run':<22} {'wall s':>8} {'clips/s':>8} {'speed-up':>9}  staged per process"
          f"   outputs vs 1 process")
    for label, n, batch in runs:
        out, result = results[label]
        wall = min(walls[label])
        same = compare(out, reference, names)
        if label == '1 process':
            verdict = '(reference)'
        elif same['identical'] == same['total']:
            verdict = f"{same['total']}/{same['total']} CSVs byte-identical"
        else:
            verdict = (f"{same['identical']}/{same['total']} CSVs byte-identical; labels "
                       f"{'identical' if same['labels_equal'] else 'DIFFER'}, max prob diff "
                       f"{same['max_diff']:.1e}")
        runs_s = ', '.join(f'{w:.1f}' for w in walls[label])
        print(f"  {label:<22} {wall:8.1f} {clips / wall:8.2f} {single / wall:8.2f}x  "
              f"{'/'.join(map(str, staged_by_worker(result['stdouts']))):<20} {verdict}"
              f"  [{runs_s}]")
    load_after = os.getloadavg()
    print(f'load average after {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f}; '
          f'other jobs on the machine share its {cores} cores')


if __name__ == '__main__':
    main()
