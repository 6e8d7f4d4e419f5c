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
"""
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


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
