"""InterleavedRecordingSampler: every window once, recordings mixed across batches, each
recording's windows in time order; under DDP whole recordings per rank, one length for all."""
from collections import Counter

import pytest

from video_swin_plugin.datasets.recording_samplers import InterleavedRecordingSampler

from .test_long_video_sampler import Windows


def in_time_order(dataset, order) -> bool:
    last = {}
    for i in order:
        info = dataset.get_data_info(i)
        if last.get(info['video'], -1) >= info['clip_index'][0]:
            return False
        last[info['video']] = info['clip_index'][0]
    return True


def test_every_window_once_mixed_and_in_time_order():
    ds = Windows([5, 5, 5, 5])
    sampler = InterleavedRecordingSampler(ds, seed=0)
    order = list(sampler)
    assert sorted(order) == list(range(20)) and len(sampler) == 20
    assert in_time_order(ds, order)
    videos = [ds.get_data_info(i)['video'] for i in order]
    assert sum(a != b for a, b in zip(videos, videos[1:])) >= 8  # not 4 blocks (3 switches)
    sampler.set_epoch(1)
    assert list(sampler) != order and in_time_order(ds, list(sampler))
    # without shuffling: recordings one after another, as listed
    plain = list(InterleavedRecordingSampler(ds, shuffle=False))
    assert in_time_order(ds, plain) and sorted(plain) == list(range(20))


@pytest.mark.parametrize('epoch', [0, 1, 2])
def test_ranks_get_whole_recordings_and_one_length(epoch):
    ds = Windows([6, 1, 3, 2, 5])
    orders = []
    for rank in range(2):
        sampler = InterleavedRecordingSampler(ds, seed=3, num_replicas=2, rank=rank)
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
    assert len(orders[0]) == len(orders[1]) == len(sampler) == 6 + 5 + 3  # the worst deal
    videos = [{ds.get_data_info(i)['video'] for i in order} for order in orders]
    assert not videos[0] & videos[1]  # no recording split across ranks
    assert set().union(*(set(o) for o in orders)) == set(range(len(ds)))  # all covered
    for order in orders:  # topped up with the rank's own windows, each recording in order
        first = list(dict.fromkeys(order))
        assert in_time_order(ds, first)
        assert set(Counter(order)) == set(first)


def test_bad_rank_is_named():
    with pytest.raises(ValueError, match='rank 2 outside'):
        InterleavedRecordingSampler(Windows([2]), num_replicas=2, rank=2)
