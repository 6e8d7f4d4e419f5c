"""Synthetic cue recordings: a small coloured cue sets each recording's class.

Two variants share one renderer, so a model that fits the first and fails the second fails for
want of memory, not of vision:

* ``visible``: the cue stays on screen for the whole recording; every clip is scored. The class
  is readable from any clip (a clip-only model should reach ~1.0).
* ``memory``: the cue shows once, briefly (``cue_sec``), at a random time; the recording is
  scored from the cue's onset to its end and left unscored before it (as a scorer leaves a
  stretch unscored). Nothing else in the frames depends on the class, so after the cue only a
  memory can tell the class (a clip-only model sits at chance, 1 / num_classes).

Frames: a noisy grey background (fresh noise every frame; optionally a fixed per-recording
texture); a grey "animal" block that wanders at a random speed and sometimes rests (its
brightness drifting over time); and
distractor flashes: squares the size of the cue, in a colour no class uses (white, yellow,
magenta), at random times throughout. The cue is a square of ``cue_px`` pixels in the class's
colour at a random place. A ``cues.csv`` beside the annotation CSV gives each recording's class
and cue onset/end in seconds (for accuracy by delay after the cue).
"""
import csv
import os.path as osp
from pathlib import Path
from typing import List, Sequence, Union

import numpy as np

from .synthetic import write_video

CUE_COLOURS = ((230, 30, 30), (30, 210, 30), (40, 60, 240))  # class 0, 1, 2
DISTRACTOR_COLOURS = ((240, 240, 240), (230, 230, 40), (230, 40, 230))
CLASSES = ('red', 'green', 'blue')


def render(duration_sec: float, fps: int, size: int, label: int, cue_onset: float,
           cue_sec: float, cue_px: int, visible: bool, rng: np.random.Generator,
           distractor_rate: float = 1 / 20., static_texture: bool = False) -> np.ndarray:
    """RGB uint8 frames ``[round(duration_sec * fps), size, size, 3]`` of one recording.

    With ``static_texture`` the background has a fixed per-recording texture and the animal a
    fixed per-recording grey: each recording is recognisable, so a model trained on a few dozen
    recordings can learn their labels by heart instead of the cue. Without it (default) the
    background is fresh noise every frame and the animal's grey drifts over time."""
    n = int(round(duration_sec * fps))
    if static_texture:
        texture = rng.integers(50, 110, (size, size, 1))
        frames = np.clip(texture + rng.integers(-12, 13, (n, size, size, 1)), 0, 255)
    else:
        frames = rng.integers(50, 110, (n, size, size, 1))
    frames = np.repeat(frames, 3, axis=3).astype(np.uint8)
    # the animal: a grey block wandering with pauses, independent of the class
    bh, bw = size // 3, size // 2
    grey = float(rng.integers(130, 200))
    y, x = float(rng.integers(0, size - bh)), float(rng.integers(0, size - bw))
    vy, vx = rng.uniform(-1, 1, 2)
    moving = True
    for t in range(n):
        if rng.random() < 1.0 / (4 * fps):  # about every 4 s: start or stop moving
            moving = not moving
            vy, vx = rng.uniform(-1, 1, 2)
        if moving:
            if not 0 <= y + vy <= size - bh:
                vy = -vy
            if not 0 <= x + vx <= size - bw:
                vx = -vx
            y, x = y + vy, x + vx
        if not static_texture:  # the grey drifts (a reflecting random walk in 130-200)
            grey += rng.normal(0, 1.5)
            grey = 400 - grey if grey > 200 else (260 - grey if grey < 130 else grey)
            grey = min(200.0, max(130.0, grey))
        frames[t, int(y):int(y) + bh, int(x):int(x) + bw] = int(grey)
    # distractor flashes: cue-sized squares of non-class colours, at random times
    cue_frames = max(1, int(round(cue_sec * fps)))
    num_flashes = rng.poisson(distractor_rate * duration_sec)
    for _ in range(num_flashes):
        t0 = int(rng.integers(0, max(1, n - cue_frames)))
        py, px = rng.integers(0, size - cue_px + 1, 2)
        colour = DISTRACTOR_COLOURS[int(rng.integers(len(DISTRACTOR_COLOURS)))]
        frames[t0:t0 + cue_frames, py:py + cue_px, px:px + cue_px] = colour
    # the cue
    py, px = rng.integers(0, size - cue_px + 1, 2)
    if visible:
        t0, t1 = 0, n
    else:
        t0 = int(round(cue_onset * fps))
        t1 = min(n, t0 + cue_frames)
    frames[t0:t1, py:py + cue_px, px:px + cue_px] = CUE_COLOURS[label]
    return frames


def write_cue_recordings(root: Union[str, Path], num_recordings: int = 6,
                         duration_sec: float = 48.0, fps: int = 8, size: int = 32,
                         cue_sec: float = 1.0, cue_px: int = 8,
                         cue_window: Sequence[float] = (2.0, 16.0), visible: bool = False,
                         epoch_sec: float = 1.0, num_classes: int = 3, seed: int = 0,
                         distractor_rate: float = 1 / 20., static_texture: bool = False,
                         prefix: str = 'videos', ann_name: str = 'annotations.csv') -> Path:
    """Write ``num_recordings`` mp4 files, ``root/ann_name`` and ``root/cues.csv``.

    Classes are balanced (recording r has class ``r % num_classes``, order shuffled). In the
    ``memory`` variant (``visible=False``) the cue starts uniformly in ``cue_window`` seconds
    (snapped to the frame grid) and the CSV scores ``epoch_sec`` epochs from the cue's onset to
    the end; with ``visible=True`` the cue is always on and everything is scored.

    Returns:
        The annotation CSV path (``video`` relative to ``root``).
    """
    if num_classes > len(CUE_COLOURS):
        raise ValueError(f'at most {len(CUE_COLOURS)} classes, got {num_classes}')
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / prefix).mkdir(parents=True, exist_ok=True)
    labels = np.arange(num_recordings) % num_classes
    rng.shuffle(labels)
    rows: List[list] = []
    cues: List[list] = []
    for r, label in enumerate(labels):
        label = int(label)
        onset = 0.0 if visible else round(float(rng.uniform(*cue_window)) * fps) / fps
        frames = render(duration_sec, fps, size, label, onset, cue_sec, cue_px, visible, rng,
                        distractor_rate, static_texture)
        rel = osp.join(prefix, f'cue_{r:04d}.mp4')
        write_video(root / rel, frames, fps)
        end = len(frames) / fps
        t = onset
        while t < end - 1e-9:
            rows.append([rel, f'{t:.3f}', f'{min(end, t + epoch_sec):.3f}', CLASSES[label]])
            t += epoch_sec
        cue_end = end if visible else min(end, onset + cue_sec)
        cues.append([rel, CLASSES[label], f'{onset:.3f}', f'{cue_end:.3f}'])
    ann = root / ann_name
    with open(ann, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['video', 'start', 'end', 'label'])
        writer.writerows(rows)
    with open(root / 'cues.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['video', 'label', 'cue_start', 'cue_end'])
        writer.writerows(cues)
    return ann
