"""What the command-line tools in ``tools/`` share: the ``--device``, ``--dtype`` and
``--cfg-options`` flags, checks of option values, and one way to end.

Every tool ends with ``sys.exit(cli.run(main))``. ``main(argv)`` returns the exit status (0 ok;
1 and 3 where a tool defines them) and raises on bad input; :func:`run` prints a user error as
one line ``error: <message>`` on stderr and returns 2, the status argparse gives a usage error.
Any other exception is a bug: it propagates with its traceback (exit status 1).

User errors are the package's :class:`~video_swin_plugin.errors.PluginError` family and the
``OSError`` kinds that name a path the user gave (not found, exists, is or is not a directory,
no permission).
"""
import argparse
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

from .errors import PluginError, UsageError

USER_ERRORS = (PluginError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError, PermissionError)
USAGE_ERROR_STATUS = 2


def default_device() -> str:
    """``'cuda'`` when a CUDA device is available, else ``'cpu'``."""
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device``, defaulting to :func:`default_device`; check it with :func:`check_device`."""
    device = default_device()
    parser.add_argument('--device', default=device,
                        help=f'e.g. cpu, cuda, cuda:1 (default here: {device}, i.e. CUDA when '
                        'available)')


def add_cfg_options_arg(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options key=value ...`` (mmengine's ``DictAction``); key paths the config has no
    place for are rejected when merged (``engine.config_check``)."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        metavar='KEY=VALUE',
                        help='override config settings (nested keys with dots, lists as '
                        'key="[a,b]"); an unknown key path is an error')


def add_dtype_arg(parser: argparse.ArgumentParser, default: str = 'auto') -> None:
    """``--dtype {auto,fp32,bf16,fp16,int8}``: the backbone's compute precision (see
    :mod:`video_swin_plugin.precision`); resolve it with ``precision.choose_precision``."""
    from .precision import DTYPES
    parser.add_argument('--dtype', choices=DTYPES, default=default,
                        help='compute precision of the backbone (neck, memory and head stay '
                        'fp32). auto: bf16 on CPUs with AVX512-BF16/AMX and on GPUs with bf16, '
                        'fp16 on older GPUs, fp32 otherwise; int8: quantized Linear layers, '
                        f'CPU only. Default: {default}')


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else :class:`UsageError` naming it."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise UsageError(f'--device {device!r} is not a device (e.g. cpu, cuda, cuda:1): '
                         f'{e}') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise UsageError(f'--device {device}: CUDA is not available here; use --device cpu')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f'--device {device}: this machine has '
                             f'{torch.cuda.device_count()} CUDA device(s)')
    return device


def worker_device(device: str) -> str:
    """Under torchrun (``LOCAL_RANK`` set), a CUDA device given without an index becomes this
    worker's GPU, ``cuda:<LOCAL_RANK>``; anything else is returned as it is."""
    import os
    local_rank = os.environ.get('LOCAL_RANK')
    if device == 'cuda' and local_rank is not None:
        return f'cuda:{int(local_rank)}'
    return device


def at_least(option: str, value, minimum) -> None:
    """:class:`UsageError` unless ``value`` (None: not given) is ``>= minimum``."""
    if value is not None and value < minimum:
        raise UsageError(f'{option} must be at least {minimum}, got {value}')


def positive(option: str, value) -> None:
    """:class:`UsageError` unless ``value`` (None: not given) is ``> 0``."""
    if value is not None and not value > 0:
        raise UsageError(f'{option} must be positive, got {value}')


def existing_file(path: Optional[str], what: str) -> None:
    """``FileNotFoundError`` naming ``path`` (None: not given) unless it is a file; checked
    before the slow work (building a model, writing data) starts."""
    if path is not None and not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')


def config_file(config: str) -> str:
    """The config file meant by ``config``: a path, or a config name such as
    ``swin_tiny_patch244_window877_kinetics400_1k`` (see :func:`model_zoo.resolve_config`);
    ``FileNotFoundError`` naming it otherwise."""
    from .model_zoo import resolve_config
    return resolve_config(config)


def error_line(error: BaseException) -> str:
    """``error: <message>`` on one line (a multi-line message's lines joined)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = ''
    for line in lines:
        text += ('' if not text else ' ' if text.endswith(':') else '; ') + line
    return f'error: {text or type(error).__name__}'


def run(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None
        ) -> int:
    """``main(argv)``'s exit status; a user error printed as one ``error:`` line, status 2."""
    try:
        return main(argv)
    except USER_ERRORS as e:
        print(error_line(e), file=sys.stderr)
        return USAGE_ERROR_STATUS
