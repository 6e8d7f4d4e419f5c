"""Scripts of tools/ in this process or as commands: ``load_tool('train')`` imports tools/train.py
as a module; ``run_tool('train', [...])`` returns its ``main``'s exit status (bad input raises,
as ``main`` does); ``call_tool('test', 'test_metrics', [...])`` returns what the tool's
``test_metrics(args)`` returns; ``run_command('train', [...])`` runs the script in a fresh
Python and returns the finished process (text ``stdout``/``stderr``, ``returncode``)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / 'tools'


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name: str, argv: list) -> int:
    return load_tool(name).main([str(a) for a in argv])


def call_tool(name: str, function: str, argv: list):
    tool = load_tool(name)
    return getattr(tool, function)(tool.parse_args([str(a) for a in argv]))


def run_command(name: str, argv: list, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOLS / f'{name}.py'), *map(str, argv)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
