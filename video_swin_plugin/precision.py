"""Compute precision for inference: which one to use on this machine, and casting a recognizer.

Which precision is fastest is a property of the hardware. bf16 pays only where the CPU has bf16
instructions (AVX512-BF16, AMX) or on a GPU; without them PyTorch runs bf16 and fp16 matrix
products through generic code (on a 2-core AVX2-only EPYC, Zen 1: 4-5 GFLOP/s against 24 in
fp32, and a Swin-T forward 7x slower). int8 through FBGEMM matched fp32 there (24 GFLOP/s, Swin-T
forward about as fast), so such a CPU runs best in fp32; int8 pays where the CPU's int8 kernels
outrun its fp32 ones (measure with ``benchmarks/bench_backbone.py --precisions``; figures per
CPU in benchmarks/RESULTS.md). ``'auto'`` chooses from what the device offers
(:func:`choose_precision`) and never picks int8, which changes results more.

:func:`cast_for_inference` applies one rule to every recognizer: **the backbone**, which holds
nearly all the compute, **runs in the chosen precision; everything after it stays fp32**. So a
recurrent neck (FAMNeck) updates and carries its memory in fp32 over a whole night, and the
head's scores are fp32, whatever the backbone's precision.

* ``bf16``/``fp16``: the backbone's weights are cast (pure half precision, no autocast); the
  data preprocessor's output follows the backbone's dtype and the backbone's output is cast
  back to fp32 (forward hooks on the two modules, so every caller, the Runner's test loop
  included, gets the right dtypes).
* ``int8``: the backbone's ``nn.Linear`` layers (qkv, attention projection, MLP, patch merging:
  most of Swin's FLOPs; the attention's own products stay fp32) become dynamically quantized
  int8 layers (weights per output channel, activations per tensor, quantized at each call), on
  the CPU. This uses
  ``torch.ao.quantization.quantize_dynamic``, deprecated in torch 2.13 in favour of torchao;
  kept because torchao's eager int8 x int8 product on that AVX2 CPU ran at 0.6 GFLOP/s against
  16 GFLOP/s for FBGEMM's dynamic Linear (2048 x 768 x 3072, 2 threads, same moment). Its
  deprecation warnings are silenced at the one call.

The model must be fp32 (as built and loaded) when it is cast; casting is for inference only.
"""
import warnings
from dataclasses import dataclass
from typing import FrozenSet, Iterable, Optional, Union

import torch
from torch import nn

from .errors import UsageError

DTYPES = ('auto', 'fp32', 'bf16', 'fp16', 'int8')
TORCH_DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
# CPU flags (Linux /proc/cpuinfo names) that give PyTorch native bf16 matrix products
CPU_BF16_FLAGS = ('avx512_bf16', 'amx_bf16')


@dataclass(frozen=True)
class Precision:
    """A compute precision and why it was chosen.

    Attributes:
        name (str): ``'fp32'``, ``'bf16'``, ``'fp16'`` or ``'int8'``.
        requested (str): what was asked for (``'auto'`` or one of the names).
        reason (str): why ``name`` (for ``'auto'``: what the device offers).
    """
    name: str
    requested: str
    reason: str = ''

    @property
    def backbone_dtype(self) -> torch.dtype:
        """The dtype of the backbone's floating-point weights and activations (int8 layers
        take and return fp32)."""
        return TORCH_DTYPES.get(self.name, torch.float32)

    def __str__(self) -> str:
        return f'{self.name} ({self.reason})' if self.reason else self.name


def cpu_flags() -> FrozenSet[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (Linux); empty where unreadable."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith(('flags', 'Features')):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or 'unknown CPU'


def _cuda_bf16(device: torch.device) -> bool:
    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=False)


def choose_precision(requested: str = 'auto', device: Union[str, torch.device] = 'cpu', *,
                     flags: Optional[Iterable[str]] = None,
                     cuda_bf16: Optional[bool] = None) -> Precision:
    """The precision to run on ``device``.

    ``'auto'``: on a CPU bf16 when its flags include avx512_bf16 or amx_bf16, else fp32 (int8
    changes results more and is never chosen for you); on a CUDA GPU bf16 where it supports
    bf16, else fp16; fp32 on any other device. An explicit name is checked against the device:
    int8 runs on the CPU only, bf16 on a GPU only where it has bf16.

    Args:
        requested (str): one of :data:`DTYPES`.
        device: where the model runs.
        flags: the CPU's flags (default: :func:`cpu_flags`); for tests and reports.
        cuda_bf16 (bool, optional): whether the GPU has bf16 (default: asked from torch).

    Raises:
        UsageError: an unknown name, or one the device cannot run.
    """
    if requested not in DTYPES:
        raise UsageError(f'--dtype must be one of {", ".join(DTYPES)}, got {requested!r}')
    device = torch.device(device)
    if device.type == 'cuda' and requested in ('auto', 'bf16'):
        has_bf16 = _cuda_bf16(device) if cuda_bf16 is None else cuda_bf16
        if requested == 'bf16' and not has_bf16:
            raise UsageError(f'--dtype bf16: {device} has no bf16 support; use fp16 or fp32')
        if requested == 'auto':
            return (Precision('bf16', requested, f'auto: {device} supports bf16') if has_bf16
                    else Precision('fp16', requested, f'auto: {device} has no bf16'))
    if requested == 'int8' and device.type != 'cpu':
        raise UsageError(f'--dtype int8 runs on the CPU only (quantized Linear layers), not on '
                         f'{device}; use --device cpu, or bf16/fp16 on a GPU')
    if requested != 'auto':
        return Precision(requested, requested)
    if device.type != 'cpu':
        return Precision('fp32', requested, f'auto: fp32 on {device.type}')
    found = sorted(set(cpu_flags() if flags is None else flags) & set(CPU_BF16_FLAGS))
    if found:
        return Precision('bf16', requested, f'auto: the CPU has {" and ".join(found)}')
    return Precision('fp32', requested,
                     f'auto: the CPU has no {" or ".join(CPU_BF16_FLAGS)}, fp32 is fastest')


def is_quantized(module: nn.Module) -> bool:
    """Whether ``module`` holds dynamically quantized (int8) Linear layers."""
    from torch.ao.nn.quantized import dynamic
    return any(isinstance(m, dynamic.Linear) for m in module.modules())


def floating_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of ``module``'s first floating-point parameter (fp32 if it has none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def model_precision(model: nn.Module) -> str:
    """The precision a recognizer's backbone runs in: ``'int8'`` with quantized Linear layers,
    else the name of its weights' dtype (``'fp32'``, ``'bf16'``, ``'fp16'``)."""
    backbone = getattr(model, 'backbone', model)
    if is_quantized(backbone):
        return 'int8'
    dtype = floating_dtype(backbone)
    return next((name for name, d in TORCH_DTYPES.items() if d == dtype), str(dtype))


def _cast_floating(value, dtype: torch.dtype):
    """``value`` (a tensor, or a tuple/list of them) with floating tensors cast to ``dtype``."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_cast_floating(v, dtype) for v in value)
    return value


def quantize_linear_int8(module: nn.Module) -> nn.Module:
    """Replace ``module``'s ``nn.Linear`` layers, in place, by dynamically quantized int8 ones
    (weights per output channel; activations per tensor at each call)."""
    with warnings.catch_warnings():
        # torch 2.13 deprecates torch.ao.quantization (see the module docstring for why it is
        # still the path here); these are the warnings of this one call
        warnings.filterwarnings('ignore', message='torch.ao.quantization is deprecated')
        warnings.filterwarnings('ignore', message='torch.quantize_per_tensor')
        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        except ImportError as e:  # a torch without it
            raise UsageError(f'--dtype int8 needs torch.ao.quantization, which this torch '
                             f'({torch.__version__}) lacks: {e}') from None
        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig},
                                dtype=torch.qint8, inplace=True)


def cast_for_inference(model: nn.Module, dtype: Union[str, Precision] = 'auto') -> Precision:
    """Put a recognizer's backbone in ``dtype`` for inference, in place; the rest stays fp32.

    Args:
        model: a recognizer with a ``backbone`` (and usually a ``data_preprocessor``), fp32,
            on the device it will run on.
        dtype: one of :data:`DTYPES`, or a :class:`Precision` already chosen.

    Returns:
        The :class:`Precision` applied (with the reason for an ``'auto'`` choice).

    Raises:
        UsageError: an unknown or unsupported ``dtype``, or a model already cast to another
            precision (build it again to change).
    """
    device = next(model.parameters()).device
    precision = dtype if isinstance(dtype, Precision) else choose_precision(dtype, device)
    current = model_precision(model)
    if current == precision.name:
        return precision
    if current != 'fp32':
        raise UsageError(f'the model is already in {current}; build it again (fp32) to run it '
                         f'in {precision.name}')
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise UsageError(f'{type(model).__name__} has no backbone to run in {precision.name}')
    model.eval()
    if precision.name == 'int8':
        quantize_linear_int8(backbone)
    elif precision.name in ('bf16', 'fp16'):
        compute = precision.backbone_dtype
        backbone.to(compute)
        preprocessor = getattr(model, 'data_preprocessor', None)
        if preprocessor is not None:
            preprocessor.register_forward_hook(_inputs_to(compute))
        backbone.register_forward_hook(_outputs_to(torch.float32))
    return precision


def _inputs_to(dtype: torch.dtype):
    """A forward hook casting a data preprocessor's ``inputs`` to ``dtype``."""
    def hook(module, args, out):
        if isinstance(out, dict) and 'inputs' in out:
            out['inputs'] = _cast_floating(out['inputs'], dtype)
        return out
    return hook


def _outputs_to(dtype: torch.dtype):
    """A forward hook casting a module's floating-point outputs to ``dtype``."""
    def hook(module, args, out):
        return _cast_floating(out, dtype)
    return hook


def value_bytes(value) -> bytes:
    """Bytes that identify one ``state_dict`` value whatever its precision: a tensor's raw
    bytes (bf16 through its int16 view; int8 quantized: the integers and the scales), a tuple's
    items' bytes, else its ``repr``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.is_quantized:
            scales = (value.q_per_channel_scales() if value.qscheme() in
                      (torch.per_channel_affine, torch.per_channel_symmetric)
                      else torch.tensor([value.q_scale()]))
            return value_bytes(value.int_repr()) + value_bytes(scales)
        if value.dtype == torch.bfloat16:
            value = value.view(torch.int16)
        return value.contiguous().numpy().tobytes()
    if isinstance(value, (tuple, list)):
        return b''.join(value_bytes(v) for v in value)
    return repr(value).encode()

