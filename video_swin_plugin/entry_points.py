"""Console commands: each runs one script of tools/ with the command's arguments.

    vsp-stage    = tools/stream_infer.py        (stage whole recordings clip by clip)
    vsp-classify = tools/classify.py            (top-k classes of one video)
    vsp-download = tools/download_checkpoint.py (official weights by config name, verified)

The scripts are found where ``model_zoo.resource_root`` says: the wheel's
``video_swin_plugin/.mim/tools`` after ``pip install``, the checkout's tools/ in an editable
install. A command exits with the script's ``main`` return code (0 when it returns no int); a
user error (:class:`PluginError`, a missing file) prints one line ``error: ...`` and exits 2.
"""
import importlib.util
import sys
from types import ModuleType
from typing import List, Optional

from . import model_zoo
from .errors import PluginError

# mmaction2 1.1 asserts this mmcv range at import but declares no mmcv dependency itself
MMCV_RANGE = '>=2.0.0rc4,<2.1.0'


def check_mmcv() -> None:
    """Raise ImportError naming what to install when no ``mmcv`` module is installed (setup.py
    cannot require one: mmcv and mmcv-lite both provide it; see its extras)."""
    if importlib.util.find_spec('mmcv') is None:
        raise ImportError(
            'mmaction2 needs mmcv, which neither it nor video_swin_plugin installs: '
            f"pip install 'mmcv-lite{MMCV_RANGE}' (CPU, no compiled ops; or "
            "pip install 'video_swin_plugin[lite]'), or "
            f"mim install 'mmcv{MMCV_RANGE}' (full mmcv with CUDA ops)")


def load_tool(name: str) -> ModuleType:
    """tools/<name>.py imported as a module (not run)."""
    path = model_zoo.resource_root() / 'tools' / f'{name}.py'
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing; reinstall video_swin_plugin')
    spec = importlib.util.spec_from_file_location(f'video_swin_plugin_tools.{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name: str, argv: Optional[List[str]] = None) -> int:
    """Run tools/<name>.py's ``main(argv)`` (default: the command line) and return its exit
    status."""
    try:
        check_mmcv()
        tool = load_tool(name)
    except (ImportError, FileNotFoundError) as e:  # an install problem, said in one line
        print(f'error: {e}', file=sys.stderr)
        return 2
    try:
        result = tool.main(argv)
    except (PluginError, FileNotFoundError) as e:  # bad input; anything else keeps its traceback
        print(f'error: {e}', file=sys.stderr)
        return 2
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def stage() -> None:
    sys.exit(run_tool('stream_infer'))


def classify() -> None:
    sys.exit(run_tool('classify'))


def download() -> None:
    sys.exit(run_tool('download_checkpoint'))
