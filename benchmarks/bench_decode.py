"""Decoding speed of the staging reader on a 1080p H.264 file: FFmpeg frame threads against a
single thread, and whether staging a Swin-T + FAM clip grid on this CPU waits on decoding or on
the model.

    python benchmarks/bench_decode.py [--seconds 20] [--size 1920x1080] [--repeats 3]
        [--clip-sec 10 --model-sec 1.5]

Writes a test file (libx264, B-frames, 2-s GOP), then decodes it front to back with the
reader's settings (``thread_type='AUTO'``) and with one thread, alternating, and prints frames/s
for decoding alone and with the RGB conversion the reader does. The staging question: a clip
grid with one clip every ``--clip-sec`` seconds needs every frame decoded (fps x clip-sec
frames per clip) and one model forward per clip (``--model-sec``, e.g. from
``bench_stream.py``); the slower of the two sets the pace.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install


def write_test_video(path: str, seconds: float, width: int, height: int, fps: int = 25) -> None:
    import av
    rng = np.random.default_rng(0)
    base = rng.integers(40, 200, (height // 8, width // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), np.uint8))  # textured, compressible background
    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264', rate=fps,
                                      options={'preset': 'superfast', 'bf': '2', 'g': str(2 * fps)})
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        for t in range(int(seconds * fps)):
            img = np.roll(base, 4 * t, axis=1)
            img[100:300, (8 * t) % (width - 200):(8 * t) % (width - 200) + 200] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode(path: str, threaded: bool, convert: bool) -> float:
    """Seconds to decode every frame (and convert it to RGB arrays when ``convert``)."""
    import av
    container = av.open(path)
    stream = container.streams.video[0]
    if threaded:
        stream.thread_type = 'AUTO'  # what video_reader.open_video sets
    else:
        stream.thread_type = 'SLICE'
        stream.codec_context.thread_count = 1
    start = time.perf_counter()
    frames = 0
    for frame in container.decode(stream):
        if convert:
            frame.to_ndarray(format='rgb24')
        frames += 1
    elapsed = time.perf_counter() - start
    container.close()
    return frames / elapsed


def reader_seconds_per_clip(path: str, clip_sec: float, seek_ahead: bool) -> float:
    """Seconds per clip for the staging reader on the sowsleep grid (32 frames, 2 apart, one
    clip every ``clip_sec``), RGB frames included."""
    from video_swin_plugin.clip_grid import ClipSchedule
    from video_swin_plugin.video_reader import SEEK_AHEAD_SEC, ClipReader
    grid = ClipSchedule(clip_len=32, frame_interval=2, clip_stride_sec=clip_sec)
    reader = ClipReader(path, grid, seek_ahead_sec=SEEK_AHEAD_SEC if seek_ahead else None)
    start = time.perf_counter()
    clips = sum(1 for c in reader if c.frames is not None)
    return (time.perf_counter() - start) / max(clips, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seconds', type=float, default=40.0)
    p.add_argument('--size', default='1920x1080')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--clip-sec', type=float, default=10.0,
                   help='seconds between clip starts (the sowsleep config: 10)')
    p.add_argument('--model-sec', type=float, default=None,
                   help='seconds per clip of the model (Swin-T + FAM forward), if known')
    args = p.parse_args(argv)
    width, height = map(int, args.size.split('x'))
    path = osp.join(tempfile.mkdtemp(prefix='bench_decode_'), f'test_{args.size}.mp4')
    started = time.perf_counter()
    write_test_video(path, args.seconds, width, height)
    print(f'wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB, {args.seconds:g} s at 25 fps) '
          f'in {time.perf_counter() - started:.1f} s; CPU cores: {os.cpu_count()}')
    rates = {k: [] for k in ((True, False), (False, False), (True, True), (False, True))}
    for _ in range(args.repeats):  # alternate, so load on a shared machine hits both
        for key in rates:
            rates[key].append(decode(path, *key))
    print('| decoding | frames/s (median of %d) | min | max |' % args.repeats)
    print('| --- | --- | --- | --- |')
    for (threaded, convert), values in rates.items():
        what = ('frame threads' if threaded else 'one thread') + (' + RGB' if convert else '')
        print(f'| {what} | {statistics.median(values):.1f} | {min(values):.1f} | '
              f'{max(values):.1f} |')
    fast = statistics.median(rates[(True, True)])
    slow = statistics.median(rates[(False, True)])
    print(f'\nframe threads vs one thread (with RGB): {fast / slow:.2f}x')
    through = [reader_seconds_per_clip(path, args.clip_sec, False) for _ in range(args.repeats)]
    seeking = [reader_seconds_per_clip(path, args.clip_sec, True) for _ in range(args.repeats)]
    per_clip = statistics.median(seeking)
    print(f'staging reader, one clip (32 frames, 2 apart) every {args.clip_sec:g} s at '
          f'{args.size}: {statistics.median(through):.2f} s per clip decoding every frame, '
          f'{per_clip:.2f} s seeking past the stretches no clip needs '
          f'({statistics.median(through) / per_clip:.2f}x)')
    if args.model_sec is not None:
        bound = 'decoding' if per_clip > args.model_sec else 'the model'
        print(f'model: {args.model_sec:.2f} s per clip -> staging is limited by {bound} '
              f'({max(per_clip, args.model_sec):.2f} s per clip, '
              f'{args.clip_sec / max(per_clip, args.model_sec):.1f}x real time; decoding runs '
              'in its own thread beside the model, so the two overlap)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
