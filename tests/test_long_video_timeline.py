"""LongVideoDataset(timeline='grid'): training windows on the staging grid, unscored clips and
burn-in as memory steps labelled -1, windows without a scored clip skipped."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from video_swin_plugin.datasets.long_video import LongVideoDataset, grid_windows
from video_swin_plugin.datasets.synthetic import write_recordings
from video_swin_plugin.errors import ConfigError

from .test_long_video import CLASSES, write_csv

PIPELINE = [dict(type='ClipGridDecode'),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs', meta_keys=('video', 'clip_index', 'new_clips',
                                                     'burn_in'))]


def windows(labels, k, stride, burn_in=0):
    return [(list(w), b) for w, b in grid_windows(np.array(labels), k, stride, burn_in)]


def test_grid_windows_skip_unscored_and_add_burn_in():
    labels = [-1] * 8 + [0] * 8 + [-1] * 8
    assert windows(labels, 4, 4) == [(list(range(8, 12)), 0), (list(range(12, 16)), 0)]
    # burn-in 2: six clips per window, the first two memory-only
    assert windows(labels, 4, 4, burn_in=2) == [(list(range(6, 12)), 2),
                                                (list(range(10, 16)), 2)]
    # at the start a window cannot have its burn-in: it starts at clip 0 and is longer at the end
    assert windows([0] * 10, 4, 4, burn_in=2) == [(list(range(0, 6)), 0),
                                                  (list(range(2, 8)), 2)]
    assert windows([-1] * 10, 4, 2) == []


@pytest.fixture(scope='module')
def recording(tmp_path_factory):
    root = tmp_path_factory.mktemp('timeline')
    write_recordings(root, num_recordings=1, duration_sec=12, seed=0)
    return root


def dataset(root, ann, **kwargs):
    init_default_scope('video_swin_plugin')
    return LongVideoDataset(str(ann), PIPELINE, CLASSES, clip_len=8, frame_interval=1,
                            clip_stride_sec=1.0, num_clips=4, data_prefix=dict(video=str(root)),
                            **kwargs)


def test_grid_timeline_feeds_unscored_clips_and_burn_in(recording, tmp_path):
    # 12 one-second grid clips; scored 5-9 s, so clips 5-8 have labels, the rest -1
    ann = write_csv(tmp_path / 'part.csv', [['videos/recording_000.mp4', '5', '9', 'nrem']])
    scored_only = dataset(recording, ann)
    assert [list(scored_only.get_data_info(i)['clip_index']) for i in range(len(scored_only))] \
        == [[0, 1, 2, 3]]  # positions among the 4 scored clips: the gap is never decoded
    grid = dataset(recording, ann, timeline='grid', burn_in=2)
    infos = [grid.get_data_info(i) for i in range(len(grid))]
    # main parts start at clips 0, 4, 8; the first window, with no room for a burn-in, is 0-5
    assert [list(i['clip_index']) for i in infos] == [list(range(0, 6)), list(range(2, 8)),
                                                      list(range(6, 12))]
    assert [i['burn_in'] for i in infos] == [0, 2, 2]
    assert list(infos[0]['label']) == [-1, -1, -1, -1, -1, 1]
    assert list(infos[1]['label']) == [-1, -1, -1, 1, 1, 1]  # clips 2, 3 burn-in; 4 unscored
    assert list(infos[2]['label']) == [-1, -1, 1, -1, -1, -1]  # clips 6, 7 burn-in
    # the frames are the grid's: clip k starts at frame 8 k (8 fps, 1-s stride)
    assert list(infos[1]['frame_inds'][::8]) == [16, 24, 32, 40, 48, 56]
    item = grid[1]
    assert item['inputs'].shape[:2] == (6, 3) and item['data_samples'].burn_in == 2
    assert list(item['data_samples'].new_clips) == [False, False, True, True, True, True]


def test_grid_timeline_options_are_checked(recording, tmp_path):
    ann = write_csv(tmp_path / 'a.csv', [['videos/recording_000.mp4', '0', '12', 'rem']])
    with pytest.raises(ConfigError, match="timeline must be 'scored' or 'grid'"):
        dataset(recording, ann, timeline='all')
    with pytest.raises(ConfigError, match="burn_in .* needs timeline='grid'"):
        dataset(recording, ann, burn_in=2)
    with pytest.raises(ConfigError, match='for training'):
        dataset(recording, ann, timeline='grid', test_mode=True)
