"""Shared test helpers: tiny model settings and the ../shared data folder."""
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data'

# A Swin small enough for CPU tests: 4 stages, shifted blocks everywhere, ~0.1 M parameters.
TINY_SWIN = dict(patch_size=(2, 4, 4), embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                 window_size=(4, 3, 3), patch_norm=True, drop_path_rate=0.0)


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder CI provides; a fresh user clone has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'{SHARED_DATA} is absent (it sits beside the checkout in CI only)')
    return SHARED_DATA


@pytest.fixture(scope='session', autouse=True)
def _one_thread():
    """One intra-op thread for the whole suite: the models here are tiny, and on a 2-core
    machine OpenMP threads contending for cores made steps 10-100x slower (0.1 s vs 1-9 s a
    training step; a 1,000-clip stream 1.5 s vs 42 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
