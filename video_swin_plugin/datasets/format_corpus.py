"""Short videos in the containers and codecs that farm recorders export, for decoding tests.

Every frame shows its own number as an 8-bit bar code along the bottom edge (white or black
8x8 blocks), so a test can tell which source frame a decoded frame is, whatever the codec did
to the pixels. Written with PyAV's bundled FFmpeg; nothing is downloaded.
"""
import fractions
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

BAR = 8  # bar-code block size (pixels)


@dataclass(frozen=True)
class CorpusEntry:
    """How one file of the corpus is written."""
    container: str  # FFmpeg muxer name
    codec: str  # FFmpeg encoder name
    options: Dict[str, str] = field(default_factory=dict)
    max_b_frames: Optional[int] = None
    pix_fmt: str = 'yuv420p'
    variable_rate: bool = False  # irregular frame durations (phone / NVR style)
    container_options: Dict[str, str] = field(default_factory=dict)
    size: int = 64


CORPUS: Dict[str, CorpusEntry] = {
    'h264_bframes.mp4': CorpusEntry('mp4', 'libx264', {'bf': '3', 'g': '12'}),
    'h264.mkv': CorpusEntry('matroska', 'libx264', {'bf': '2', 'g': '25'}),
    'hevc.mkv': CorpusEntry('matroska', 'libx265', {'x265-params': 'log-level=error:bframes=3'}),
    'mpeg4_bframes.avi': CorpusEntry('avi', 'mpeg4', max_b_frames=2),
    'h264.ts': CorpusEntry('mpegts', 'libx264', {'bf': '2'}),
    'mpeg2.ts': CorpusEntry('mpegts', 'mpeg2video', max_b_frames=2),
    'h264.m2ts': CorpusEntry('mpegts', 'libx264', container_options={'mpegts_m2ts_mode': '1'}),
    'vfr.mp4': CorpusEntry('mp4', 'libx264', {'bf': '2'}, variable_rate=True),
    'h264.mov': CorpusEntry('mov', 'libx264'),
    'flv1.flv': CorpusEntry('flv', 'flv'),
    'wmv2.wmv': CorpusEntry('asf', 'wmv2'),
    'mpeg4.3gp': CorpusEntry('3gp', 'mpeg4'),
    'raw.h264': CorpusEntry('h264', 'libx264', {'bf': '2'}),
    'raw.h265': CorpusEntry('hevc', 'libx265', {'x265-params': 'log-level=error'}),
}


def numbered_frame(number: int, size: int = 64) -> np.ndarray:
    """An RGB frame with a moving square and ``number`` as a bar code on its bottom edge."""
    img = np.full((size, size, 3), 90, np.uint8)
    img[..., 1] = (number * 7) % 200
    x = (number * 3) % (size - 16)
    img[16:32, x:x + 16] = (230, 40, 40)
    img[size - BAR:] = 0
    for bit in range(size // BAR):
        if (number >> bit) & 1:
            img[size - BAR:, bit * BAR:(bit + 1) * BAR] = 255
    return img


def frame_number(img: np.ndarray) -> int:
    """The bar code of :func:`numbered_frame`, read back from a decoded frame."""
    size = img.shape[1]
    row = img[-BAR // 2, :, :].astype(np.float32).mean(-1)
    return int(sum(int(row[bit * BAR + BAR // 2] > 128) << bit for bit in range(size // BAR)))


def write_numbered_video(path: Union[str, Path], entry: CorpusEntry, num_frames: int,
                         fps: int = 25, seed: int = 0) -> List[float]:
    """Write frames 0..num_frames-1; returns each frame's presentation time (seconds)."""
    import av
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    with av.open(str(path), 'w', format=entry.container,
                 options=dict(entry.container_options)) as container:
        stream = container.add_stream(entry.codec, rate=fps, options=dict(entry.options))
        stream.width = stream.height = entry.size
        stream.pix_fmt = entry.pix_fmt
        if entry.max_b_frames is not None:
            stream.codec_context.max_b_frames = entry.max_b_frames
        if entry.variable_rate:
            stream.codec_context.time_base = fractions.Fraction(1, 1000)
        for n in range(num_frames):
            frame = av.VideoFrame.from_ndarray(numbered_frame(n, entry.size), format='rgb24')
            if entry.variable_rate:  # 20-30 fps, irregular, as phones and some NVRs record
                frame.pts, frame.time_base = int(round(t * 1000)), fractions.Fraction(1, 1000)
            times.append(t)
            t += float(rng.choice([0.033, 0.04, 0.05])) if entry.variable_rate else 1 / fps
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return times


def write_format_corpus(root: Union[str, Path], seconds: float = 6.0, fps: int = 25,
                        names: Optional[List[str]] = None) -> Dict[str, Path]:
    """Write the files of :data:`CORPUS` (or ``names`` of them) under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in names or list(CORPUS):
        write_numbered_video(root / name, CORPUS[name], int(round(seconds * fps)), fps)
        written[name] = root / name
    return written
