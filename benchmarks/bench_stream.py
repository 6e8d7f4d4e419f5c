"""Swin-T + FAM streaming: throughput and peak memory against the number of clips.

Inference (default): one recording read clip after clip, as ``apis/streaming.py`` does:
``memory = neck.init_memory(B)``, then per clip ``feats = backbone(clip)``,
``out, memory = neck.step(feats, memory)``, ``logits = head(out)``. The FAM memory is bounded,
so peak memory must not grow with the number of clips; throughput is clips/s and the
multiple of real time (seconds of video per second of compute, a clip covering
``clip_len * frame_interval / fps`` seconds).

Training (``--mode train``): sequences of K consecutive clips, backbone on all B*K clips,
``neck.forward_sequence`` carrying memory through them, a linear head, backward; with
``--checkpoint`` the backbone and the FAM layers checkpoint, with ``--dtype bf16`` autocast
(AMP). Figures for K = each of ``--num-clips``.

Peak memory: CUDA ``torch.cuda.max_memory_allocated``; CPU peak RSS of a fresh child
process per point (under a fixed ``MALLOC_MMAP_THRESHOLD_``, see bench_backbone.py).

Examples::

    python benchmarks/bench_stream.py                                   # CPU fp32, 1/4/16 clips
    python benchmarks/bench_stream.py --device cuda --dtype bf16 --num-clips 1 8 64 256
    python benchmarks/bench_stream.py --device cuda --dtype bf16 --mode train --checkpoint \\
        --num-clips 4 8
"""
import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Dict

import torch
from torch import nn

from bench_backbone import (  # this folder is sys.path[0] when run as a script
    ARCHS, build_mmaction2, build_ours, device_name, peak_rss_bytes, rss_bytes,
    sync)


class Head(nn.Module):
    """I3DHead's computation: average pool then a linear layer."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(2).mean(-1))


def build(args):
    from video_swin_plugin.models.necks.fam import FAMNeck
    torch.manual_seed(0)
    backbone = build_mmaction2(args) if args.backbone == 'mmaction2' else build_ours(args)
    channels = ARCHS[args.arch][0] * 8
    neck = FAMNeck(in_channels=channels, use_checkpoint=args.checkpoint)
    head = Head(neck.embed_dims, args.num_classes)
    return backbone.to(args.device), neck.to(args.device), head.to(args.device)


def autocast(args):
    return (torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16)
            if args.dtype == 'bf16' else nullcontext())


def clip_shape(args, n: int):
    return (n, 3, args.clip_len, args.size, args.size)


def run_stream(args, num_clips: int) -> Dict:
    """Inference over ``num_clips`` clips of ``args.batch`` recordings; per-clip times."""
    backbone, neck, head = build(args)
    backbone.eval(), neck.eval(), head.eval()
    torch.manual_seed(1)
    clip = torch.randn(clip_shape(args, args.batch), device=args.device)
    times = []
    with torch.no_grad(), autocast(args):
        memory = neck.init_memory(args.batch)
        for _ in range(args.warmup):
            head(neck.step(backbone(clip), memory)[0])
        sync(args.device)
        if args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        for _ in range(num_clips):
            start = time.perf_counter()
            # a new clip each step: same cost as decoding-free fresh data, no caching effects
            clip.normal_()
            out, memory = neck.step(backbone(clip), memory)
            logits = head(out)
            sync(args.device)
            times.append(time.perf_counter() - start)
    assert torch.isfinite(logits.float()).all()
    return dict(times=times)


def run_train(args, num_clips: int) -> Dict:
    """One training step on B sequences of ``num_clips`` clips."""
    backbone, neck, head = build(args)
    backbone.train(), neck.train(), head.train()
    torch.manual_seed(1)
    x = torch.randn(clip_shape(args, args.batch * num_clips), device=args.device)
    target = torch.randint(args.num_classes, (args.batch * num_clips, ), device=args.device)
    params = [p for m in (backbone, neck, head) for p in m.parameters()]

    def step():
        for p in params:
            p.grad = None
        with autocast(args):
            feats = backbone(x)
            out, _ = neck.forward_sequence(feats, num_clips)
            loss = nn.functional.cross_entropy(head(out).float(), target)
        loss.backward()

    for _ in range(args.warmup):
        step()
    sync(args.device)
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        sync(args.device)
        times.append(time.perf_counter() - start)
    return dict(times=times)


def child(args) -> Dict:
    """One point (one number of clips) in this process, with its peak memory."""
    k = args.child
    before = torch.cuda.memory_allocated() if args.device.startswith('cuda') else rss_bytes()
    result = (run_train if args.mode == 'train' else run_stream)(args, k)
    if args.device.startswith('cuda'):
        result['peak'] = torch.cuda.max_memory_allocated()
    else:
        result['peak'] = peak_rss_bytes()
        result['rss_before'] = before
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', choices=sorted(ARCHS), default='tiny')
    p.add_argument('--backbone', choices=['ours', 'mmaction2'], default='ours')
    p.add_argument('--batch', type=int, default=1, help='recordings streamed side by side')
    p.add_argument('--clip-len', type=int, default=32)
    p.add_argument('--frame-interval', type=int, default=2)
    p.add_argument('--fps', type=float, default=30.0)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--num-clips', type=int, nargs='+', default=[1, 4, 16])
    p.add_argument('--num-classes', type=int, default=5)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--dtype', choices=['fp32', 'bf16'], default='fp32', help='bf16: autocast')
    p.add_argument('--mode', choices=['stream', 'train'], default='stream')
    p.add_argument('--checkpoint', action='store_true', help='checkpointing (train)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeats', type=int, default=1, help='training steps timed per point')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--malloc-mmap-threshold', type=int, default=128 * 1024)
    p.add_argument('--json', action='store_true')
    p.add_argument('--child', type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.drop_path, args.explicit = 0.1, False  # for bench_backbone's builders
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child is not None:
        print(json.dumps(child(args)))
        return
    env = dict(os.environ)
    if args.malloc_mmap_threshold and not args.device.startswith('cuda'):
        env['MALLOC_MMAP_THRESHOLD_'] = str(args.malloc_mmap_threshold)
    clip_sec = args.clip_len * args.frame_interval / args.fps
    print(f"{args.arch} ({args.backbone}) + FAM | {args.mode}"
          f"{' +checkpoint' if args.checkpoint else ''} | batch {args.batch} x "
          f"{args.clip_len}x{args.size}x{args.size} | {device_name(args.device)} | {args.dtype}"
          f" | torch {torch.__version__} | a clip = {clip_sec:.2f} s of video")
    rows = []
    def run_child(k, child_env):
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], '--child', str(k)],
                             capture_output=True, text=True, env=child_env, check=False)
        if out.returncode:
            raise RuntimeError(f'child for {k} clips failed:\n{out.stderr[-3000:]}')
        return json.loads(out.stdout.strip().splitlines()[-1])

    for k in args.num_clips:
        # times from a child with the default allocator, memory from one under the fixed
        # mmap threshold (which slows every large allocation)
        r = run_child(k, os.environ)
        if env is not os.environ and env != dict(os.environ):
            mem = run_child(k, env)
            r['peak'], r['rss_before'] = mem['peak'], mem.get('rss_before')
        ts = sorted(r['times'])
        med = ts[len(ts) // 2]
        clips = args.batch * (k if args.mode == 'train' else 1)
        row = dict(num_clips=k, median_s=med, clips_per_s=clips / med,
                   realtime_x=clips / med * clip_sec, peak_gib=r['peak'] / 1024**3)
        if r.get('rss_before') is not None:
            row['rise_gib'] = (r['peak'] - r['rss_before']) / 1024**3
        rows.append(row)
        if args.json:
            print(json.dumps({**vars(args), **row, 'device_name': device_name(args.device)}))
        else:
            rise = f", rise {row['rise_gib']:.2f} GiB" if 'rise_gib' in row else ''
            what = 'per clip' if args.mode == 'stream' else 'per step'
            print(f"  clips {k:4d}: {med:.3f} s {what} (median), {row['clips_per_s']:.2f} "
                  f"clips/s, {row['realtime_x']:.1f}x real time, peak {row['peak_gib']:.2f} "
                  f"GiB{rise}")


if __name__ == '__main__':
    main()
