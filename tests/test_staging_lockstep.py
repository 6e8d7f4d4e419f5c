"""Batched streaming: recordings staged in lockstep, one clip of each per forward, each with
its own memory; the same results as one at a time, whatever shares the batch."""
import csv
import io

import numpy as np
import pytest
import torch

from video_swin_plugin.staging import StreamJob
from video_swin_plugin.staging.lockstep import lockstep

from .helpers import write_stage_video


def test_lockstep_keeps_the_batch_full_and_refills_slots():
    sizes = []

    def unit(n):
        total = 0
        for i in range(n):
            total += yield (n, i)  # ask for an answer n times
        return False

    def step(requests):
        sizes.append(len(requests))
        return [1] * len(requests)

    assert lockstep([3, 1, 4, 2, 5], unit, step, batch=2) is False
    # a slot is refilled as soon as its unit ends: full batches until only the 5 is left
    assert sizes == [2, 2, 2, 2, 2, 1, 1, 1, 1, 1]


def test_lockstep_throws_a_step_error_into_its_units_and_stops_on_request():
    seen = []

    def unit(name):
        try:
            yield name
        except RuntimeError as e:
            seen.append((name, str(e)))
        if name == 'b':
            return True  # e.g. the clip budget ran out
        yield name
        return False

    calls = []

    def step(requests):
        calls.append(list(requests))
        if len(calls) == 1:
            raise RuntimeError('device lost')
        return [None] * len(requests)

    assert lockstep(['a', 'b', 'c', 'd'], unit, step, batch=2) is True
    assert seen == [('a', 'device lost'), ('b', 'device lost')]
    assert calls == [['a', 'b'], ['a']]  # 'b' stopped the run: c and d never start


def _rows(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return ([r['label'] for r in rows],
            np.array([[float(v) for k, v in r.items() if k.startswith('p_')] for r in rows]))


def test_batched_staging_equals_one_recording_at_a_time(stream_classifier, tmp_path):
    videos = []
    for i, n in enumerate([7, 12, 5, 9, 10]):  # different lengths: slots refill at different times
        stages = [(i + k // 3) % 3 for k in range(n)]
        videos.append((str(write_stage_video(tmp_path / f'n{i}.mp4', stages, seed=i)),
                       f'n{i}.mp4'))
    one = StreamJob(stream_classifier, str(tmp_path / 'one'), progress=False).run(videos)
    three = StreamJob(stream_classifier, str(tmp_path / 'three'), progress=False,
                      batch=3).run(videos)
    alone = StreamJob(stream_classifier, str(tmp_path / 'alone'), progress=False,
                      batch=3).run(videos[3:4])
    assert [v['status'] for v in three['videos']] == ['done'] * 5
    assert [v['clips'] for v in three['videos']] == [v['clips'] for v in one['videos']]
    for i in range(5):
        labels_1, probs_1 = _rows(tmp_path / 'one' / f'n{i}.csv')
        labels_3, probs_3 = _rows(tmp_path / 'three' / f'n{i}.csv')
        assert labels_1 == labels_3 and len(labels_1) > 0
        np.testing.assert_allclose(probs_3, probs_1, atol=1e-5)
    labels_a, probs_a = _rows(tmp_path / 'alone' / 'n3.csv')  # no companions at all
    labels_3, probs_3 = _rows(tmp_path / 'three' / 'n3.csv')
    assert labels_a == labels_3
    np.testing.assert_allclose(probs_a, probs_3, atol=1e-5)


def test_a_bad_clip_spoils_neither_its_memory_nor_its_batch(stream_classifier):
    clf = stream_classifier
    torch.manual_seed(0)
    clips = [torch.randint(0, 255, (3, 4, 32, 32)).float() for _ in range(3)]
    memories = [clf.init_memory() for _ in range(3)]
    ref = clf.step(clips, memories)
    clips[1][0, 0, 0, 0] = float('nan')
    out = clf.step(clips, memories)
    assert out[1][0] is None and out[1][1] is memories[1]
    for i in (0, 2):
        np.testing.assert_allclose(out[i][0], ref[i][0], atol=1e-6)
        torch.testing.assert_close(out[i][1].tokens, ref[i][1].tokens, atol=1e-6, rtol=0)
