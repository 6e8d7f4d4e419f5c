"""Samplers that keep each recording's windows in time order, for random state passing in
``SequenceRecognizer3D`` (a window may start from the memory its recording's previous window
ended with).

* :class:`RecordingStreamSampler`: each batch slot walks whole recordings window by window.
  Consecutive batches hold the same few recordings (strongly correlated batches).
* :class:`InterleavedRecordingSampler`: every window once per epoch, recordings interleaved at
  random, each recording's windows still in order: batches close to i.i.d. (the issue-11
  experiments: the stream order collapsed at learning rates the interleaved order fits).
"""
from collections import OrderedDict
from typing import Iterator, List, Optional

import numpy as np
from mmengine.logging import print_log
from torch.utils.data import Sampler

from ..registry import DATA_SAMPLERS


def _windows_by_recording(dataset) -> List[List[int]]:
    """Dataset indices grouped by ``video``, each recording's in clip order."""
    by_video: 'OrderedDict[str, list]' = OrderedDict()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        by_video.setdefault(info['video'], []).append((int(info['clip_index'][0]), i))
    return [[i for _, i in sorted(windows)] for windows in by_video.values()]


def _set_common(sampler, dataset, shuffle: bool, seed: Optional[int],
                num_replicas: Optional[int], rank: Optional[int]) -> None:
    """What both samplers set: shuffle, seed (mmengine passes the run's), this rank and the
    world size (default: the process's), epoch 0, and the windows grouped by recording."""
    from mmengine.dist import get_dist_info
    world_rank, world_size = get_dist_info()
    sampler.shuffle = shuffle
    sampler.seed = 0 if seed is None else seed
    sampler.world_size = world_size if num_replicas is None else num_replicas
    sampler.rank = world_rank if rank is None else rank
    if not 0 <= sampler.rank < sampler.world_size:
        raise ValueError(f'rank {sampler.rank} outside [0, {sampler.world_size})')
    sampler.epoch = 0
    sampler.videos = _windows_by_recording(dataset)


@DATA_SAMPLERS.register_module()
class RecordingStreamSampler(Sampler):
    """Feeds each batch slot whole recordings, window by window in time order (for random state
    passing in ``SequenceRecognizer3D``: a slot's next window continues its last one).

    There are ``batch_size * num_replicas`` slots (streams); rank r owns slots
    ``r * batch_size ... (r + 1) * batch_size - 1`` and its batch t holds window t of each of
    them. Each epoch the recordings are shuffled and dealt out whole, longest first, each to the
    slot with the fewest windows so far (balanced by window count); a slot walks its recordings
    one after another, so no recording is split across slots or ranks within an epoch and every
    window is used once. All ranks run the same number of batches (DDP needs it): the longest
    stream's length, the same every epoch. A shorter stream is topped up by walking its own
    recordings again from the start (the recognizer resets there); with fewer recordings than
    slots, an empty slot borrows a recording (a warning says so).

    Args:
        dataset (LongVideoDataset): The dataset (its items carry ``video`` and ``clip_index``).
        batch_size (int): Must equal the dataloader's ``batch_size``.
        shuffle (bool): Shuffle the recordings each epoch. Defaults to True.
        seed (int, optional): Seed; mmengine passes the run's (the same on every rank).
            Defaults to None (0).
        num_replicas (int, optional): Number of ranks. Defaults to None (the world size).
        rank (int, optional): This rank. Defaults to None (the process's rank).
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = True,
                 seed: Optional[int] = None, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        _set_common(self, dataset, shuffle, seed, num_replicas, rank)
        self.num_streams = batch_size * self.world_size
        if len(self.videos) < self.num_streams:
            print_log(f'RecordingStreamSampler: {len(self.videos)} recordings for '
                      f'{self.num_streams} batch slots (batch_size {batch_size} x '
                      f'{self.world_size} ranks); some slots repeat a recording',
                      logger='current', level=30)
        # The same every epoch: the deal depends on the recordings' lengths, not their order
        self.stream_length = max(map(len, self.streams()), default=0)

    def recordings(self) -> List[List[int]]:
        """This epoch's recordings (indices into ``self.videos``) of each slot, all ranks."""
        order = np.arange(len(self.videos))
        rng = np.random.default_rng(self.seed + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        # longest first, each to the least-filled slot; a stable sort keeps the shuffled order
        # among recordings of equal length (LPT scheduling, within 4/3 of the best balance)
        longest_first = sorted(order, key=lambda v: -len(self.videos[v]))
        slots: List[List[int]] = [[] for _ in range(self.num_streams)]
        filled = [0] * self.num_streams
        for v in longest_first:
            k = int(np.argmin(filled))
            slots[k].append(int(v))
            filled[k] += len(self.videos[v])
        if self.shuffle:  # which rank and slot gets the longest recordings varies too
            slots = [slots[k] for k in rng.permutation(self.num_streams)]
        position = {int(v): p for p, v in enumerate(order)}
        return [sorted(slot, key=position.__getitem__) for slot in slots]

    def streams(self) -> List[List[int]]:
        """This epoch's streams of dataset indices, all ranks, before topping up."""
        return [[i for v in slot for i in self.videos[v]] for slot in self.recordings()]

    def __iter__(self) -> Iterator[int]:
        streams, length = self.streams(), self.stream_length
        if not length:
            return
        mine = []
        for k in range(self.rank * self.batch_size, (self.rank + 1) * self.batch_size):
            stream = streams[k] or self.videos[k % len(self.videos)]  # an empty slot borrows
            mine.append([stream[t % len(stream)] for t in range(length)])
        for t in range(length):
            for stream in mine:
                yield stream[t]

    def __len__(self) -> int:
        return self.stream_length * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


@DATA_SAMPLERS.register_module()
class InterleavedRecordingSampler(Sampler):
    """Every window once per epoch, recordings interleaved at random, each recording's windows
    in time order (so a window still comes after the one it continues; ``SequenceRecognizer3D``
    keeps the passed memory per recording, not per batch slot).

    Each epoch every window draws a uniform random time; a recording's times are sorted and
    given to its windows in clip order; windows are yielded by time. Under distributed training
    each rank takes whole recordings (dealt round robin from a shuffled list, the same on every
    rank) and tops up with its own windows to the longest rank's count (DDP needs one length).

    Args:
        dataset (LongVideoDataset): The dataset (its items carry ``video`` and ``clip_index``).
        shuffle (bool): Interleave at random (False: recordings one after another, as listed).
            Defaults to True.
        seed (int, optional): Seed; mmengine passes the run's. Defaults to None (0).
        num_replicas, rank (int, optional): Defaults to the world size and this rank.
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None,
                 num_replicas: Optional[int] = None, rank: Optional[int] = None) -> None:
        _set_common(self, dataset, shuffle, seed, num_replicas, rank)
        self.length = self._bound() if self.videos else 0

    def _deal(self, rng: np.random.Generator) -> List[List[int]]:
        order = rng.permutation(len(self.videos)) if self.shuffle else np.arange(len(self.videos))
        return [[int(v) for v in order[r::self.world_size]] for r in range(self.world_size)]

    def _bound(self) -> int:
        """The most windows a rank can be dealt in any epoch (the recordings are dealt afresh
        each epoch, but the loop's length is fixed): its share of recordings, longest first."""
        lengths = sorted((len(v) for v in self.videos), reverse=True)
        share = -(-len(lengths) // self.world_size)  # ceil
        return sum(lengths[:share])

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        mine = self._deal(rng)[self.rank]
        if self.shuffle:
            keyed = []
            for v in mine:
                times = np.sort(rng.random(len(self.videos[v])))
                keyed += zip(times.tolist(), self.videos[v])
            flat = [i for _, i in sorted(keyed)]
        else:
            flat = [i for v in mine for i in self.videos[v]]
        if flat and len(flat) < self.length:  # top up with this rank's own windows
            flat += [flat[j] for j in rng.integers(0, len(flat), self.length - len(flat))]
        return iter(flat)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
