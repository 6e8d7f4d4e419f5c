"""Scripts of tools/ in this process: ``load_tool('train')`` imports tools/train.py as a module;
``run_tool('train', [...])`` calls its ``main``."""
import importlib.util
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / 'tools'


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name: str, argv: list):
    return load_tool(name).main([str(a) for a in argv])
