"""Embeddings of a list of videos: one vector per video (its test views averaged), or per clip.

    python tools/extract_feat.py CONFIG CHECKPOINT VIDEOS... --out feats/k400_val
        [--stage backbone|neck|0|1|2|3] [--pooling avg|max|avgmax] [--device cuda]
        [--dtype auto|fp32|bf16|fp16|int8]
        [--per-clip --clip-len 32 --frame-interval 2 --stride-sec 2.0] [--cfg-options ...]

VIDEOS are video files, or text files listing one video per line (an optional second column,
such as a label, is ignored; relative paths are taken from ``--video-root``). Writes
``OUT.npy`` (float32, one row per video or clip) and ``OUT.csv`` (the row index, the video and,
per clip, its clip number and start/end seconds). A video that cannot be read is reported on
stderr and left out (exit status 1 at the end); rows of the .npy and .csv always correspond.
Bad input (a missing config or checkpoint, a bad option value): exit status 2 with one
``error:`` line.

The whole-video mode uses the config's test pipeline (e.g. 4 clips x 3 crops for K400) and
averages its views. ``--per-clip`` reads a long video front to back through the streaming
reader (constant memory), one centre view per clip.
"""
import argparse
import csv
import os
import os.path as osp
import sys
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402
from video_swin_plugin.apis.features import POOLINGS, VideoEmbedder, embed_videos  # noqa: E402
from video_swin_plugin.apis.frames import (frame_steps_from_pipeline,  # noqa: E402
                                           pipeline_from_config)
from video_swin_plugin.clip_grid import ClipSchedule  # noqa: E402
from video_swin_plugin.apis.inference import init_recognizer  # noqa: E402
from video_swin_plugin.errors import ConfigError, UsageError  # noqa: E402
from video_swin_plugin.precision import choose_precision  # noqa: E402

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Extract video embeddings')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (Runner, official or converted)')
    parser.add_argument('videos', nargs='+', help='video files or list files (one per line)')
    parser.add_argument('--out', required=True, help='output prefix: writes OUT.npy, OUT.csv')
    parser.add_argument('--video-root', default='', help='prefix of relative paths in lists')
    parser.add_argument('--stage', default='backbone',
                        help="'backbone' (what the head sees; default), 'neck', or a backbone "
                        'stage index 0..3')
    parser.add_argument('--pooling', default='avg', choices=POOLINGS,
                        help='over time and space (avgmax: both, concatenated)')
    cli.add_device_arg(parser)
    cli.add_dtype_arg(parser)
    parser.add_argument('--per-clip', action='store_true',
                        help='one embedding per clip through the streaming reader')
    parser.add_argument('--clip-len', type=int, help='per clip: frames (default: the config\'s)')
    parser.add_argument('--frame-interval', type=int,
                        help='per clip: frame step (default: the config\'s)')
    parser.add_argument('--stride-sec', type=float, default=None,
                        help='per clip: seconds between clip starts (default: clip span)')
    cli.add_cfg_options_arg(parser)
    args = parser.parse_args(argv)
    if args.stage not in ('backbone', 'neck'):
        try:
            args.stage = int(args.stage)
        except ValueError:
            raise UsageError(f"--stage must be 'backbone', 'neck' or a stage index, got "
                             f'{args.stage!r}') from None
        cli.at_least('--stage', args.stage, 0)
    cli.at_least('--clip-len', args.clip_len, 1)
    cli.at_least('--frame-interval', args.frame_interval, 1)
    cli.positive('--stride-sec', args.stride_sec)
    cli.check_device(args.device)
    args.precision = choose_precision(args.dtype, args.device)
    return args


def read_video_list(inputs, root: str = ''):
    """Video paths from video files and list files, in order."""
    videos = []
    for item in inputs:
        if item.lower().endswith(VIDEO_EXTENSIONS):
            videos.append(item)
            continue
        if not osp.isfile(item):
            raise FileNotFoundError(f'video list not found: {item}')
        with open(item) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                path = line.split()[0]
                videos.append(path if osp.isabs(path) else osp.join(root, path))
    if not videos:
        raise UsageError(f'no videos in {", ".join(inputs)}')
    return videos


def _test_sampler(pipeline):
    for step in pipeline:
        if 'SampleFrames' in step['type'] or 'Sample' in step['type']:
            return step
    return {}


def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = cli.config_file(args.config)
    cli.existing_file(args.checkpoint, 'checkpoint file')
    videos = read_video_list(args.videos, args.video_root)
    model = init_recognizer(args.config, args.checkpoint, args.device, args.cfg_options,
                            dtype=args.precision)
    print(f'precision: {model.precision}', file=sys.stderr)
    cfg = model.cfg
    pipeline = pipeline_from_config(cfg)
    embedder = VideoEmbedder(model, pipeline, args.stage, args.pooling)
    failed = []

    def report(path, error):
        failed.append(path)
        print(f'skipped {path}: {error}', file=sys.stderr)

    start = time.time()
    if args.per_clip:
        sampler = _test_sampler(pipeline)
        clip_len = args.clip_len or sampler.get('clip_len')
        interval = args.frame_interval or sampler.get('frame_interval', 1)
        if not clip_len:
            raise ConfigError('--per-clip needs --clip-len (the config\'s test sampler has none)')
        steps = frame_steps_from_pipeline(pipeline)
        vectors, rows = [], []
        for path in videos:
            try:
                stride = args.stride_sec or _span_sec(path, clip_len, interval)
                grid = ClipSchedule(clip_len, interval, stride)
                # collected per video, so a video failing half way leaves no rows behind
                done = [(clip, vec.float().cpu().numpy())
                        for clip, vec in embedder.clips(path, grid, steps)]
            except (OSError, RuntimeError, ValueError) as e:
                report(path, e)
                continue
            for clip, vec in done:
                rows.append(dict(index=len(rows), video=path, clip=clip.index,
                                 start_sec=f'{clip.start:.3f}', end_sec=f'{clip.end:.3f}'))
                vectors.append(vec)
        feats = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
    else:
        feats, rows = embed_videos(embedder, videos, on_error=report)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    np.save(args.out + '.npy', feats.astype(np.float32))
    with open(args.out + '.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ['index', 'video'])
        writer.writeheader()
        writer.writerows(rows)
    print(f'{len(rows)} embeddings of dimension {feats.shape[1] if feats.ndim == 2 else 0} '
          f'from {len(videos) - len(failed)}/{len(videos)} videos in {time.time() - start:.1f} s '
          f'-> {args.out}.npy, {args.out}.csv')
    return 1 if failed else 0


def _span_sec(path: str, clip_len: int, interval: int) -> float:
    """Default stride: back-to-back clips, each covering its own frames."""
    from video_swin_plugin.video_reader import probe_video
    fps = probe_video(path).fps or 30.0
    return clip_len * interval / fps


if __name__ == '__main__':
    sys.exit(cli.run(main))
