"""A small synthetic video dataset written as real mp4 files (H.264 through PyAV).

Class k: a square of colour ``COLOURS[k]`` moving in a random direction over a noisy grey
background; the class is readable from colour alone, in any frame.
"""
from pathlib import Path
from typing import List, Tuple

import av
import numpy as np

COLOURS = [(230, 40, 40), (40, 200, 40), (40, 60, 230), (230, 220, 40)]


def write_video(path: Path, frames: np.ndarray, fps: int = 8) -> None:
    """frames (uint8 [T, H, W, 3], RGB) -> an H.264 mp4 at ``path``."""
    with av.open(str(path), mode='w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def synthetic_clip(label: int, rng: np.random.Generator, num_frames: int = 16,
                   size: int = 32, square: int = 16) -> np.ndarray:
    frames = rng.integers(90, 150, (num_frames, size, size, 3)).astype(np.uint8)
    y, x = rng.integers(0, size - square, 2)
    dy, dx = rng.choice([-1, 1], 2)
    for t in range(num_frames):
        frames[t, y:y + square, x:x + square] = COLOURS[label]
        y, x = int(np.clip(y + dy, 0, size - square)), int(np.clip(x + dx, 0, size - square))
    return frames


def make_dataset(root: Path, name: str, per_class: int, seed: int) -> Tuple[Path, List[str]]:
    """Write ``per_class`` videos per class under ``root/name`` and ``root/name.txt`` with
    ``path label`` lines (paths relative to ``root``)."""
    rng = np.random.default_rng(seed)
    (root / name).mkdir(parents=True, exist_ok=True)
    lines = []
    for label in range(len(COLOURS)):
        for i in range(per_class):
            rel = f'{name}/c{label}_{i}.mp4'
            write_video(root / rel, synthetic_clip(label, rng))
            lines.append(f'{rel} {label}')
    ann = root / f'{name}.txt'
    ann.write_text('\n'.join(lines) + '\n')
    return ann, lines
