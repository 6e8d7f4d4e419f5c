"""The reader staging and training share: every decodable frame, in presentation order, on the
same frame indices, for the containers and codecs recorders export; the training path's frames
equal the stream's clip by clip."""
from pathlib import Path

import numpy as np
import pytest

from video_swin_plugin.clip_grid import ClipSchedule
from video_swin_plugin.datasets.format_corpus import (CORPUS, frame_number,
                                                      write_format_corpus,
                                                      write_numbered_video)
from video_swin_plugin.errors import VideoReadError
from video_swin_plugin.video_reader import (ClipReader, decoded_frames, open_video, probe_video,
                                            read_frames)

FPS, SECONDS = 25, 6.0
GRID = ClipSchedule(clip_len=4, frame_interval=3, clip_stride_sec=0.5)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    return write_format_corpus(tmp_path_factory.mktemp('corpus'), SECONDS, FPS)


def _sequential(path: Path):
    info = probe_video(str(path))
    errors = []
    container = open_video(str(path))
    try:
        frames = [(i, f.to_ndarray(format='rgb24')) for i, f in decoded_frames(container, info,
                                                                              errors)]
    finally:
        container.close()
    return info, frames, errors


def _expected_numbers(times, fps):
    """Source frame on screen at each grid slot: the first frame whose time rounds to the slot,
    else the one before (what the reader does for variable frame rate)."""
    slots = [int(round(t * fps)) for t in times]
    out = {}
    for n, s in enumerate(slots):
        out.setdefault(s, n)
    for i in range(max(out) + 1):
        if i not in out:
            out[i] = out[i - 1]
    return [out[i] for i in range(max(out) + 1)]


@pytest.mark.parametrize('name', list(CORPUS))
def test_every_frame_in_presentation_order(corpus, name):
    info, frames, errors = _sequential(corpus[name])
    assert not errors
    indices = [i for i, _ in frames]
    assert indices == list(range(len(indices)))
    numbers = [frame_number(f) for _, f in frames]
    if CORPUS[name].variable_rate:
        times = write_numbered_video(corpus[name].with_suffix('.again.mp4'), CORPUS[name],
                                     int(SECONDS * FPS), FPS)  # same seed: same times
        assert numbers == _expected_numbers(times, info.fps)
    else:
        assert numbers == list(range(int(SECONDS * FPS)))


@pytest.mark.parametrize('name', list(CORPUS))
def test_training_path_gives_the_streams_frames_clip_by_clip(corpus, name):
    """read_frames (ClipGridDecode, LongVideoDataset's decoder) seeks near each clip and must
    give the pixels the front-to-back stream gives (pixel-equal: one decoder, one index rule)."""
    path = str(corpus[name])
    clips = list(ClipReader(path, GRID))
    info = probe_video(path)
    assert len(clips) == GRID.num_clips(int(SECONDS * FPS), info.fps) or info.num_frames == 0
    assert all(c.frames is not None for c in clips) and len(clips) >= 10
    for clip in clips[::3] + clips[-1:]:
        frames = read_frames(path, GRID.frame_indices(clip.index, info.fps), info)
        for a, b in zip(frames, clip.frames):
            np.testing.assert_array_equal(a, b, err_msg=f'{name} clip {clip.index}')


@pytest.mark.parametrize('name', ['h264_bframes.mp4', 'hevc.mkv', 'mpeg4_bframes.avi', 'h264.ts',
                                  'vfr.mp4', 'raw.h264'])
def test_a_sparse_grid_seeks_past_unneeded_stretches_with_the_same_frames(tmp_path, name):
    """Clips 6 s apart (the sowsleep grid is 10 s apart): the reader seeks over the frames no
    clip needs instead of decoding them, and gets the frames decoding through gives."""
    path = str(tmp_path / name)
    write_numbered_video(path, CORPUS[name], 750, FPS)  # 30 s
    grid = ClipSchedule(clip_len=4, frame_interval=3, clip_stride_sec=6.0)
    seeking, through = ClipReader(path, grid), ClipReader(path, grid, seek_ahead_sec=None)
    a, b = list(seeking), list(through)
    assert len(a) == len(b) >= 5 and all(c.frames is not None for c in a)
    for x, y in zip(a, b):
        assert CORPUS[name].variable_rate or [frame_number(f) for f in x.frames] == \
            [i % 256 for i in grid.frame_indices(x.index, 25)]  # an 8-bit bar code
        for f, g in zip(x.frames, y.frames):
            np.testing.assert_array_equal(f, g)
    window = [i for c in a for i in grid.frame_indices(c.index, probe_video(path).fps)]
    for f, g in zip(read_frames(path, window), [f for c in b for f in c.frames]):
        np.testing.assert_array_equal(f, g)  # a training window of these clips: the same
    # raw streams carry no timestamps to seek by: decoded through
    assert through.seeks == 0 and seeking.seeks == (0 if name == 'raw.h264' else len(a) - 1)


def test_dataset_pipeline_decodes_with_the_staging_reader(corpus):
    from video_swin_plugin.datasets.video_transforms import ClipGridDecode
    path = str(corpus['h264.ts'])  # decord returns frames shifted by ~30 on MPEG-TS
    info = probe_video(path)
    clip = list(ClipReader(path, GRID))[7]
    results = ClipGridDecode()(dict(filename=path, frame_inds=np.array(
        GRID.frame_indices(clip.index, info.fps))))
    assert [frame_number(f) for f in results['imgs']] == GRID.frame_indices(clip.index, info.fps)
    for a, b in zip(results['imgs'], clip.frames):
        np.testing.assert_array_equal(a, b)


def test_truncated_file(corpus, tmp_path):
    data = corpus['h264.mkv'].read_bytes()
    cut = tmp_path / 'cut.mkv'
    cut.write_bytes(data[:len(data) // 2])
    clips = list(ClipReader(str(cut), GRID))
    good = [c for c in clips if c.frames is not None]
    # the header promises 6 s (12 clips); the clips past the cut are reported, not dropped
    assert len(clips) == 12 and 3 <= len(good) < 12
    assert all(c.reason.startswith('past the last decodable frame') for c in clips[len(good):])
    info = probe_video(str(cut))
    late = GRID.frame_indices(11, info.fps)  # 5.5 s: past the cut
    with pytest.raises(VideoReadError, match=r'cut.mkv: .* could not be decoded'):
        read_frames(str(cut), late, info)


def test_shared_b_frame_avi_matches_decord(shared_data):
    import decord
    path = str(shared_data / 'videos' / 'test.avi')
    info, frames, errors = _sequential(Path(path))
    reference = decord.VideoReader(path, num_threads=1)
    assert len(frames) == len(reference) == 164 and not errors
    expected = reference.get_batch(list(range(164))).asnumpy()
    for (i, f), e in zip(frames, expected):
        np.testing.assert_array_equal(f, e, err_msg=f'frame {i}')
    grid = ClipSchedule(clip_len=4, frame_interval=2, clip_stride_sec=1.0)
    clips = list(ClipReader(path, grid))
    assert len(clips) == 7 and all(c.frames is not None for c in clips)


def test_unreadable_inputs_are_named(tmp_path):
    (tmp_path / 'empty.mp4').write_bytes(b'')
    (tmp_path / 'text.mp4').write_text('not a video\n')
    for name, message in (('missing.mp4', 'no such video file'), ('empty.mp4', 'empty file'),
                          ('text.mp4', 'cannot open as a video')):
        with pytest.raises(VideoReadError, match=f'{name}: {message}'):
            probe_video(str(tmp_path / name))


def test_reader_seeking_to_a_clip_gives_the_frames_of_a_front_to_back_pass(stage_videos):
    sched = ClipSchedule(4, 2, 1.0)
    full = list(ClipReader(stage_videos / 'night_a.mp4', sched))
    assert len(full) == 40 - 0 and all(c.frames is not None for c in full)
    for start in (1, 9, 33):
        part = list(ClipReader(stage_videos / 'night_a.mp4', sched, start_clip=start, max_clips=4))
        assert [c.index for c in part] == list(range(start, start + 4))
        for c in part:
            for a, b in zip(c.frames, full[c.index].frames):
                np.testing.assert_array_equal(a, b)
