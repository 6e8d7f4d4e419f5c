"""CheckedVideoDataset: bad annotation lines and videos are named with the file and line."""
from pathlib import Path

import pytest
from mmengine.registry import init_default_scope

from video_swin_plugin.datasets.checked_video import (AnnotationError, CheckedVideoDataset,
                                                      VideoReadError)

from .helpers import corrupt_mp4, write_colour_dataset

PIPELINE = [dict(type='DecordInit'), dict(type='SampleFrames', clip_len=4, num_clips=1),
            dict(type='DecordDecode')]


@pytest.fixture(scope='module')
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('videos')
    write_colour_dataset(root, 'ok', per_class=1, seed=0)
    return root


def dataset(root: Path, lines: str, **kwargs) -> CheckedVideoDataset:
    init_default_scope('video_swin_plugin')
    ann = root / 'ann.txt'
    ann.write_text(lines)
    return CheckedVideoDataset(str(ann), PIPELINE, data_prefix=dict(video=str(root)), **kwargs)


def test_good_annotations_load(videos):
    data = dataset(videos, 'ok/c0_0.mp4 0\n\nok/c1_0.mp4 1\n')
    assert [data.get_data_info(i)['label'] for i in range(len(data))] == [0, 1]
    assert data[1]['imgs'][0].shape == (32, 32, 3)


@pytest.mark.parametrize('lines,message', [
    ('ok/c0_0.mp4 0\nok/c1_0.mp4 one\n', r"ann.txt:2: label 'one' is not an integer"),
    ('ok/c0_0.mp4 0\nok/c1_0.mp4\n', r'ann.txt:2: expected "<video> <label>".*too few fields'),
    ('ok/c0_0.mp4 0 1\n', r'ann.txt:1: .*too many fields'),
])
def test_bad_annotation_line_names_file_and_line(videos, lines, message):
    with pytest.raises(AnnotationError, match=message):
        dataset(videos, lines)


def test_missing_and_empty_videos_named(videos):
    with pytest.raises(FileNotFoundError, match=r'ann.txt:2: video not found: .*ok/nope.mp4'):
        dataset(videos, 'ok/c0_0.mp4 0\nok/nope.mp4 1\n')
    (videos / 'empty.mp4').touch()
    with pytest.raises(VideoReadError, match=r'ann.txt:1: video is empty \(0 bytes\): .*empty'):
        dataset(videos, 'empty.mp4 0\n')


def test_corrupt_video_named_when_loaded(videos):
    corrupt_mp4(videos / 'corrupt.mp4')
    data = dataset(videos, 'corrupt.mp4 0\n')
    with pytest.raises(VideoReadError, match=r'cannot read video .*corrupt.mp4'):
        data[0]
