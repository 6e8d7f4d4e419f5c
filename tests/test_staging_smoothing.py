"""Smoothing of per-clip stages: window placement, label noise, minimum bouts, gaps."""
import numpy as np
import pytest

from video_swin_plugin.staging.smoothing import (bouts, median_smooth_probs, min_bout_filter,
                                                 one_hot, smooth_labels, transitions)

from .helpers import noisy_night


def _step(n_a: int, n_b: int, a: int = 0, b: int = 1) -> np.ndarray:
    return np.array([a] * n_a + [b] * n_b)


@pytest.mark.parametrize('size', [1, 5, 9, 15])
def test_centred_keeps_a_clean_transition_in_place(size):
    labels = _step(30, 30)
    out = median_smooth_probs(one_hot(labels, 3), size, 'centred')
    np.testing.assert_array_equal(out, labels)


@pytest.mark.parametrize('size', [5, 9, 15])
def test_causal_delays_a_transition_by_half_a_window_and_sees_no_future(size):
    labels = _step(30, 30)
    out = median_smooth_probs(one_hot(labels, 3), size, 'causal')
    (t, _, _), = transitions(out)
    assert t == 30 + (size - 1) // 2
    # causal: the output at t depends on clips <= t only
    for cut in (10, 31, 45):
        early = median_smooth_probs(one_hot(labels[:cut], 3), size, 'causal')
        np.testing.assert_array_equal(early, out[:cut])


def test_window_of_awake_and_rem_never_becomes_nrem():
    # a median of the indices (awake=0, nrem=1, rem=2) would give nrem here
    labels = np.array([0, 2, 0, 2, 2, 0, 2, 0, 0, 2, 2])
    out = median_smooth_probs(one_hot(labels, 3), 5, 'centred')
    assert set(out.tolist()) <= {0, 2}


def _shifts_and_spurious(size: int, mode: str, seeds=range(10), noise: float = 0.15):
    """Over several noisy nights: each true transition's shift to the nearest smoothed one,
    spurious transitions (farther than N/2 + the causal lag from every true one) before and
    after smoothing, and accuracy before and after."""
    lag = (size - 1) // 2 if mode == 'causal' else 0
    shifts, spurious_raw, spurious_out, acc_raw, acc_out = [], 0, 0, [], []
    for seed in seeds:
        truth, noisy = noisy_night(seed, noise)
        out = smooth_labels(one_hot(noisy, 3), size, mode)
        true_t = [t for t, _, _ in transitions(truth)]
        got_t = [t for t, _, _ in transitions(out)]
        far = lambda ts: sum(min(abs(t - lag - u) for u in true_t) > size / 2 for t in ts)  # noqa
        spurious_raw += far([t + lag for t, _, _ in transitions(noisy)])
        spurious_out += far(got_t)
        shifts += [min((g - t for g in got_t), key=abs) for t in true_t]
        acc_raw.append((noisy == truth).mean())
        acc_out.append((out == truth).mean())
    return (np.array(shifts), spurious_raw, spurious_out, float(np.mean(acc_raw)),
            float(np.mean(acc_out)))


@pytest.mark.parametrize('size', [5, 9, 15])
def test_label_noise_centred_fewer_spurious_transitions_true_ones_move_at_most_half_a_window(
        size):
    shifts, spurious_raw, spurious_out, acc_raw, acc_out = _shifts_and_spurious(size, 'centred')
    assert spurious_raw > 1000  # 15% label noise: hundreds of false transitions a night
    assert spurious_out < spurious_raw / 10
    # true transitions stay (none lost: every one has a smoothed one within N clips) and
    # nearly all move by no more than N/2 clips (label noise right at a boundary can push one
    # a little further)
    assert np.abs(shifts).max() <= size
    assert (np.abs(shifts) <= size / 2).mean() >= 0.95
    assert np.median(np.abs(shifts)) <= 1
    assert acc_out > acc_raw + 0.1


@pytest.mark.parametrize('size', [5, 9, 15])
def test_label_noise_causal_delays_true_transitions_by_half_a_window(size):
    shifts, spurious_raw, spurious_out, acc_raw, acc_out = _shifts_and_spurious(size, 'causal')
    assert spurious_out < spurious_raw / 10
    assert np.median(shifts) == (size - 1) // 2  # the delay a causal median must have
    assert (np.abs(shifts - (size - 1) // 2) <= size / 2).mean() >= 0.95
    assert acc_out > acc_raw


def test_min_bout_relabels_short_bout_between_one_stage_only():
    labels = np.array([0] * 10 + [2] * 2 + [0] * 10 + [1] * 2 + [2] * 10)
    out = min_bout_filter(labels, 3)
    # 2-clip REM inside awake -> awake; 2-clip NREM between awake and REM stays
    np.testing.assert_array_equal(out, [0] * 22 + [1] * 2 + [2] * 10)
    np.testing.assert_array_equal(min_bout_filter(labels, 2), labels)


def test_min_bout_shortest_first_and_never_bridges_unscored():
    labels = np.array([0] * 5 + [1] * 2 + [0] * 1 + [1] * 5)
    # the 1-clip awake goes first (-> nrem), which leaves one long nrem bout
    np.testing.assert_array_equal(min_bout_filter(labels, 3), [0] * 5 + [1] * 8)
    gap = np.array([0] * 5 + [-1] * 2 + [0] * 5)
    np.testing.assert_array_equal(min_bout_filter(gap, 5), gap)


def test_smoothing_never_reaches_across_an_unscored_gap():
    labels = np.array([0] * 10 + [1] * 10)
    valid = np.ones(20, bool)
    valid[8:10] = False  # the last two awake clips could not be read
    out = smooth_labels(one_hot(labels, 2), 9, 'centred', valid=valid)
    assert (out[8:10] == -1).all()
    np.testing.assert_array_equal(out[:8], 0)
    np.testing.assert_array_equal(out[10:], 1)


def test_bouts_and_transitions():
    labels = np.array([0, 0, 1, -1, 1, 2, 2])
    assert bouts(labels) == [(0, 0, 2), (1, 2, 1), (-1, 3, 1), (1, 4, 1), (2, 5, 2)]
    assert transitions(labels) == [(2, 0, 1), (5, 1, 2)]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='smooth mode'):
        median_smooth_probs(np.zeros((3, 2)), 3, 'forward')
    with pytest.raises(ValueError, match='>= 1'):
        median_smooth_probs(np.zeros((3, 2)), 0)
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        one_hot(np.array([0, 3]), 3)
