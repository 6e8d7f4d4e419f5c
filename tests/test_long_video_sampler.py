"""RecordingStreamSampler under DDP: whole recordings per batch slot and rank, balanced by window
count, each slot in time order, the same number of batches on every rank."""
from collections import Counter

import numpy as np
import pytest

from video_swin_plugin.datasets.long_video import RecordingStreamSampler

K = 4  # clips per window


class Windows:
    """What the sampler reads of a LongVideoDataset: ``video`` and ``clip_index`` per item, the
    items of the recordings interleaved so dataset order is not time order."""

    def __init__(self, lengths):
        items = [(f'rec{r}', w) for r, n in enumerate(lengths) for w in range(n)]
        self.items = [items[i] for i in np.random.default_rng(0).permutation(len(items))]

    def __len__(self):
        return len(self.items)

    def get_data_info(self, i):
        video, w = self.items[i]
        return dict(video=video, clip_index=np.arange(w * K, (w + 1) * K))


def rank_orders(dataset, batch_size, world_size, epoch=0, **kwargs):
    orders = []
    for rank in range(world_size):
        sampler = RecordingStreamSampler(dataset, batch_size, num_replicas=world_size, rank=rank,
                                         **kwargs)
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
        assert len(orders[-1]) == len(sampler)
    return orders


def slots_of(order, batch_size):
    return [order[j::batch_size] for j in range(batch_size)]


def walks_whole_recordings(dataset, slot) -> bool:
    """Each recording's windows in time order from its first, one recording after another."""
    expected = 0
    previous = None
    for i in slot:
        video, w = dataset.items[i]
        if video != previous:
            expected = 0
        if w != expected:
            return False
        previous, expected = video, w + 1
    return True


@pytest.mark.parametrize('epoch', [0, 1, 2])
def test_ranks_get_whole_recordings_disjoint_and_covering(epoch):
    lengths = [10, 8, 6, 6, 4, 3, 2, 1]  # 40 windows, 4 slots: dealt 10/10/10/10
    ds = Windows(lengths)
    orders = rank_orders(ds, batch_size=2, world_size=2, epoch=epoch, seed=5)
    assert [len(o) for o in orders] == [20, 20]  # same number of batches on both ranks
    assert sorted(orders[0] + orders[1]) == list(range(40))  # disjoint, covering, no top-up
    videos = [{ds.items[i][0] for i in order} for order in orders]
    assert not videos[0] & videos[1]  # no recording on two ranks
    for order in orders:
        for slot in slots_of(order, 2):
            assert walks_whole_recordings(ds, slot)
            assert len(slot) == 10


def test_rank_and_slot_assignment_changes_with_the_epoch_but_not_the_length():
    ds = Windows([5] * 8)
    seen = set()
    for epoch in range(4):
        orders = rank_orders(ds, batch_size=2, world_size=2, epoch=epoch)
        assert [len(o) for o in orders] == [20, 20]
        seen.add(frozenset(ds.items[i][0] for i in orders[0]))
    assert len(seen) > 1  # shuffled recordings go to different ranks in different epochs
    # without shuffling the deal is the same every epoch
    fixed = {tuple(rank_orders(ds, 2, 2, epoch=e, shuffle=False)[0]) for e in range(3)}
    assert len(fixed) == 1


def test_unbalanced_recordings_are_topped_up_from_the_slots_own_recordings():
    lengths = [12, 3, 3, 2]  # 4 slots, the longest stream is 12 windows
    ds = Windows(lengths)
    orders = rank_orders(ds, batch_size=2, world_size=2, seed=1)
    assert [len(o) for o in orders] == [24, 24]
    used = Counter(orders[0] + orders[1])
    assert set(used) == set(range(len(ds)))  # every window at least once
    for order in orders:
        for slot in slots_of(order, 2):
            # the slot's own recordings in time order, walked again from the start as they end
            videos = dict.fromkeys(ds.items[i][0] for i in slot)
            own = [ds.items.index((v, w)) for v in videos for w in range(lengths[int(v[3:])])]
            assert slot == [own[t % len(own)] for t in range(len(slot))]


def test_fewer_recordings_than_slots_borrow_and_warn(monkeypatch):
    from video_swin_plugin.datasets import recording_samplers
    logged = []
    monkeypatch.setattr(recording_samplers, 'print_log', lambda msg, **kwargs: logged.append(msg))
    ds = Windows([3, 2])
    orders = rank_orders(ds, batch_size=2, world_size=2)  # 4 slots, 2 recordings
    assert [len(o) for o in orders] == [6, 6]
    assert set(orders[0] + orders[1]) == set(range(5))
    for order in orders:
        for slot in slots_of(order, 2):
            assert len(slot) == 3 and slot  # no empty slot: it borrows a recording
    assert logged and all('2 recordings for 4 batch slots' in msg for msg in logged)


def test_bad_rank_is_named():
    with pytest.raises(ValueError, match='rank 2 outside'):
        RecordingStreamSampler(Windows([2]), batch_size=1, num_replicas=2, rank=2)
