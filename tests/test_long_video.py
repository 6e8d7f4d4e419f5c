"""LongVideoDataset: CSV checks naming file and line, clip labelling, gaps, windows, split."""
import csv
from pathlib import Path

import pytest
from mmengine.registry import init_default_scope

from video_swin_plugin.datasets.long_video import (LongVideoDataset, read_intervals,
                                                   split_by_recording, window_starts)
from video_swin_plugin.errors import AnnotationError
from video_swin_plugin.datasets.synthetic import write_recordings

CLASSES = ('awake', 'nrem', 'rem')
PIPELINE = [dict(type='ClipGridDecode'),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs', meta_keys=('video', 'clip_index', 'new_clips'))]


def write_csv(path: Path, rows, header=('video', 'start', 'end', 'label')) -> Path:
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope='module')
def recordings(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('long')
    write_recordings(root, num_recordings=2, duration_sec=10, seed=3)
    return root


@pytest.mark.parametrize('rows,header,message', [
    ([['a.mp4', '0', '2', 'awake']], ('video', 'start', 'label'), r'line 1: missing column'),
    ([['a.mp4', '0', '2', 'awake'], ['a.mp4', '2', '4', 'deep']], None,
     r'line 3: unknown label \'deep\''),
    ([['a.mp4', '4', '4', 'awake']], None, r'line 2: end \(4.0\) must be greater'),
    ([['a.mp4', 'x', '4', 'awake']], None, r'line 2: "start" and "end" must be seconds'),
    ([['a.mp4', '0', '3', 'awake'], ['b.mp4', '0', '3', 'rem'], ['a.mp4', '2', '4', 'nrem']],
     None, r'line 4: interval \[2.0, 4.0\) of a.mp4 overlaps \[0.0, 3.0\) on line 2'),
])
def test_bad_annotations_name_file_and_line(tmp_path, rows, header, message):
    ann = write_csv(tmp_path / 'ann.csv', rows, header or ('video', 'start', 'end', 'label'))
    with pytest.raises(AnnotationError, match=message) as e:
        read_intervals(str(ann), CLASSES)
    assert str(ann) in str(e.value)


def test_missing_video_names_file_and_line(tmp_path, recordings):
    ann = write_csv(tmp_path / 'ann.csv', [['videos/recording_000.mp4', '0', '4', 'awake'],
                                           ['videos/nope.mp4', '0', '4', 'rem']])
    init_default_scope('video_swin_plugin')
    with pytest.raises(AnnotationError, match=r'ann.csv, line 3: video file not found: .*nope'):
        LongVideoDataset(str(ann), PIPELINE, CLASSES, clip_len=8, frame_interval=1,
                         clip_stride_sec=1.0, num_clips=2, data_prefix=dict(video=str(recordings)))


def test_windows_and_tail():
    assert window_starts(10, 4, 4, cover_tail=False) == [0, 4]
    assert window_starts(10, 4, 4, cover_tail=True) == [0, 4, 6]
    assert window_starts(8, 4, 4, cover_tail=True) == [0, 4]
    assert window_starts(3, 4, 4, cover_tail=True) == []
    assert window_starts(10, 4, 2, cover_tail=False) == [0, 2, 4, 6]


def test_dataset_items(recordings):
    init_default_scope('video_swin_plugin')
    ds = LongVideoDataset(str(recordings / 'annotations.csv'), PIPELINE, CLASSES, clip_len=8,
                          frame_interval=2, clip_stride_sec=1.0, num_clips=3, test_mode=True,
                          data_prefix=dict(video=str(recordings)))
    # 10 s at 8 fps = 80 frames; a clip spans 15 frames, so clips start at 0..8 s: 9 clips,
    # windows at 0, 3, 6 per video
    assert len(ds) == 2 * 3
    info = ds.get_data_info(1)
    # clip 3 starts at 3 s = frame 24 (8 frames, 2 apart); clip 4 at frame 32
    assert info['frame_inds'].tolist()[:9] == [24, 26, 28, 30, 32, 34, 36, 38, 32]
    assert info['frame_inds'].shape == (3 * 8, )
    truth = read_intervals(str(recordings / 'annotations.csv'), CLASSES)[info['video']]
    centres = [(first + 7) / 8 for first in info['frame_inds'][::8]]
    expected = [next(label for s, e, label, _ in truth if s <= c < e) for c in centres]
    assert info['label'].tolist() == expected
    item = ds[1]
    assert tuple(item['inputs'].shape) == (3, 3, 8, 32, 32)  # K, C, T, H, W
    assert item['data_samples'].gt_labels.item.tolist() == expected
    assert item['data_samples'].new_clips.all()


def test_split_by_recording_keeps_recordings_whole(tmp_path):
    rows = [[f'night{n}/sow{s}.mp4', str(e), str(e + 1), 'awake'] for s in range(4)
            for n in range(2) for e in range(3)]
    ann = write_csv(tmp_path / 'all.csv', rows)
    out = {'train': str(tmp_path / 'train.csv'), 'test': str(tmp_path / 'test.csv')}
    groups = split_by_recording(str(ann), out, {'train': 0.5, 'test': 0.5},
                                group_by=lambda v: v.split('/')[1])  # by animal
    assert sorted(groups['train'] + groups['test']) == ['sow0.mp4', 'sow1.mp4', 'sow2.mp4',
                                                        'sow3.mp4']
    assert len(groups['train']) == 2
    seen = {}
    for split, path in out.items():
        with open(path) as f:
            for row in csv.DictReader(f):
                assert seen.setdefault(row['video'].split('/')[1], split) == split
    assert sum(1 for _ in open(out['train'])) + sum(1 for _ in open(out['test'])) == 24 + 2
    with pytest.raises(ValueError, match='sum to 1'):
        split_by_recording(str(ann), out, {'train': 0.5, 'test': 0.6})


def test_stream_sampler_keeps_each_slot_in_time_order(recordings):
    from video_swin_plugin.datasets.long_video import RecordingStreamSampler
    init_default_scope('video_swin_plugin')
    ds = LongVideoDataset(str(recordings / 'annotations.csv'), PIPELINE, CLASSES, clip_len=8,
                          frame_interval=1, clip_stride_sec=1.0, num_clips=2,
                          data_prefix=dict(video=str(recordings)))
    assert len(ds) == 2 * 5  # 10 one-second clips per video, windows of 2
    sampler = RecordingStreamSampler(ds, batch_size=2, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) == 10 and sorted(order) == list(range(10))
    slots = [order[0::2], order[1::2]]
    continued = 0
    for slot in slots:
        infos = [ds.get_data_info(i) for i in slot]
        for a, b in zip(infos, infos[1:]):
            if a['video'] == b['video']:
                assert b['clip_index'][0] == a['clip_index'][-1] + 1  # in time order
                continued += 1
    assert continued >= 6  # 10 windows in 2 slots: 8 transitions, at most 2 breaks
    sampler.set_epoch(1)
    assert sorted(sampler) == list(range(10))
