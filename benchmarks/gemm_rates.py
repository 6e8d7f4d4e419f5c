"""This machine's matrix-product rates per precision, the ceiling a model's speed is judged by.

``fp32``/``bf16``/``fp16``: ``torch.mm(x, w.t())``, an ``M x K`` activation times a ``N x K``
weight as ``nn.Linear`` lays them out. ``int8``: the kernel our int8 path runs, FBGEMM's
dynamically quantized Linear (``quantized::linear_dynamic``: quantize the activations, int8 x
int8 -> int32 product, dequantize), per-channel weights, as ``precision.quantize_linear_int8``
makes them. ``int8_mm``: the bare ``torch._int_mm`` (int8 x int8 -> int32), the product
torchao's int8 path uses, for reference. ``(K, N)`` runs over the MLP shapes of Swin-T's four
stages (``C -> 4C`` and ``4C -> C`` for C = 96, 192, 384, 768) and a rate is the best over those
shapes and over a few timed runs each (a shared machine only ever slows a run down), in
GFLOP/s. ``M`` is sized so that one run takes at least ``min_run_s``: bf16 on a CPU without
bf16 instructions runs 5-50x slower than fp32 depending on the layout, so a fixed size would
take minutes there.

    python benchmarks/gemm_rates.py [--device cuda] [--threads 2]

Also prints the CPU's name and the flags that decide which precision is fast.
"""
import argparse
import time
import warnings
from typing import Callable, Dict, Sequence

import torch

from video_swin_plugin.precision import cpu_flags, cpu_name

# flags that decide the fast precisions on x86 (and ARM's bf16/int8 dot products)
RELEVANT_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16',
                  'avx512_fp16', 'amx_tile', 'amx_bf16', 'amx_int8', 'asimddp', 'bf16', 'i8mm')
# (K, N) of Swin-T's MLP Linear layers, stage by stage; M (tokens) is sized per precision
SWIN_T_SHAPES = tuple(s for c in (96, 192, 384, 768) for s in ((c, 4 * c), (4 * c, c)))


def machine(device: str = 'cpu') -> str:
    """``'<CPU name> [flags], N threads'``, or the GPU's name."""
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    flags = cpu_flags()
    shown = [f for f in RELEVANT_FLAGS if f in flags]
    missing = [f for f in ('avx512f', 'avx512_bf16', 'amx_bf16') if f not in flags]
    return (f'{cpu_name()} [{" ".join(shown) or "flags unknown"}'
            + (f'; no {" ".join(missing)}' if flags and missing else '')
            + f'], torch {torch.__version__}, {torch.get_num_threads()} threads')


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _time(run: Callable[[], object], device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - start


def _product(name: str, m: int, k: int, n: int, device: str) -> Callable[[], object]:
    g = torch.Generator(device=device).manual_seed(0)
    if name == 'int8':
        from video_swin_plugin.precision import quantize_linear_int8
        linear = torch.nn.Sequential(torch.nn.Linear(k, n, bias=False)).eval()
        quantize_linear_int8(linear)
        x = torch.randn(m, k, generator=g)
        return lambda: linear(x)
    if name == 'int8_mm':
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8, device=device, generator=g)
        w = torch.randint(-128, 128, (n, k), dtype=torch.int8, device=device, generator=g)
        return lambda: torch._int_mm(a, w.t())
    dtype = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}[name]
    a = torch.randn(m, k, device=device, generator=g).to(dtype)
    w = torch.randn(n, k, device=device, generator=g).to(dtype)
    return lambda: torch.mm(a, w.t())


def shape_rate(name: str, k: int, n: int, device: str = 'cpu', min_run_s: float = 0.1,
               repeats: int = 3, max_m: int = 1 << 17) -> float:
    """GFLOP/s of the ``name`` product (see the module docstring) for ``M x K @ K x N``."""
    m = 64
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        while True:
            run = _product(name, m, k, n, device)
            run()  # warm-up: packing, first-touch of the output
            t = _time(run, device)
            if t >= min_run_s or m >= max_m:
                break
            m = min(max_m, max(2 * m, int(m * min_run_s / max(t, 1e-6) * 1.2)))
        best = min([t] + [_time(run, device) for _ in range(repeats - 1)])
    return 2.0 * m * k * n / best / 1e9


def gemm_rate(name: str, device: str = 'cpu', shapes=SWIN_T_SHAPES, **kwargs) -> float:
    """The best GFLOP/s of the ``name`` product over ``shapes`` ((K, N) pairs)."""
    return max(shape_rate(name, k, n, device, **kwargs) for k, n in shapes)


def gemm_rates(names: Sequence[str] = ('fp32', 'bf16', 'fp16', 'int8', 'int8_mm'),
               device: str = 'cpu', **kwargs) -> Dict[str, float]:
    """``{name: GFLOP/s}``; a product the device cannot run is left out."""
    rates = {}
    for name in names:
        if name == 'int8' and device.startswith('cuda'):
            continue  # FBGEMM's dynamic Linear is CPU only
        try:
            rates[name] = gemm_rate(name, device, **kwargs)
        except (RuntimeError, NotImplementedError):
            pass
    return rates


def format_rates(rates: Dict[str, float]) -> str:
    return ', '.join(f'{name} {rate:.1f}' for name, rate in rates.items()) + ' GFLOP/s'


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine(args.device))
    print("GEMM rates (best over Swin-T's MLP shapes): "
          + format_rates(gemm_rates(device=args.device)))


if __name__ == '__main__':
    main()
