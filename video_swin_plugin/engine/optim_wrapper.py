"""``AmpIfCudaOptimWrapper``: mixed precision where CUDA is present, plain fp32 elsewhere.

The official recipes train in fp16 (apex). mmengine's ``AmpOptimWrapper`` refuses to run without
a GPU, so a config naming it cannot be tried on a CPU. This builder gives ``AmpOptimWrapper`` when
``torch.cuda.is_available()`` and a plain ``OptimWrapper`` otherwise (dropping the AMP-only
arguments), so one config runs on both without edits.
"""
from mmengine.optim import AmpOptimWrapper, OptimWrapper
import torch

from ..registry import OPTIM_WRAPPERS

AMP_ONLY_ARGS = ('loss_scale', 'dtype', 'use_fsdp')


def AmpIfCudaOptimWrapper(**kwargs) -> OptimWrapper:  # noqa: N802 (a registered "type")
    """``AmpOptimWrapper(**kwargs)`` with CUDA, else ``OptimWrapper`` without AMP arguments."""
    if torch.cuda.is_available():
        return AmpOptimWrapper(**kwargs)
    return OptimWrapper(**{k: v for k, v in kwargs.items() if k not in AMP_ONLY_ARGS})


OPTIM_WRAPPERS.register_module(name='AmpIfCudaOptimWrapper', module=AmpIfCudaOptimWrapper)
