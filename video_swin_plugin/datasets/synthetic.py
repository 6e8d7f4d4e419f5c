"""Synthetic long recordings: real mp4 files plus a ``video,start,end,label`` CSV.

For tests and CPU demos of the long-recording pipeline (training, testing, streaming). Each
recording is a sequence of scored epochs whose stages follow a sticky Markov chain (bouts, as in
real hypnograms); a grey "animal" block lies on a noisy background and each stage looks and
moves differently:

* ``awake``: the block is bright and wanders across the frame;
* ``nrem``: the block is dim and still, slowly "breathing" (its height changes by a pixel);
* ``rem``: the block is mid-grey and still, with a small patch that twitches frame to frame.

Optional unlabelled gaps (epochs left out of the CSV) exercise the skipping of gaps.
"""
import csv
import os.path as osp
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np

STAGES = ('awake', 'nrem', 'rem')
_BRIGHTNESS = {'awake': 235, 'nrem': 120, 'rem': 175}


def write_video(path: Union[str, Path], frames: np.ndarray, fps: int) -> None:
    """frames (uint8 [T, H, W, 3], RGB) -> an H.264 mp4 at ``path`` (PyAV)."""
    import av
    with av.open(str(path), mode='w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        stream.options = {'g': str(fps)}  # a keyframe every second keeps seeking cheap
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(stream.encode())


def stage_sequence(num_epochs: int, rng: np.random.Generator, stay: float = 0.8,
                   num_stages: int = len(STAGES)) -> np.ndarray:
    """A sticky Markov chain of stage indices: keep the stage with probability ``stay``."""
    stages = [int(rng.integers(num_stages))]
    for _ in range(num_epochs - 1):
        stages.append(stages[-1] if rng.random() < stay else int(rng.integers(num_stages)))
    return np.array(stages)


def render(stages: Sequence[str], frames_per_epoch: int, size: int,
           rng: np.random.Generator) -> np.ndarray:
    """RGB uint8 frames [len(stages) * frames_per_epoch, size, size, 3]."""
    n = len(stages) * frames_per_epoch
    frames = rng.integers(60, 100, (n, size, size, 3)).astype(np.uint8)
    bh, bw = size // 3, size // 2
    y, x = (size - bh) // 2, (size - bw) // 2
    dy, dx = 1, 1
    for t in range(n):
        stage = stages[t // frames_per_epoch]
        grey = _BRIGHTNESS[stage]
        if stage == 'awake':  # wander, bouncing off the borders
            if not 0 <= y + dy <= size - bh:
                dy = -dy
            if not 0 <= x + dx <= size - bw:
                dx = -dx
            y, x = y + dy, x + dx
        h = bh + (1 if stage == 'nrem' and (t // 4) % 2 else 0)  # slow breathing
        frames[t, y:y + h, x:x + bw] = grey
        if stage == 'rem':  # twitching patch
            py, px = y + int(rng.integers(0, bh - 3)), x + int(rng.integers(0, bw - 3))
            frames[t, py:py + 3, px:px + 3] = 255
    return frames


def write_recordings(root: Union[str, Path], num_recordings: int = 4,
                     duration_sec: float = 32.0, epoch_sec: float = 2.0, fps: int = 8,
                     size: int = 32, seed: int = 0, gap_prob: float = 0.0,
                     classes: Sequence[str] = STAGES, ann_name: str = 'annotations.csv',
                     prefix: str = 'videos', stay: float = 0.8) -> Path:
    """Write ``num_recordings`` mp4 files under ``root/prefix`` and ``root/ann_name``.

    Args:
        root: Output folder (the dataset's data root).
        num_recordings (int): Recordings (videos). Defaults to 4.
        duration_sec (float): Length of each recording. Defaults to 32.
        epoch_sec (float): Length of a scored epoch (one CSV row). Defaults to 2.
        fps (int): Frames per second. Defaults to 8.
        size (int): Frame height and width in pixels. Defaults to 32.
        seed (int): Random seed; the same seed writes the same files. Defaults to 0.
        gap_prob (float): Probability of leaving an epoch unscored (an unlabelled gap; never
            the first or last epoch). Defaults to 0.
        classes (Sequence[str]): Stage names written as labels; each must be one of
            ``awake``, ``nrem``, ``rem``. Defaults to those three.
        ann_name (str): CSV file name under ``root``. Defaults to 'annotations.csv'.
        prefix (str): Sub-folder of ``root`` for the videos. Defaults to 'videos'.
        stay (float): Probability that an epoch keeps the previous epoch's stage (longer bouts
            when higher). Defaults to 0.8.

    Returns:
        The CSV path. Its ``video`` column is relative to ``root``.
    """
    unknown = [c for c in classes if c not in _BRIGHTNESS]
    if unknown:
        raise ValueError(f'synthetic recordings can only show {list(_BRIGHTNESS)}, got {unknown}')
    frames_per_epoch = int(round(epoch_sec * fps))
    if frames_per_epoch < 1 or abs(frames_per_epoch - epoch_sec * fps) > 1e-6:
        raise ValueError(f'epoch_sec * fps must be a whole number of frames, got '
                         f'{epoch_sec} * {fps}')
    num_epochs = int(duration_sec // epoch_sec)
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / prefix).mkdir(parents=True, exist_ok=True)
    rows: List[list] = []
    for r in range(num_recordings):
        stages = [classes[i] for i in stage_sequence(num_epochs, rng, stay, len(classes))]
        rel = osp.join(prefix, f'recording_{r:03d}.mp4')
        write_video(root / rel, render(stages, frames_per_epoch, size, rng), fps)
        for e, stage in enumerate(stages):
            if 0 < e < num_epochs - 1 and rng.random() < gap_prob:
                continue
            rows.append([rel, f'{e * epoch_sec:.3f}', f'{(e + 1) * epoch_sec:.3f}', stage])
    ann = root / ann_name
    with open(ann, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['video', 'start', 'end', 'label'])
        writer.writerows(rows)
    return ann


def read_labels(ann_file: Union[str, Path], video: str,
                classes: Optional[Sequence[str]] = None) -> List[tuple]:
    """``[(start, end, label), ...]`` of one video in a CSV, sorted by start (for demos)."""
    with open(ann_file, newline='') as f:
        rows = [(float(r['start']), float(r['end']), r['label']) for r in csv.DictReader(f)
                if r['video'] == video]
    if classes is not None:
        rows = [(s, e, classes.index(label)) for s, e, label in rows]
    return sorted(rows)
