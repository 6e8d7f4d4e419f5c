"""StagingMetric (evaluation/staging_metric.py): each clip counted once across overlapping
windows."""
import numpy as np
import pytest
import torch

from video_swin_plugin.evaluation import StagingMetric


def test_metric_counts_each_clip_once():
    metric = StagingMetric(classes=('awake', 'nrem', 'rem'))
    eye = torch.eye(3)
    samples = [
        # window of clips 0..3, all new
        dict(pred_scores=dict(item=eye[[0, 0, 1, 2]]), gt_labels=dict(item=torch.tensor([0, 0, 1, 1])),
             new_clips=np.array([True] * 4)),
        # tail window of clips 2..5: only 4 and 5 are new (2 and 3 would be counted twice)
        dict(pred_scores=dict(item=eye[[2, 2, 2, 2]]), gt_labels=dict(item=torch.tensor([1, 1, 2, 2])),
             new_clips=np.array([False, False, True, True])),
    ]
    metric.process(None, samples)
    result = metric.compute_metrics(metric.results)
    assert result['confusion_matrix'].sum() == 6
    assert result['confusion_matrix'].tolist() == [[2, 0, 0], [0, 1, 1], [0, 0, 2]]
    assert result['accuracy'] == pytest.approx(5 / 6)
    assert 'f1_rem' in result
    # mmaction2 1.2 field names and single-clip samples work too
    metric2 = StagingMetric()
    metric2.process(None, [dict(pred_score=eye[1], gt_label=torch.tensor([1]))])
    assert metric2.compute_metrics(metric2.results)['accuracy'] == 1.0
