"""Helpers for the streaming tests: a tiny recurrent model config and long mp4s written frame by
frame (never the whole video in memory)."""
from pathlib import Path
from typing import Optional, Sequence

import av
import numpy as np

from .conftest import TINY_SWIN

CLASSES = ['awake', 'nrem', 'rem']

# A Swin + FAM small enough that a clip costs a few ms on one CPU thread.
TINY_STREAM_CFG = dict(
    default_scope='video_swin_plugin',
    classes=CLASSES,
    model=dict(
        type='SequenceRecognizer3D',
        backbone=dict(type='SwinTransformer3D', **TINY_SWIN),
        neck=dict(type='FAMNeck', in_channels=128, embed_dims=32, num_mem_tokens=4,
                  num_layers=1, num_heads=2, token_grid=(1, 2, 2)),
        cls_head=dict(type='I3DHead', num_classes=3, in_channels=32),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], format_shape='NCTHW')),
    clip_grid=dict(clip_len=4, frame_interval=2, clip_stride_sec=1.0),
    test_pipeline=[dict(type='Resize', scale=(-1, 32)), dict(type='CenterCrop', crop_size=32)])


def tiny_config(**clip_grid):
    from mmengine.config import Config
    cfg = Config(TINY_STREAM_CFG)
    cfg.clip_grid.update(clip_grid)
    return cfg


def write_config(path: Path, **clip_grid) -> Path:
    tiny_config(**clip_grid).dump(str(path))
    return path


def write_stage_video(path: Path, stages: Sequence[int], fps: int = 8, sec_per_stage: float = 1.0,
                      size: int = 32, seed: int = 0, gop: int = 8,
                      faststart: bool = False) -> Path:
    """An H.264 mp4 showing ``stages[i]`` for ``sec_per_stage`` seconds each: a square whose
    brightness and motion depend on the stage over a noisy background."""
    rng = np.random.default_rng(seed)
    options = {'g': str(gop), 'crf': '23', 'preset': 'ultrafast'}
    container_options = {'movflags': 'faststart'} if faststart else {}
    with av.open(str(path), mode='w', options=container_options) as container:
        stream = container.add_stream('libx264', rate=fps, options=options)
        stream.height = stream.width = size
        stream.pix_fmt = 'yuv420p'
        frames_per_stage = int(round(sec_per_stage * fps))
        x = size // 3
        for stage in stages:
            for _ in range(frames_per_stage):
                img = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
                x = (x + (3 if stage == 0 else 1 if stage == 2 else 0)) % (size - 8)
                img[8:16, x:x + 8] = (80 + 80 * stage, 200, 40 * stage)
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format='rgb24')):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corrupt_middle(src: Path, dst: Path, nbytes: int = 3000, seed: int = 0) -> Path:
    """A copy of ``src`` with random bytes over ``nbytes`` in the middle (a damaged stretch)."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + nbytes] = np.random.default_rng(seed).integers(0, 256, nbytes,
                                                                  dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


def read_outputs(out_dir: Path, stem: str, exts: Optional[Sequence[str]] = None) -> dict:
    return {ext: (out_dir / f'{stem}.{ext}').read_bytes() for ext in (exts or ('csv', 'json',
                                                                               'png'))}
