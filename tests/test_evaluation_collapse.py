"""collapse_warning: one label for >= 99% of the clips, or class probabilities that hardly vary
across clips, gives a message naming the class; a varied set, too few clips, nothing; and the
per-clip scores of both recognizers' data samples."""
import re

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import LabelData

from video_swin_plugin.evaluation.collapse import (as_probabilities, collapse_warning,
                                                   sample_clip_scores)

NAMES = ['awake', 'nrem', 'rem']


def _healthy(n=200, seed=0):
    """Confident, varied predictions: each clip's own class near 0.8."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    probs = rng.dirichlet([1, 1, 1], n) * 0.2
    probs[np.arange(n), labels] += 0.8
    return probs


def test_constant_label_is_named():
    probs = _healthy()
    probs[:, 1] += 5  # nrem wins every clip, the probabilities still vary
    probs /= probs.sum(1, keepdims=True)
    message = collapse_warning(probs, NAMES)
    assert "100.0% of 200 clips get the label 'nrem'" in message
    assert 'hardly vary' not in message
    # varied probabilities: a recording that is all nrem gives this too, and the message says so
    assert "right if these clips really are all 'nrem'" in message


def test_label_share_threshold_is_99_percent():
    probs = np.tile([[0.2, 0.7, 0.1]], (200, 1)) + np.random.default_rng(0).normal(0, .01,
                                                                                  (200, 3))
    probs[:2] = [0.9, 0.05, 0.05]  # 99.0% nrem
    assert "99.0% of 200 clips get the label 'nrem'" in collapse_warning(probs, NAMES)
    probs[:3] = [0.9, 0.05, 0.05]  # 98.5%
    assert collapse_warning(probs, NAMES) is None


def test_near_constant_probabilities_name_the_likeliest_class():
    # nrem and rem nearly tied: the labels split between them, the probabilities barely move
    rng = np.random.default_rng(1)
    probs = np.array([0.2, 0.39995, 0.40005]) + rng.normal(0, 1e-4, (50, 3))  # std 1e-4
    labels = probs.argmax(1)
    assert 0.2 < (labels == 1).mean() < 0.8  # no label takes 99%
    message = collapse_warning(probs, NAMES)
    assert 'hardly vary across the 50 clips' in message and "p('rem') = 0.400" in message
    assert '% of 50 clips' not in message
    assert 'right if' not in message  # probabilities that do not move are never right
    assert collapse_warning(probs, NAMES, min_std=5e-5) is None  # the threshold is what counts


def test_zeroed_head_warns_both_ways():
    logits = np.tile([0.0, 3.0, 0.0], (30, 1))  # a head of weight 0 and bias favouring nrem
    message = collapse_warning(logits, NAMES)
    assert "100.0% of 30 clips get the label 'nrem'" in message
    assert re.search(r'largest per-class std \S+ < 0.001; mean p\(\'nrem\'\) = 0.909\)',
                     message)


def test_healthy_predictions_do_not_warn():
    assert collapse_warning(_healthy(), NAMES) is None


@pytest.mark.parametrize('scores', [np.zeros((0, 3)), np.array([[0.1, 0.8, 0.1]]),
                                    np.array([0.1, 0.8, 0.1]), np.tile([0., 1., 0.], (9, 1))])
def test_too_few_clips_do_not_warn(scores):
    assert collapse_warning(scores, NAMES) is None  # 0, 1 (2-D and 1-D) and 9 < 10 clips


def test_fewer_clips_allowed_and_default_names():
    message = collapse_warning(np.tile([0., 1., 0.], (2, 1)), min_clips=2)
    assert "100.0% of 2 clips get the label 'class1'" in message


def test_logits_are_softmaxed_and_non_finite_rows_dropped():
    logits = np.array([[1.0, -1.0], [np.nan, 0.0], [0.0, 0.0]])
    probs = as_probabilities(logits)
    assert probs.shape == (2, 2)
    np.testing.assert_allclose(probs[0], [np.exp(1) / (np.exp(1) + np.exp(-1)),
                                          np.exp(-1) / (np.exp(1) + np.exp(-1))])
    np.testing.assert_allclose(probs[1], [0.5, 0.5])
    kept = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_array_equal(as_probabilities(kept), kept)  # already distributions


def test_sample_scores_of_both_recognizers():
    clip = ActionDataSample()
    clip.pred_scores = LabelData(item=torch.tensor([0.2, 0.5, 0.3]))  # Recognizer3D: [C]
    assert sample_clip_scores(clip).shape == (1, 3)
    window = ActionDataSample()  # SequenceRecognizer3D: [K, C], new_clips marks the unseen
    window.pred_scores = LabelData(item=torch.arange(12.).reshape(4, 3))
    window.set_metainfo(dict(new_clips=torch.tensor([False, False, True, True])))
    np.testing.assert_array_equal(sample_clip_scores(window), [[6, 7, 8], [9, 10, 11]])
    assert sample_clip_scores(window.to_dict()).shape == (2, 3)  # the evaluator's dict form
