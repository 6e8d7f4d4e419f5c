"""Staging agreement measures (evaluation/staging.py): known values, a majority guess, bad
labels named."""
import numpy as np
import pytest

from video_swin_plugin.evaluation import cohen_kappa, confusion_matrix, \
    staging_scores


def test_kappa_known_value():
    # the textbook 2x2 example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po 0.7, pe 0.5
    cm = np.array([[20, 5], [10, 15]])
    assert cohen_kappa(cm) == pytest.approx(0.4)
    assert cohen_kappa(np.diag([3, 4, 5])) == 1.0
    assert np.isnan(cohen_kappa(np.array([[5, 0], [0, 0]])))


def test_scores_by_hand():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 2, 2]
    s = staging_scores(y_true, y_pred, 3, ['awake', 'nrem', 'rem'])
    assert s['confusion_matrix'].tolist() == [[3, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert s['accuracy'] == pytest.approx(6 / 8)
    assert s['balanced_accuracy'] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    f1 = [2 * 3 / (4 + 3), 2 * 1 / (2 + 2), 2 * 2 / (2 + 3)]
    assert [s['f1_awake'], s['f1_nrem'], s['f1_rem']] == pytest.approx(f1)
    assert s['macro_f1'] == pytest.approx(np.mean(f1))
    po, pe = 6 / 8, (4 * 3 + 2 * 2 + 2 * 3) / 64
    assert s['kappa'] == pytest.approx((po - pe) / (1 - pe))


def test_majority_guess_is_not_rewarded():
    y_true = [0] * 8 + [1, 2]
    s = staging_scores(y_true, [0] * 10, 3)
    assert s['accuracy'] == pytest.approx(0.8)
    assert s['balanced_accuracy'] == pytest.approx(1 / 3)
    assert s['kappa'] == pytest.approx(0.0)


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match='y_pred holds labels outside'):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match='1-D and alike'):
        confusion_matrix([0, 1], [0], 3)
