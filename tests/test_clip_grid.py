"""The one clip grid: training windows, streaming clips and the agreement labels of the same
recording, built from the same config, are the same clips with the same labels."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from video_swin_plugin.clip_grid import UNSCORED, ClipSchedule, schedule_from_config
from video_swin_plugin.datasets.synthetic import write_recordings
from video_swin_plugin.errors import ConfigError
from video_swin_plugin.staging.agreement import load_truth
from video_swin_plugin.video_reader import ClipReader, probe_video

from .helpers import FAM_SYNTHETIC_TINY


def test_clip_schedule():
    s = ClipSchedule(clip_len=4, frame_interval=2, clip_stride_sec=1.0)
    assert s.span == 7
    assert s.frame_indices(3, fps=8) == [24, 26, 28, 30]
    assert s.clip_times(3, fps=8) == (3.0, 3.875)
    for n in range(0, 100):  # the count is exactly the clips that fit
        k = s.num_clips(n, fps=8)
        assert k == sum(s.frame_indices(j, 8)[-1] < n for j in range(100))
    with pytest.raises(ValueError, match='clip_stride_sec'):
        ClipSchedule(4, 2, 0.0)


def test_clips_take_the_label_of_their_centre_and_skip_gaps():
    # 8 fps, 100 frames; clips of 8 frames (1 s) every 1 s; the gap [4, 6) is unscored
    intervals = [(0.0, 2.5, 0, 2), (2.5, 4.0, 1, 3), (6.0, 12.0, 2, 4)]
    grid = ClipSchedule(clip_len=8, frame_interval=1, clip_stride_sec=1.0)
    all_labels = grid.clip_labels(intervals, 8.0, grid.num_clips(100, 8.0))
    kept = np.flatnonzero(all_labels != UNSCORED)
    # clip at 2 s has its centre at 2.4375 s -> interval 0; clips at 4 and 5 s fall in the gap;
    # the last clip must end inside the video (frame 96 + 8 > 100 stops at 11 s)
    assert [grid.clip_times(k, 8.0)[0] for k in kept] == [0, 1, 2, 3, 6, 7, 8, 9, 10, 11]
    assert all_labels[kept].tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 2, 2]
    assert [grid.first_frame(k, 8.0) for k in kept][:2] == [0, 8]


def test_centre_label_matches_a_per_clip_loop_on_odd_rates():
    grid = ClipSchedule(clip_len=5, frame_interval=3, clip_stride_sec=0.7)
    intervals = [(0.0, 3.3, 1), (3.3, 3.9, 0), (5.05, 9.0, 2), (9.0, 20.0, 1)]
    fps = 29.97
    n = grid.num_clips(600, fps)
    expected = []
    for k in range(n):
        centre = (grid.first_frame(k, fps) + (grid.span - 1) / 2) / fps
        expected.append(next((lab for s, e, lab in intervals if s <= centre < e), UNSCORED))
    assert grid.clip_labels(intervals, fps, n).tolist() == expected


@pytest.fixture(scope='module')
def recording(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('grid')
    write_recordings(root, num_recordings=1, duration_sec=24, seed=3, gap_prob=0.3)
    return root


def test_training_windows_and_streaming_clips_are_the_same_clips(recording):
    """LongVideoDataset (training/testing) and ClipReader + the agreement labels (staging),
    both built from one config, give the same (first frame, frames, label) per clip, and the
    decoded pixels of a clip are the same on both paths."""
    import decord

    from video_swin_plugin import registry
    cfg = Config.fromfile(str(FAM_SYNTHETIC_TINY))
    init_default_scope('video_swin_plugin')
    ds_cfg = dict(cfg.test_dataloader.dataset, ann_file=str(recording / 'annotations.csv'),
                  data_prefix=dict(video=str(recording)), window_stride=1, test_mode=True)
    dataset = registry.DATASETS.build(ds_cfg)
    grid = schedule_from_config(cfg)
    video = recording / 'videos' / 'recording_000.mp4'

    training = {}  # first frame -> (frames, label), every labelled clip of every window
    for i in range(len(dataset)):
        item = dataset.get_data_info(i)
        for c in range(item['num_clips']):
            frames = item['frame_inds'][c * item['clip_len']:(c + 1) * item['clip_len']]
            training[int(frames[0])] = (frames.tolist(), int(item['label'][c]))

    fps = probe_video(str(video)).fps
    truth = load_truth(str(recording / 'annotations.csv'), cfg.classes)
    reader = ClipReader(str(video), grid)
    labels = grid.clip_labels(truth['videos/recording_000.mp4'], fps, reader.num_clips)
    streaming = {grid.first_frame(k, fps): (grid.frame_indices(k, fps), int(labels[k]))
                 for k in range(reader.num_clips) if labels[k] != UNSCORED}
    assert len(training) > 10 and (labels == UNSCORED).any()  # the gaps are real
    assert training == streaming

    # the same pixels: the dataset's pipeline (what the model trains on), decord at the
    # dataset's indices, and the stream (what staging feeds the model)
    decoded = decord.VideoReader(str(video), num_threads=1)
    stream = {grid.first_frame(c.index, fps): np.stack(c.frames) for c in reader}
    for first, (frames, _) in training.items():
        np.testing.assert_array_equal(decoded.get_batch(frames).asnumpy(), stream[first])
    middle = dataset.get_data_info(len(dataset) // 2)
    window = dataset.prepare_data(len(dataset) // 2)['inputs']  # K, 3, T, H, W
    firsts = [int(f) for f in middle['frame_inds'][::middle['clip_len']]]
    for clip, first in zip(window, firsts):
        np.testing.assert_array_equal(clip.permute(1, 2, 3, 0).numpy(), stream[first])


def test_a_config_whose_grids_disagree_is_refused():
    cfg = Config.fromfile(str(FAM_SYNTHETIC_TINY))
    cfg.test_dataloader.dataset.clip_stride_sec = 2.0
    with pytest.raises(ConfigError, match=r'two clip grids: clip_grid .* test_dataloader'):
        schedule_from_config(cfg)
    with pytest.raises(ConfigError, match='stream_cfg is now clip_grid'):
        schedule_from_config(Config(dict(stream_cfg=dict(clip_len=4, stride_sec=1.0))))
    with pytest.raises(ConfigError, match='clip_grid sets no clip_stride_sec'):
        schedule_from_config(Config(dict(clip_grid=dict(clip_len=4, stride_sec=1.0))))
