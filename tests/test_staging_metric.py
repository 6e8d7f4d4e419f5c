"""StagingMetric over the collected results of several ranks: a clip seen twice (a distributed
sampler's padding repeats samples) counts once."""
import numpy as np
import pytest
import torch

from video_swin_plugin.evaluation import StagingMetric

EYE = torch.eye(3)


def window(video, first, pred, gt, new=None):
    return dict(pred_scores=dict(item=EYE[pred]), gt_labels=dict(item=torch.tensor(gt)),
                video=video, clip_index=np.arange(first, first + len(gt)),
                new_clips=np.ones(len(gt), bool) if new is None else np.array(new))


def test_repeated_samples_count_once():
    a0 = window('a.mp4', 0, [0, 0], [0, 0])
    a2 = window('a.mp4', 2, [1, 1], [1, 2])
    b0 = window('b.mp4', 0, [2, 2], [2, 2])
    metric = StagingMetric()
    # as collected from 2 ranks after padding: rank 0 had a0, b0; rank 1 had a2 and a0 again
    metric.process(None, [a0, a2, b0, a0])
    result = metric.compute_metrics(metric.results)
    assert result['confusion_matrix'].sum() == 6
    assert result['accuracy'] == pytest.approx(5 / 6)  # counting a0 twice would give 7/8
    # the same clip index in another recording is another clip
    other = StagingMetric()
    other.process(None, [a0, window('c.mp4', 0, [0, 0], [1, 1])])
    assert other.compute_metrics(other.results)['confusion_matrix'].sum() == 4


def test_tail_window_and_repeat_together():
    metric = StagingMetric()
    first = window('a.mp4', 0, [0, 0, 1, 2], [0, 0, 1, 1])
    tail = window('a.mp4', 2, [2, 2, 2, 2], [1, 1, 2, 2], new=[False, False, True, True])
    metric.process(None, [first, tail, tail])
    result = metric.compute_metrics(metric.results)
    assert result['confusion_matrix'].tolist() == [[2, 0, 0], [0, 1, 1], [0, 0, 2]]


def test_samples_without_clip_keys_all_count():
    metric = StagingMetric()
    sample = dict(pred_scores=dict(item=EYE[1]), gt_labels=dict(item=torch.tensor([1])))
    metric.process(None, [sample, sample])
    assert metric.compute_metrics(metric.results)['confusion_matrix'].sum() == 2
