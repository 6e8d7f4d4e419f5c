"""The inference API (apis/inference.py) on a real video with the tiny recognizer: label maps,
classify_video, bad videos and checkpoints named."""
import pytest
import torch

from video_swin_plugin.apis.inference import (VideoReadError, classify_video, init_recognizer,
                                              load_label_map)
from video_swin_plugin.checkpoint import CheckpointMismatchError

from .helpers import corrupt_mp4


def test_packaged_label_map_is_k400(shared_data):
    names = load_label_map('video_swin_plugin/data/label_map_k400.txt', 400)
    shared = (shared_data / 'labels' / 'label_map_k400.txt').read_text().split('\n')
    assert names == [n for n in shared if n]
    assert names[0] == 'abseiling' and 'arm wrestling' in names


def test_classify_api_with_custom_label_map(shared_data, tiny_recognizer, tmp_path):
    model = init_recognizer(tiny_recognizer.config, tiny_recognizer.checkpoint)
    labels = tmp_path / 'labels.txt'
    labels.write_text(''.join(f'action {i}\n' for i in range(400)))
    top = classify_video(model, shared_data / 'videos' / 'test.mp4', 400, labels)
    assert len(top) == 400 and sum(top.values()) == pytest.approx(1, abs=1e-4)
    with pytest.raises(ValueError, match='has 3 class names, the model has 400'):
        labels.write_text('a\nb\nc\n')
        classify_video(model, shared_data / 'videos' / 'test.mp4', 5, labels)


def test_bad_videos_are_named(tiny_recognizer, tmp_path):
    model = init_recognizer(tiny_recognizer.config, tiny_recognizer.checkpoint)
    missing = tmp_path / 'missing.mp4'
    with pytest.raises(VideoReadError, match=f'video not found: {missing}'):
        classify_video(model, missing)
    empty = tmp_path / 'empty.mp4'
    empty.touch()
    with pytest.raises(VideoReadError, match=f'empty \\(0 bytes\\): {empty}'):
        classify_video(model, empty)
    corrupt = corrupt_mp4(tmp_path / 'corrupt.mp4')
    with pytest.raises(VideoReadError, match=f'cannot read video {corrupt}'):
        classify_video(model, corrupt)


def test_checkpoint_must_fit_strictly(tiny_recognizer, tmp_path):
    state = torch.load(tiny_recognizer.checkpoint, weights_only=True)['state_dict']
    state['backbone.norm3.weight'] = state.pop('backbone.norm.weight')  # mmaction2 1.x naming
    bad = tmp_path / 'mm.pth'
    torch.save({'state_dict': state}, bad)
    with pytest.raises(CheckpointMismatchError,
                       match='(?s)unexpected keys.*backbone.norm3.weight.*convert_checkpoint'):
        init_recognizer(tiny_recognizer.config, bad)
