"""Swin-T + FAM streaming: throughput and peak memory against the number of clips.

Inference (default): one recording read clip after clip, as ``apis/streaming.py`` does:
``memory = neck.init_memory(B)``, then per clip ``feats = backbone(clip)``,
``out, memory = neck.step(feats, memory)``, ``logits = head(out)``. The FAM memory is bounded,
so peak memory must not grow with the number of clips; throughput is clips/s and the
multiple of real time (seconds of video per second of compute, a clip covering
``clip_len * frame_interval / fps`` seconds).

Batch (``--batch``, one or several): B recordings streamed side by side, one clip of each per
forward, each with its own memory row, as ``tools/stream_infer.py --batch B`` stages them;
clips/s counts every recording's clips (B per step). With several batch sizes one child
builds the model once and times one step of each size in turn (order reversed every round),
so the ratio of clips/s to the first size is measured side by side; peak memory per size
comes from a fresh child each.

Precision (``--dtype``, one or several): in inference the model is cast as the tools cast it
(``precision.cast_for_inference``: the backbone in pure bf16/fp16 or with int8 quantized
Linear layers, the FAM neck, its memory and the head in fp32); each clips/s figure is printed
beside the machine's GEMM rate for that precision (``gemm_rates.py``) and the fraction of it
the whole model (backbone + FAM + head matrix products, counted once in fp32) reaches.

Training (``--mode train``): sequences of K consecutive clips, backbone on all B*K clips,
``neck.forward_sequence`` carrying memory through them, a linear head, backward; with
``--checkpoint`` the backbone and the FAM layers checkpoint, with ``--dtype bf16`` autocast
(AMP). Figures for K = each of ``--num-clips``.

Peak memory: CUDA ``torch.cuda.max_memory_allocated``; CPU peak RSS of a fresh child
process per point (under a fixed ``MALLOC_MMAP_THRESHOLD_``, see bench_backbone.py).

Examples::

    python benchmarks/bench_stream.py                                   # CPU fp32, 1/4/16 clips
    python benchmarks/bench_stream.py --dtype fp32 bf16 int8 --num-clips 4
    python benchmarks/bench_stream.py --batch 1 4 8 --num-clips 4      # ratio to batch 1
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
from gemm_rates import format_rates, gemm_rates


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
    neck = FAMNeck(in_channels=channels, use_checkpoint=args.checkpoint,
                   fused_attention=not args.explicit)
    head = Head(neck.embed_dims, args.num_classes)
    return backbone.to(args.device), neck.to(args.device), head.to(args.device)


def cast(args, backbone, neck, head) -> None:
    """The tools' cast (``precision.cast_for_inference``) of backbone + neck + head."""
    from video_swin_plugin.precision import cast_for_inference
    model = nn.Module()
    model.backbone, model.neck, model.cls_head = backbone, neck, head
    cast_for_inference(model, args.dtype)


def autocast(args):
    """AMP for training in bf16; inference is cast instead (see :func:`cast`)."""
    return (torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16)
            if args.dtype == 'bf16' and args.mode == 'train' else nullcontext())


def flops_per_clip(args) -> float:
    """Matrix-product FLOPs of one clip (backbone + FAM step + head), counted in fp32 on the
    explicit-attention twins (torch's counter has no formula for CPU SDPA kernels)."""
    from torch.utils.flop_counter import FlopCounterMode
    twin_args = argparse.Namespace(**{**vars(args), 'explicit': True, 'checkpoint': False})
    backbone, neck, head = build(twin_args)
    clip = torch.randn(clip_shape(args, args.batch), device=args.device)
    memory = neck.init_memory(args.batch).detach()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        head(neck.step(backbone(clip), memory)[0])
    return float(counter.get_total_flops()) / args.batch


def clip_shape(args, n: int):
    return (n, 3, args.clip_len, args.size, args.size)


def build_stream(args):
    """Backbone, neck and head in eval mode, cast as the tools cast them."""
    backbone, neck, head = build(args)
    backbone.eval(), neck.eval(), head.eval()
    cast(args, backbone, neck, head)
    return backbone, neck, head


def new_clip(args, backbone, batch: int) -> torch.Tensor:
    clip = torch.randn(clip_shape(args, batch), device=args.device)
    return clip.to(next(backbone.parameters()).dtype)  # the data preprocessor's output dtype


def stream_step(args, model, clip, memory):
    """One clip of each recording through backbone, FAM step and head; (seconds, memory)."""
    backbone, neck, head = model
    start = time.perf_counter()
    # a new clip each step: same cost as decoding-free fresh data, no caching effects
    clip.normal_()
    out, memory = neck.step(backbone(clip), memory)
    logits = head(out)
    sync(args.device)
    assert torch.isfinite(logits.float()).all()
    assert memory.tokens.dtype == torch.float32  # the memory is carried in fp32
    return time.perf_counter() - start, memory


def run_stream(args, num_clips: int) -> Dict:
    """Inference over ``num_clips`` clips of ``args.batch`` recordings; per-step times."""
    model = build_stream(args)
    torch.manual_seed(1)
    clip = new_clip(args, model[0], args.batch)
    times = []
    with torch.no_grad(), autocast(args):
        memory = model[1].init_memory(args.batch)
        for _ in range(args.warmup):
            _, memory = stream_step(args, model, clip, memory)
        if args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        for _ in range(num_clips):
            seconds, memory = stream_step(args, model, clip, memory)
            times.append(seconds)
    return dict(times=times)


def run_stream_batches(args, num_clips: int) -> Dict:
    """Steps of every batch size in ``args.batches`` in turn, one model: per-step times by
    size. Each size streams its own recordings (own clips, own memory); the order of the
    sizes is reversed every round so neither drifts in the machine's load alone."""
    model = build_stream(args)
    torch.manual_seed(1)
    clips = {b: new_clip(args, model[0], b) for b in args.batches}
    times = {b: [] for b in args.batches}
    with torch.no_grad(), autocast(args):
        memories = {b: model[1].init_memory(b) for b in args.batches}
        for b in args.batches:
            for _ in range(args.warmup):
                _, memories[b] = stream_step(args, model, clips[b], memories[b])
        for i in range(num_clips):
            for b in (args.batches if i % 2 == 0 else args.batches[::-1]):
                seconds, memories[b] = stream_step(args, model, clips[b], memories[b])
                times[b].append(seconds)
    return dict(times={str(b): t for b, t in times.items()})


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
    run = run_train if args.mode == 'train' else run_stream
    if len(args.batches) > 1:
        run = run_stream_batches
    result = run(args, k)
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
    p.add_argument('--batch', type=int, nargs='+', default=[1],
                   help='recordings streamed side by side; several sizes (stream mode): timed '
                   'alternating in one process, with the ratio of clips/s to the first')
    p.add_argument('--clip-len', type=int, default=32)
    p.add_argument('--frame-interval', type=int, default=2)
    p.add_argument('--fps', type=float, default=30.0)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--num-clips', type=int, nargs='+', default=[1, 4, 16])
    p.add_argument('--num-classes', type=int, default=5)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--dtype', nargs='+', choices=['fp32', 'bf16', 'fp16', 'int8'],
                   default=['fp32'],
                   help='one or several precisions; inference: cast as the tools cast it '
                   '(backbone only; FAM and head fp32); training: bf16 = autocast (AMP)')
    p.add_argument('--mode', choices=['stream', 'train'], default='stream')
    p.add_argument('--checkpoint', action='store_true', help='checkpointing (train)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeats', type=int, default=1, help='training steps timed per point')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--malloc-mmap-threshold', type=int, default=128 * 1024)
    p.add_argument('--no-memory', action='store_true',
                   help='time only (no second child measuring peak memory)')
    p.add_argument('--no-gemm', action='store_true',
                   help='skip measuring the GEMM rates and the FLOP count')
    p.add_argument('--json', action='store_true')
    p.add_argument('--child', type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.drop_path, args.explicit = 0.1, False  # for bench_backbone's builders
    args.batches, args.batch = args.batch, args.batch[0]
    if min(args.batches) < 1:
        p.error(f'--batch: sizes must be >= 1, got {args.batches}')
    if len(args.batches) > 1 and args.mode != 'stream':
        p.error('several --batch sizes: stream mode only')
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mode == 'train' and not set(args.dtype) <= {'fp32', 'bf16'}:
        p.error('training: --dtype fp32 or bf16 (AMP)')
    if args.child is not None:
        args.dtype = args.dtype[0]
        print(json.dumps(child(args)))
        return
    gemm, flops = {}, None
    if not args.no_gemm:
        gemm = gemm_rates(device=args.device)
        flops = flops_per_clip(argparse.Namespace(**{**vars(args), 'dtype': 'fp32'}))
    dtypes = args.dtype
    argv = list(sys.argv[1:] if argv is None else argv)
    for dtype in dtypes:
        args.dtype = dtype
        if len(args.batches) > 1:
            run_batch_points(args, argv, gemm, flops)
        else:
            run_points(args, argv, gemm, flops)


def _argv_with(argv, flag, *values):
    """``argv`` with the values of ``flag`` replaced by ``values`` (a child runs one dtype,
    a memory child one batch size)."""
    out, skipping = [], False
    for a in argv:
        if a == flag:
            skipping = True
            continue
        if skipping and not a.startswith('--'):
            continue
        skipping = False
        out.append(a)
    return out + [flag, *map(str, values)]


def _memory_env(args) -> Dict[str, str]:
    env = dict(os.environ)
    if args.malloc_mmap_threshold and not args.device.startswith('cuda'):
        env['MALLOC_MMAP_THRESHOLD_'] = str(args.malloc_mmap_threshold)
    return env


def _run_child(argv, k, child_env) -> Dict:
    out = subprocess.run([sys.executable, __file__, *argv, '--child', str(k)],
                         capture_output=True, text=True, env=child_env, check=False)
    if out.returncode:
        raise RuntimeError(f'child for {k} clips failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def run_batch_points(args, argv, gemm, flops) -> None:
    """Per number of clips: one child times every batch size alternating (the ratio of
    clips/s to the first size, per round and its median); one fresh child per size gives
    its peak memory."""
    argv = _argv_with(argv, '--dtype', args.dtype)
    env = _memory_env(args)
    clip_sec = args.clip_len * args.frame_interval / args.fps
    ref = args.batches[0]
    print(f"{args.arch} ({args.backbone}) + FAM | stream | batch {' / '.join(map(str, args.batches))}"
          f" alternating x {args.clip_len}x{args.size}x{args.size} | {device_name(args.device)}"
          f" | {args.dtype} | a clip = {clip_sec:.2f} s of video")
    if gemm and flops:
        print(f'  GEMM rates: {format_rates(gemm)}; {flops / 1e9:.1f} GFLOP per clip')
    for k in args.num_clips:
        times = {int(b): t for b, t in _run_child(argv, k, os.environ)['times'].items()}
        print(f'  {k} steps of each size, alternating; clips/s counts all B recordings:')
        for b in args.batches:
            med = _median(times[b])
            # per round: clips/s of b over clips/s of ref, both timed in that round
            ratios = [(b / t) / (ref / t_ref) for t, t_ref in zip(times[b], times[ref])]
            row = dict(num_clips=k, batch=b, median_s=med, clips_per_s=b / med,
                       realtime_x=b / med * clip_sec, ratio=_median(ratios),
                       ratio_min=min(ratios), ratio_max=max(ratios))
            if not args.no_memory:
                mem = _run_child(_argv_with(argv, '--batch', b), k, env)
                row['peak_gib'] = mem['peak'] / 1024**3
                if mem.get('rss_before') is not None:
                    row['rise_gib'] = (mem['peak'] - mem['rss_before']) / 1024**3
            if flops and args.dtype in gemm:
                row['gflops_per_s'] = flops * row['clips_per_s'] / 1e9
                row['gemm_fraction'] = row['gflops_per_s'] / gemm[args.dtype]
            if args.json:
                print(json.dumps({**vars(args), **row, 'device_name': device_name(args.device)}))
                continue
            peak = f", peak {row['peak_gib']:.2f} GiB" if 'peak_gib' in row else ''
            rise = f", rise {row['rise_gib']:.2f} GiB" if 'rise_gib' in row else ''
            rate = (f", {100 * row['gemm_fraction']:.0f}% of the {args.dtype} GEMM rate"
                    if 'gemm_fraction' in row else '')
            print(f"  batch {b:3d}: {med:.3f} s per step (median), {row['clips_per_s']:.2f} "
                  f"clips/s = {row['ratio']:.2f}x batch {ref} (rounds {row['ratio_min']:.2f}-"
                  f"{row['ratio_max']:.2f}), {row['realtime_x']:.1f}x real time{rate}{peak}{rise}")


def run_points(args, argv, gemm, flops) -> None:
    """One row per number of clips for ``args.dtype``, each point in fresh children."""
    argv = _argv_with(argv, '--dtype', args.dtype)
    env = _memory_env(args)
    clip_sec = args.clip_len * args.frame_interval / args.fps
    print(f"{args.arch} ({args.backbone}) + FAM | {args.mode}"
          f"{' +checkpoint' if args.checkpoint else ''} | batch {args.batch} x "
          f"{args.clip_len}x{args.size}x{args.size} | {device_name(args.device)} | {args.dtype}"
          f" | a clip = {clip_sec:.2f} s of video")
    if gemm and flops:
        print(f'  GEMM rates: {format_rates(gemm)}; {flops / 1e9:.1f} GFLOP per clip')
    rows = []
    def run_child(k, child_env):
        return _run_child(argv, k, child_env)

    for k in args.num_clips:
        # times from a child with the default allocator, memory from one under the fixed
        # mmap threshold (which slows every large allocation)
        r = run_child(k, os.environ)
        if env != dict(os.environ) and not args.no_memory:
            mem = run_child(k, env)
            r['peak'], r['rss_before'] = mem['peak'], mem.get('rss_before')
        ts = sorted(r['times'])
        med = ts[len(ts) // 2]
        clips = args.batch * (k if args.mode == 'train' else 1)
        row = dict(num_clips=k, median_s=med, clips_per_s=clips / med,
                   realtime_x=clips / med * clip_sec, peak_gib=r['peak'] / 1024**3)
        if r.get('rss_before') is not None:
            row['rise_gib'] = (r['peak'] - r['rss_before']) / 1024**3
        if flops and args.mode == 'stream' and args.dtype in gemm:
            row['gflops_per_s'] = flops * row['clips_per_s'] / 1e9
            row['gemm_fraction'] = row['gflops_per_s'] / gemm[args.dtype]
        rows.append(row)
        if args.json:
            print(json.dumps({**vars(args), **row, 'device_name': device_name(args.device)}))
        else:
            rise = f", rise {row['rise_gib']:.2f} GiB" if 'rise_gib' in row else ''
            what = 'per clip' if args.mode == 'stream' else 'per step'
            rate = (f", {row['gflops_per_s']:.1f} GFLOP/s = {100 * row['gemm_fraction']:.0f}% of "
                    f"the {args.dtype} GEMM rate" if 'gemm_fraction' in row else '')
            print(f"  clips {k:4d}: {med:.3f} s {what} (median), {row['clips_per_s']:.2f} "
                  f"clips/s, {row['realtime_x']:.1f}x real time{rate}, peak "
                  f"{row['peak_gib']:.2f} GiB{rise}")


if __name__ == '__main__':
    main()
