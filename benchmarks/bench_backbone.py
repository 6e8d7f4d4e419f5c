"""Our SwinTransformer3D against mmaction2's, side by side in one process, same weights.

Runs alternate (mmaction2, ours, mmaction2, ours, ...) so that a noisy machine slows both
alike; the figure that counts is the ratio ``median(mmaction2) / median(ours)``, printed
with the spread of the per-pair ratios. Also printed: the max abs difference of the
outputs (eval forward) and the peak memory of one step of each model.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over the step; on CPU the peak
RSS of a fresh child process running that one model (``VmHWM``), given both as the
whole process and as the rise over the RSS just before the step (same imports in both
children, so the imports cancel in the ratio).

Against the hardware: the machine's GEMM rate for the precision (``gemm_rates.py``: fp32, bf16,
fp16 ``torch.mm``; int8 FBGEMM's dynamic quantized Linear) is measured first and printed
beside each model's achieved rate (its matrix-product FLOPs, attention included, counted once
on the explicit-attention twin, over the median time), with the fraction reached.
``--precisions fp32 bf16 int8`` times ours alone in each precision, alternating, as the tools
run it (``precision.cast_for_inference``: pure bf16/fp16 weights, int8 quantized Linear).

Examples::

    python benchmarks/bench_backbone.py                 # Swin-T 1x3x32x224x224, CPU fp32, forward
    python benchmarks/bench_backbone.py --mode train --checkpoint
    python benchmarks/bench_backbone.py --device cuda --dtype bf16 --arch base --batch 8
    python benchmarks/bench_backbone.py --dtype int8    # both models' Linear layers in int8
    python benchmarks/bench_backbone.py --precisions fp32 bf16 int8 --repeats 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Tuple

import torch

from gemm_rates import format_rates, gemm_rates, machine  # this folder is sys.path[0]
from video_swin_plugin.models.backbones.swin3d import ARCH_SETTINGS
from video_swin_plugin.precision import TORCH_DTYPES, is_quantized, quantize_linear_int8

# the published Video Swin K400 models: patch (2, 4, 4), window (8, 7, 7), patch norm;
# (embed_dim, depths, num_heads) as the backbone's arch shorthand has them
ARCHS = {name: ARCH_SETTINGS[name] for name in ('tiny', 'small', 'base')}
# dense bf16 peak in TFLOP/s, for model FLOP utilisation; --peak-tflops overrides
BF16_PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0, 'L40S': 362.0, 'L4': 121.0}


def build_ours(args) -> torch.nn.Module:
    from video_swin_plugin.models import SwinTransformer3D
    embed_dim, depths, num_heads = ARCHS[args.arch]
    return SwinTransformer3D(embed_dim=embed_dim, depths=depths, num_heads=num_heads,
                             patch_size=(2, 4, 4), window_size=(8, 7, 7), patch_norm=True,
                             drop_path_rate=args.drop_path, use_checkpoint=args.checkpoint,
                             fused_attention=not args.explicit)


def build_mmaction2(args) -> torch.nn.Module:
    from mmaction.models.backbones.swin import SwinTransformer3D as MMSwin
    embed_dim, depths, num_heads = ARCHS[args.arch]
    return MMSwin(arch=dict(embed_dims=embed_dim, depths=depths, num_heads=num_heads),
                  pretrained=None, patch_size=(2, 4, 4), window_size=(8, 7, 7), patch_norm=True,
                  drop_path_rate=args.drop_path, with_cp=args.checkpoint)


def build_pair(args) -> Tuple[torch.nn.Module, torch.nn.Module]:
    """(mmaction2's, ours) holding the same weights, on ``args.device``."""
    from video_swin_plugin.models.convert import from_mmaction2
    torch.manual_seed(0)
    mm, ours = build_mmaction2(args), build_ours(args)
    ours.load_state_dict(from_mmaction2(mm.state_dict()), strict=True)
    return mm.to(args.device), ours.to(args.device)


def make_input(args) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(args.batch, 3, args.frames, args.size, args.size, device=args.device)


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def step_fn(model: torch.nn.Module, x: torch.Tensor, args) -> Callable[[], torch.Tensor]:
    """One forward (eval, no grad) or forward + backward (train) of ``model``: fp32; bf16 or
    fp16 under autocast, or with ``--pure-half`` in pure half precision; int8 with its Linear
    layers dynamically quantized (as ``precision.cast_for_inference`` does)."""
    half = args.dtype in ('bf16', 'fp16')
    autocast = (torch.autocast(x.device.type, dtype=TORCH_DTYPES[args.dtype])
                if half and not args.pure_half else nullcontext())
    if args.pure_half:
        model.to(TORCH_DTYPES[args.dtype])
        x = x.to(TORCH_DTYPES[args.dtype])
    if args.dtype == 'int8' and not is_quantized(model):
        model.eval()  # (mmaction2's train() returns None, so not chained)
        quantize_linear_int8(model)
    if args.mode == 'fwd':
        model.eval()

        def run():
            with torch.no_grad(), autocast:
                return model(x)
    else:
        model.train()

        def run():
            model.zero_grad(set_to_none=True)
            with autocast:
                out = model(x)
            out.float().square().mean().backward()
            return out
    return run


def timed(run: Callable, device: str) -> Tuple[float, torch.Tensor]:
    sync(device)
    start = time.perf_counter()
    out = run()
    sync(device)
    return time.perf_counter() - start, out


def time_pair(mm, ours, x, args) -> Dict:
    runs = {'mmaction2': step_fn(mm, x, args), 'ours': step_fn(ours, x, args)}
    for _ in range(args.warmup):
        for run in runs.values():
            run()
    times: Dict[str, List[float]] = {'mmaction2': [], 'ours': []}
    outs = {}
    for i in range(args.repeats):
        order = ('mmaction2', 'ours') if i % 2 == 0 else ('ours', 'mmaction2')
        for name in order:
            t, outs[name] = timed(runs[name], args.device)
            times[name].append(t)
    pair_ratios = [a / b for a, b in zip(times['mmaction2'], times['ours'])]
    med = {k: statistics.median(v) for k, v in times.items()}
    diff = (outs['ours'].float() - outs['mmaction2'].float()).abs().max().item()
    return dict(times=times, median_s=med, ratio=med['mmaction2'] / med['ours'],
                pair_ratio_min=min(pair_ratios), pair_ratio_max=max(pair_ratios),
                max_abs_diff=diff, ref_abs_max=outs['mmaction2'].float().abs().max().item())


def flops_per_step(x, args) -> float:
    """FLOPs of one step of ours, counted by torch's FlopCounterMode in fp32 on the
    explicit-attention twin (the counter has no formula for CPU SDPA kernels; the explicit
    path's matrix products are the same FLOPs): convolution, Linear, attention products."""
    from torch.utils.flop_counter import FlopCounterMode
    twin_args = argparse.Namespace(**{**vars(args), 'explicit': True, 'dtype': 'fp32',
                                      'pure_half': False})
    torch.manual_seed(0)
    twin = build_ours(twin_args).to(args.device)
    run = step_fn(twin, x, twin_args)
    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def gemm_rate_for(rates: Dict[str, float], dtype: str) -> float:
    """The machine's rate for a model in ``dtype`` (int8 models are judged against FBGEMM's
    int8 Linear)."""
    return rates.get(dtype, float('nan'))


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_rss_bytes() -> int:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries that across
    ``execve``, so a child would report its parent's peak."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no VmHWM in /proc/self/status')


def child_memory(args) -> Dict:
    """Run in a fresh process: one step of one model; its peak RSS (CPU) or VRAM (CUDA)."""
    import mmaction.models.backbones.swin  # noqa: F401  same imports in both children
    import video_swin_plugin.models  # noqa: F401
    mm, ours = build_pair(args)
    model = mm if args.child == 'mmaction2' else ours
    del mm, ours
    x = make_input(args)
    run = step_fn(model, x, args)
    if args.device.startswith('cuda'):
        run()  # warm: kernels, cuBLAS workspace
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return dict(peak=peak, rise=peak - before)
    before = rss_bytes()
    run()
    peak = peak_rss_bytes()
    return dict(peak=peak, rise=peak - before)


def measure_memory(args) -> Dict:
    """Peak memory of each model, each in its own child process, alternating."""
    results: Dict[str, List[Dict]] = {'mmaction2': [], 'ours': []}
    argv = [a for a in sys.argv[1:]]
    for i in range(args.memory_repeats):
        for name in (('mmaction2', 'ours') if i % 2 == 0 else ('ours', 'mmaction2')):
            env = dict(os.environ)
            if args.malloc_mmap_threshold and not args.device.startswith('cuda'):
                # a fixed threshold: glibc serves every large tensor by mmap and unmaps it
                # when freed, so RSS follows live tensors instead of the heap's high-water mark
                env['MALLOC_MMAP_THRESHOLD_'] = str(args.malloc_mmap_threshold)
            out = subprocess.run([sys.executable, __file__, *argv, '--child', name],
                                 capture_output=True, text=True, check=False, env=env)
            if out.returncode:
                raise RuntimeError(f'memory child {name} failed:\n{out.stderr[-3000:]}')
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ('peak', 'rise')}
           for name, rs in results.items()}
    return dict(per_run=results, median=med,
                peak_ratio=med['ours']['peak'] / med['mmaction2']['peak'],
                rise_ratio=med['ours']['rise'] / med['mmaction2']['rise'])


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's with the flags that decide the fast precisions."""
    return machine(device)


def compare_precisions(args) -> Dict:
    """Ours in each of ``args.precisions``, cast as the tools cast it, runs alternating."""
    import copy

    from video_swin_plugin.precision import cast_for_inference
    torch.manual_seed(0)
    base = build_ours(args).to(args.device).eval()
    x = make_input(args)
    models, inputs = {}, {}
    for name in args.precisions:
        holder = torch.nn.Module()  # cast_for_inference casts a recognizer's backbone
        holder.backbone = copy.deepcopy(base)
        cast_for_inference(holder, name)
        models[name] = holder.backbone
        inputs[name] = x.to(TORCH_DTYPES.get(name, torch.float32))
    times: Dict[str, List[float]] = {name: [] for name in models}
    outs = {}
    with torch.no_grad():
        for name, model in models.items():
            for _ in range(args.warmup):
                model(inputs[name])
        for i in range(args.repeats):
            order = list(models) if i % 2 == 0 else list(reversed(models))
            for name in order:
                t, outs[name] = timed(lambda: models[name](inputs[name]), args.device)
                times[name].append(t)
    profiles = {}
    if args.profile:  # where the time goes, per precision: operators by self CPU/CUDA time
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU] + (
            [ProfilerActivity.CUDA] if args.device.startswith('cuda') else [])
        sort = 'self_cuda_time_total' if args.device.startswith('cuda') else 'self_cpu_time_total'
        with torch.no_grad():
            for name, model in models.items():
                with profile(activities=activities) as prof:
                    model(inputs[name])
                    sync(args.device)
                profiles[name] = prof.key_averages().table(sort_by=sort,
                                                           row_limit=args.profile)
    ref = outs.get('fp32')
    rows = {}
    for name, ts in times.items():
        row = dict(median_s=statistics.median(ts), min_s=min(ts), max_s=max(ts), n=len(ts))
        if ref is not None:
            diff = (outs[name].float() - ref.float()).norm() / ref.float().norm()
            row['rel_error_vs_fp32'] = diff.item()
        rows[name] = row
    return dict(precisions=rows, profiles=profiles)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', choices=sorted(ARCHS), default='tiny')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--frames', type=int, default=32)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16', 'int8'], default='fp32',
                   help='bf16/fp16: autocast for both models (mmaction2 crashes in pure half '
                   'precision); int8: both models\' Linear layers dynamically quantized '
                   '(CPU, forward only)')
    p.add_argument('--pure-half', action='store_true',
                   help='with --dtype bf16/fp16: ours as model.to(dtype) instead of autocast '
                   '(timed against mmaction2 under autocast: it cannot run pure half precision)')
    p.add_argument('--precisions', nargs='+', choices=['fp32', 'bf16', 'fp16', 'int8'],
                   help='time ours alone in each of these precisions, alternating, as the '
                   'tools cast it (no mmaction2, no --dtype)')
    p.add_argument('--profile', type=int, default=0, metavar='N',
                   help='with --precisions: also profile one forward per precision and print '
                   'its N most expensive operators (self time)')
    p.add_argument('--no-gemm', action='store_true',
                   help='skip measuring the GEMM rates and the FLOP count')
    p.add_argument('--mode', choices=['fwd', 'train'], default='fwd',
                   help='fwd: eval forward without grad; train: forward + backward')
    p.add_argument('--checkpoint', action='store_true', help='gradient checkpointing (train)')
    p.add_argument('--explicit', action='store_true', help='our explicit attention path')
    p.add_argument('--drop-path', type=float, default=0.1)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--memory', action='store_true', help='also measure peak memory')
    p.add_argument('--memory-repeats', type=int, default=2)
    p.add_argument('--malloc-mmap-threshold', type=int, default=128 * 1024,
                   help='CPU memory children: MALLOC_MMAP_THRESHOLD_ in bytes (0: glibc default, '
                   'whose dynamic threshold keeps freed tensors in the heap and inflates peak RSS)')
    p.add_argument('--skip-timing', action='store_true', help='only --memory')
    p.add_argument('--peak-tflops', type=float, default=None,
                   help='bf16 peak of the device for MFU (CUDA; guessed from its name)')
    p.add_argument('--json', action='store_true', help='print one JSON line, no table')
    p.add_argument('--child', choices=['mmaction2', 'ours'], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.pure_half and args.dtype not in ('bf16', 'fp16'):
        p.error('--pure-half needs --dtype bf16 or fp16')
    if 'int8' in [args.dtype] + (args.precisions or []) and (
            args.mode != 'fwd' or args.device.startswith('cuda')):
        p.error('int8 is for --mode fwd on the CPU')
    if args.child:
        print(json.dumps(child_memory(args)))
        return
    if args.precisions:
        run_precisions(args)
        return

    shape = f'{args.batch}x3x{args.frames}x{args.size}x{args.size}'
    result = dict(arch=args.arch, shape=shape, device=device_name(args.device),
                  dtype=args.dtype + (' pure' if args.pure_half else ' autocast'
                                      if args.dtype in ('bf16', 'fp16') else ''),
                  mode=args.mode + (' +checkpoint' if args.checkpoint else ''),
                  torch=torch.__version__)
    if not args.no_gemm:
        result['gemm_gflops'] = gemm_rates(device=args.device)
        result['gflops_per_step'] = flops_per_step(make_input(args), args) / 1e9
    mm, ours = build_pair(args)
    x = make_input(args)
    if args.skip_timing:
        timing = {}
    elif args.pure_half:
        # mmaction2 cannot run pure bf16: time ours alone, against mmaction2 under autocast
        ref_args = argparse.Namespace(**{**vars(args), 'pure_half': False})
        ref_run = step_fn(mm, x, ref_args)
        run = step_fn(ours, x, args)
        for _ in range(args.warmup):
            ref_run(), run()
        t_mm, t_ours = [], []
        for _ in range(args.repeats):
            t, ref = timed(ref_run, args.device)
            t_mm.append(t)
            t, out = timed(run, args.device)
            t_ours.append(t)
        med = {'mmaction2': statistics.median(t_mm), 'ours': statistics.median(t_ours)}
        ratios = [a / b for a, b in zip(t_mm, t_ours)]
        timing = dict(times={'mmaction2': t_mm, 'ours': t_ours}, median_s=med,
                      ratio=med['mmaction2'] / med['ours'], pair_ratio_min=min(ratios),
                      pair_ratio_max=max(ratios),
                      max_abs_diff=(out.float() - ref.float()).abs().max().item(),
                      ref_abs_max=ref.float().abs().max().item())
    else:
        timing = time_pair(mm, ours, x, args)
    result.update(timing)
    if 'gflops_per_step' in result and timing:
        rate = gemm_rate_for(result['gemm_gflops'], args.dtype)
        result['achieved_gflops'] = {
            name: result['gflops_per_step'] / timing['median_s'][name] for name in
            timing['median_s']}
        result['gemm_fraction'] = {name: g / rate for name, g in
                                   result['achieved_gflops'].items()}
    if args.device.startswith('cuda') and timing and 'gflops_per_step' in result:
        name = torch.cuda.get_device_name()
        peak = args.peak_tflops or next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name),
                                        None)
        achieved = result['achieved_gflops']['ours'] / 1e3
        result.update(tflops_per_s=achieved,
                      clips_per_s=args.batch / timing['median_s']['ours'],
                      mfu_vs_bf16_peak=achieved / peak if peak else None)
    del mm, ours, x
    if args.memory:
        result['memory'] = measure_memory(args)
    if args.json:
        print(json.dumps(result))
        return
    print_table(result)


def run_precisions(args) -> None:
    """``--precisions``: ours in each precision, with the GEMM rates and fractions."""
    result = dict(arch=args.arch, shape=f'{args.batch}x3x{args.frames}x{args.size}x{args.size}',
                  device=device_name(args.device), mode='fwd', torch=torch.__version__)
    if not args.no_gemm:
        result['gemm_gflops'] = gemm_rates(device=args.device)
        result['gflops_per_step'] = flops_per_step(make_input(args), args) / 1e9
    result.update(compare_precisions(args))
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != 'profiles'}))
        return
    print(f"{result['arch']} {result['shape']} | {result['device']} | forward, no grad, ours "
          'as the tools cast it')
    if 'gemm_gflops' in result:
        print(f"  GEMM rates: {format_rates(result['gemm_gflops'])}; "
              f"{result['gflops_per_step']:.1f} GFLOP per forward")
    fp32 = result['precisions'].get('fp32', {}).get('median_s')
    for name, row in result['precisions'].items():
        line = (f"  {name:5s} median {row['median_s']:.3f} s (min {row['min_s']:.3f}, max "
                f"{row['max_s']:.3f}, n={row['n']})")
        if fp32:
            line += f", {fp32 / row['median_s']:.2f}x fp32"
        if 'gflops_per_step' in result:
            achieved = result['gflops_per_step'] / row['median_s']
            rate = gemm_rate_for(result['gemm_gflops'], name)
            line += (f", {achieved:.1f} GFLOP/s = {100 * achieved / rate:.0f}% of the {name} "
                     f'GEMM rate ({rate:.1f})')
        if 'rel_error_vs_fp32' in row and name != 'fp32':
            line += f", relative error vs fp32 {row['rel_error_vs_fp32']:.2e}"
        print(line)
    for name, table in result.get('profiles', {}).items():
        print(f'\nprofile, {name}:\n{table}')


def print_table(r: Dict) -> None:
    gib = 1024**3
    print(f"{r['arch']} {r['shape']} | {r['device']} | {r['dtype']} | {r['mode']} | "
          f"torch {r['torch']}")
    if 'gemm_gflops' in r:
        print(f"  GEMM rates: {format_rates(r['gemm_gflops'])}; {r['gflops_per_step']:.1f} "
              f'GFLOP per step')
    for name in ('mmaction2', 'ours') if 'times' in r else ():
        ts = r['times'][name]
        print(f'  {name:9s} median {r["median_s"][name]:.3f} s  '
              f'(min {min(ts):.3f}, max {max(ts):.3f}, n={len(ts)})')
    if 'ratio' in r:
        print(f"  speed ratio mmaction2/ours: {r['ratio']:.2f}x  "
              f"(per-pair ratios {r['pair_ratio_min']:.2f}-{r['pair_ratio_max']:.2f})")
        # in training, drop path draws differ between the two models: no diff to report
        if r['mode'] == 'fwd':
            print(f"  max abs diff of outputs: {r['max_abs_diff']:.3g}  "
                  f"(outputs reach {r['ref_abs_max']:.3g})")
    for name, achieved in r.get('achieved_gflops', {}).items():
        print(f"  {name:9s} {achieved:.1f} GFLOP/s = {100 * r['gemm_fraction'][name]:.0f}% of "
              f"the {r['dtype'].split()[0]} GEMM rate "
              f"({gemm_rate_for(r['gemm_gflops'], r['dtype'].split()[0]):.1f} GFLOP/s)")
    if 'tflops_per_s' in r:
        mfu = r['mfu_vs_bf16_peak']
        print(f"  ours: {r['clips_per_s']:.2f} clips/s, {r['gflops_per_step']:.1f} GFLOP/step, "
              f"{r['tflops_per_s']:.1f} TFLOP/s" +
              (f", MFU {100 * mfu:.1f}% of bf16 peak" if mfu else ''))
    if 'memory' in r:
        m = r['memory']['median']
        for name in ('mmaction2', 'ours'):
            print(f'  {name:9s} peak {m[name]["peak"] / gib:.2f} GiB, '
                  f'rise over the step {m[name]["rise"] / gib:.2f} GiB')
        print(f"  memory ratio ours/mmaction2: peak {r['memory']['peak_ratio']:.2f}, "
              f"rise {r['memory']['rise_ratio']:.2f}")


if __name__ == '__main__':
    main()
