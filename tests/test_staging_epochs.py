"""Scoring epochs from clip probabilities: which clips an epoch averages, unscored and
not-recorded epochs, scorer labels per epoch, whole nights on one timeline."""
import datetime as dt

import numpy as np
import pytest

from video_swin_plugin.clip_grid import ClipSchedule
from video_swin_plugin.errors import UsageError
from video_swin_plugin.staging.epochs import (check_epoch_sec, clip_epochs, interval_labels,
                                              num_epochs)
from video_swin_plugin.staging.nights import NightPart, build_night


def test_epoch_is_the_mean_of_the_clips_whose_centre_falls_in_it():
    # clips every 10 s, centred 1.24 s after their start (a 63-frame clip at 25 fps)
    centres = np.arange(9) * 10.0 + 1.24
    probs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1],
                      [.2, .8, 0], [.4, .6, 0], [.6, .4, 0],
                      [0, 0, 1], [0, 0, 1], [0, 1, 0]], dtype=float)
    t = clip_epochs(centres, probs, np.ones(9, bool), 30.0)
    assert len(t) == 3
    np.testing.assert_allclose(t.probs[0], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(t.probs[1], [.4, .6, 0])
    np.testing.assert_allclose(t.probs[2], [0, 1 / 3, 2 / 3])
    np.testing.assert_array_equal(t.clips, [3, 3, 3])
    np.testing.assert_array_equal(t.labels(), [0, 1, 2])
    np.testing.assert_allclose(t.onset, [0, 30, 60])


def test_a_centre_on_the_boundary_belongs_to_the_later_epoch():
    t = clip_epochs(np.array([29.999, 30.0]), np.array([[1., 0], [0, 1.]]), np.ones(2, bool),
                    30.0)
    np.testing.assert_array_equal(t.clips, [1, 1])
    np.testing.assert_array_equal(t.labels(), [0, 1])


def test_an_epoch_without_a_scored_clip_is_unscored_and_unscored_clips_are_ignored():
    centres = np.arange(12) * 5.0 + 2.5  # 2 clips per 10-s epoch
    probs = np.tile([[0.9, 0.1]], (12, 1))
    probs[4:6] = [[0.0, 1.0]]  # the clips of epoch 2, unreadable: never averaged
    scored = np.ones(12, bool)
    scored[4:6] = False
    scored[7] = False  # epoch 3 keeps one of its clips
    t = clip_epochs(centres, probs, scored, 10.0)
    np.testing.assert_array_equal(t.clips, [2, 2, 0, 1, 2, 2])
    assert np.isnan(t.probs[2]).all()
    np.testing.assert_array_equal(t.labels(), [0, 0, -1, 0, 0, 0])
    assert list(t.status()) == ['scored'] * 2 + ['unscored'] + ['scored'] * 3


def test_epochs_shorter_than_the_clip_stride_leave_epochs_without_clips_unscored():
    t = clip_epochs(np.arange(4) * 10.0 + 1.0, np.eye(2)[[0, 1, 0, 1]], np.ones(4, bool), 5.0)
    np.testing.assert_array_equal(t.clips, [1, 0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(t.labels(), [0, -1, 1, -1, 0, -1, 1])


def test_the_epochs_cover_the_clip_grid_of_a_real_schedule():
    sched = ClipSchedule(8, 1, 1.0)  # the demo's grid: 8 fps, one clip a second
    n = sched.num_clips(30 * 60 * 8, 8.0)
    t = clip_epochs(sched.centre_times(n, 8.0), np.tile([[1.0, 0, 0]], (n, 1)),
                    np.ones(n, bool), 30.0)
    assert len(t) == 60 and (t.clips == 30).all()


def test_scorer_label_per_epoch_is_the_interval_at_its_midpoint():
    intervals = [(0, 30, 0), (30, 90, 1), (120, 150, 2)]
    np.testing.assert_array_equal(interval_labels(intervals, 30.0, 6), [0, 1, 1, -1, 2, -1])
    # 20-s epochs across 30-s scorer epochs: the midpoint decides
    np.testing.assert_array_equal(interval_labels(intervals, 20.0, 5), [0, 1, 1, 1, -1])


@pytest.mark.parametrize('bad', [0, -30, float('nan'), float('inf'), 'x'])
def test_bad_epoch_length_is_named(bad):
    with pytest.raises(UsageError, match='--epoch-sec'):
        check_epoch_sec(bad)


def test_num_epochs_counts_a_partial_last_epoch():
    assert num_epochs(60.0, 30.0) == 2 and num_epochs(61.0, 30.0) == 3 and num_epochs(0, 30) == 0


def _part(name, duration, start, label, skipped=()):
    centres = np.arange(int(duration)) + 0.5  # one clip a second
    probs = np.tile(np.eye(3)[label], (len(centres), 1))
    return NightPart(name, float(duration), centres, probs, np.ones(len(centres), bool), start,
                     list(skipped), [(0.0, float(duration), label)])


def test_a_night_places_files_by_clock_and_marks_the_gap_not_recorded():
    t0 = dt.datetime(2024, 5, 1, 22, 0)
    parts = [_part('a.mp4', 600, t0, 0),
             _part('b.mp4', 600, t0 + dt.timedelta(seconds=900), 1),  # 5 min gap
             _part('c.mp4', 300, t0 + dt.timedelta(seconds=1500), 2)]  # right after b
    night = build_night(parts, 30.0)
    assert night.placement == 'clock' and night.offsets == [0.0, 900.0, 1500.0]
    assert night.start == t0
    status = night.epochs.status()
    assert len(night.epochs) == 60
    assert (status[:20] == 'scored').all() and (status[20:30] == 'not recorded').all()
    assert (status[30:] == 'scored').all()
    labels = night.epochs.labels()
    np.testing.assert_array_equal(labels[:20], 0)
    np.testing.assert_array_equal(labels[20:30], -1)
    np.testing.assert_array_equal(labels[30:50], 1)
    np.testing.assert_array_equal(labels[50:], 2)
    assert night.not_recorded() == [(600.0, 900.0)]
    assert night.boundaries() == [(0.0, 'a.mp4'), (900.0, 'b.mp4'), (1500.0, 'c.mp4')]
    np.testing.assert_array_equal(night.truth_labels(), np.where(status == 'scored', labels, -1))
    videos = night.epoch_videos()
    assert videos[0] == 'a.mp4' and videos[25] == '' and videos[30] == 'b.mp4'


def test_a_night_without_clock_puts_files_end_to_end_and_shifts_skipped_stretches():
    parts = [_part('a.mp4', 300, None, 0),
             _part('b.mp4', 300, None, 1, [dict(start=30.0, end=60.0, reason='x')])]
    night = build_night(parts, 30.0)
    assert night.placement == 'end to end' and night.offsets == [0.0, 300.0]
    assert night.start is None and night.not_recorded() == []
    assert night.skipped() == [dict(start=330.0, end=360.0, reason='x', video='b.mp4')]
