"""The few fixes the pinned stack (see requirements.txt) needs. Imported by ``registry``.

Each fix names the upstream problem it works around and changes nothing else.

1. torch >= 2.6 reads checkpoints with ``weights_only=True`` by default, and mmengine 0.10.x
   passes nothing, so resuming, testing or ``load_from`` with a Runner checkpoint fails on
   ``mmengine.logging.HistoryBuffer`` and the numpy arrays it holds (fixed only on mmengine's
   main branch). Rather than unpickling everything (``weights_only=False`` runs whatever code
   a file carries), we allow-list exactly the plain-data types a Runner checkpoint holds, so
   loading stays ``weights_only=True``. HistoryBuffer pickles its statistics methods as
   ``getattr(HistoryBuffer, 'mean')``; a free ``getattr`` would open the door to any code, so
   it is mapped to a getattr that answers only those lookups.

2. Distributed runs without CUDA (torchrun on CPU machines). mmengine 0.10.7's ``init_dist``
   calls ``torch.cuda.set_device(LOCAL_RANK)`` unconditionally (``torch._C has no attribute
   '_cuda_setDevice'`` without CUDA), and its Runner wraps the model in
   ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, which DDP refuses for a CPU module.
   :func:`prepare_distributed` (called by tools/train.py and tools/test.py) starts the process
   group itself with gloo, so the Runner skips ``init_dist`` (it does when a group exists), and
   sets ``model_wrapper_cfg.device_ids=None``. With CUDA it does nothing: configs keep
   ``dist_cfg=dict(backend='nccl')`` and mmengine's path is unchanged.
"""
import datetime
import os
import pickle

import numpy as np
import torch
import torch.distributed as dist
from mmengine.logging.history_buffer import HistoryBuffer
from torch.nn.parallel import DistributedDataParallel

from .errors import UsageError


def _history_buffer_getattr(obj, name: str):
    """The only ``getattr`` a Runner checkpoint needs: a HistoryBuffer statistics method."""
    allowed = {'min', 'max', 'mean', 'current', *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics '
        'methods are allowed')


def _numpy_checkpoint_types() -> list:
    """numpy's reconstructors and dtype classes that arrays and scalars pickle through."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [getattr(np.dtypes, name) for name in dir(np.dtypes)
                     if name.endswith('DType') and isinstance(getattr(np.dtypes, name), type)]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


RUNNER_CHECKPOINT_TYPES = [
    HistoryBuffer, *_numpy_checkpoint_types(),
    # protocol-2 pickles (torch.save's default) name it '__builtin__', newer ones 'builtins'
    (_history_buffer_getattr, 'builtins.getattr'), (_history_buffer_getattr, '__builtin__.getattr')
]


def allow_runner_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine Runner checkpoints."""
    torch.serialization.add_safe_globals(RUNNER_CHECKPOINT_TYPES)


allow_runner_checkpoints()


def prepare_distributed(cfg) -> bool:
    """Make a distributed run of ``cfg`` (``cfg.launcher`` not 'none') work without CUDA.

    Without CUDA and with ``launcher='pytorch'`` (torchrun), starts the gloo process group from
    torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), with
    ``env_cfg.dist_cfg.timeout`` (seconds) if set, and makes the model wrapper a CPU DDP
    (``device_ids=None``). Does nothing with CUDA, for ``launcher='none'``, or when a process
    group exists. Returns whether it started the process group.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if launcher != 'pytorch':
        # mmengine's slurm and mpi paths also pick a CUDA device; on CPU only torchrun is wired
        raise UsageError(f'--launcher {launcher} needs CUDA; without it launch with torchrun '
                         '(tools/dist_train.sh, tools/dist_test.sh: --launcher pytorch)')
    missing = [key for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if key not in os.environ]
    if missing:
        raise UsageError('--launcher pytorch needs the environment torchrun sets '
                         f'({", ".join(missing)} missing); start through tools/dist_train.sh '
                         'or tools/dist_test.sh')
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    timeout = dist_cfg.get('timeout')
    kwargs = {} if timeout is None else dict(timeout=datetime.timedelta(seconds=timeout))
    dist.init_process_group('gloo', rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']), **kwargs)
    dist_cfg['backend'] = 'gloo'  # what the Runner logs as the run's environment
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    return True


def cpu_model_wrapper_cfg(cfg) -> dict:
    """``cfg.model_wrapper_cfg`` (or the Runner's default DDP wrapper, as mmengine builds it)
    with ``device_ids=None``, which DDP needs for a CPU module; a wrapper that is no
    ``DistributedDataParallel`` is returned unchanged."""
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    from .registry import MODEL_WRAPPERS  # registry imports this module first
    wrapper_type = MODEL_WRAPPERS.get(wrapper.get('type', 'MMDistributedDataParallel'))
    if isinstance(wrapper_type, type) and issubclass(wrapper_type, DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    return wrapper
