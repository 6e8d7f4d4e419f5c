"""Fixtures shared by the test modules (the code behind them is in helpers.py): the tiny models
built and saved once per session, the streaming tests' recordings, ../shared/data, and one
intra-op thread with a fixed seed for every test."""
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from .helpers import (SHARED_DATA, corrupt_middle, jitter, synthetic_training_config,
                      tiny_recognizer_config, tiny_stream_config, truncate, write_stage_video,
                      write_stream_config)


class SavedModel(NamedTuple):
    """A config file, a checkpoint of its model, and that model (eval, do not modify)."""
    config: str
    checkpoint: str
    model: torch.nn.Module


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


@pytest.fixture(scope='session')
def tiny_recognizer(tmp_path_factory) -> SavedModel:
    """The Kinetics-style tiny recognizer (helpers.tiny_recognizer_config), its weights moved
    off their initial values, as a config file and an official-layout checkpoint."""
    from video_swin_plugin.apis.inference import init_recognizer
    root = tmp_path_factory.mktemp('tiny_recognizer')
    config = root / 'tiny_swin.py'
    tiny_recognizer_config().dump(str(config))
    torch.manual_seed(0)
    model = jitter(init_recognizer(str(config)))
    checkpoint = root / 'tiny_swin.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return SavedModel(str(config), str(checkpoint), model)


@pytest.fixture(scope='session')
def training_config(tmp_path_factory) -> Path:
    """helpers.synthetic_training_config as a file for tools/train.py and tools/test.py."""
    config = tmp_path_factory.mktemp('training') / 'tiny_swin_synthetic.py'
    synthetic_training_config().dump(str(config))
    return config


@pytest.fixture(scope='session')
def stream_classifier():
    """A StreamingClassifier of the tiny FAM model (seed 0 weights)."""
    from video_swin_plugin.apis.streaming import StreamingClassifier
    torch.manual_seed(0)
    return StreamingClassifier(tiny_stream_config())


@pytest.fixture(scope='session')
def stream_model(tmp_path_factory, stream_classifier) -> SavedModel:
    """``stream_classifier``'s model as a config file and a checkpoint, for the tools."""
    root = tmp_path_factory.mktemp('tiny_stream')
    checkpoint = root / 'tiny_stream.pth'
    torch.save(stream_classifier.model.state_dict(), checkpoint)
    return SavedModel(str(write_stream_config(root / 'tiny_stream.py')), str(checkpoint),
                      stream_classifier.model)


# 40 s at 1 s per stage
NIGHT = [0] * 8 + [1] * 14 + [2] * 6 + [1] * 6 + [0] * 6


@pytest.fixture(scope='session')
def stage_videos(tmp_path_factory) -> Path:
    """A folder of stand-in recordings (helpers.write_stage_video, 8 fps, 32 px): night_a
    (``NIGHT``), night_b (``NIGHT`` reversed), and what goes wrong with real files: damaged
    (bytes overwritten mid-file), truncated (no index left), cut_short (readable, ends early),
    notes (a text file)."""
    root = tmp_path_factory.mktemp('videos')
    good = write_stage_video(root / 'night_a.mp4', NIGHT, seed=1)
    write_stage_video(root / 'night_b.mp4', NIGHT[::-1], seed=2)
    corrupt_middle(good, root / 'damaged.mp4')
    truncate(good, root / 'truncated.mp4')  # moov atom at the end: nothing readable
    write_stage_video(root / 'cut.mp4', NIGHT, seed=3, faststart=True)
    truncate(root / 'cut.mp4', root / 'cut_short.mp4', 0.6)  # readable, ends early
    (root / 'cut.mp4').unlink()
    (root / 'notes.mp4').write_text('not a video\n')
    return root
