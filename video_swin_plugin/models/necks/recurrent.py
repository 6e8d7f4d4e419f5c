"""The contract between a recurrent neck and the code that carries its memory.

A recurrent neck (``FAMNeck``) takes and returns its state explicitly; nothing is kept on the
module between calls. The state is a :class:`FAMMemory`: two tensors with a batch dimension,
so the code that carries it (the sequence recognizer, the streaming classifier, the resumable
staging job) moves, detaches, saves and batches it through these few methods and never needs
to know what is inside.
"""
from typing import Dict, NamedTuple, Optional, Protocol, Sequence, Tuple, runtime_checkable

import torch


class FAMMemory(NamedTuple):
    """The memory of ``B`` recordings.

    Attributes:
        tokens (Tensor[B, L, F, D]): F memory tokens in each of L layers.
        fresh (Tensor[B]): 1 where ``tokens`` is still the learned initial memory (the next
            update then uses a zero residual, as TransformerFAM's first update), else 0.

    Saved as :meth:`state_dict` (plain tensors), so a saved memory loads with
    ``torch.load(weights_only=True)`` without unpickling any class.
    """
    tokens: torch.Tensor
    fresh: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.tokens.shape[0]

    def to(self, *args, **kwargs) -> 'FAMMemory':
        """Both tensors ``.to(*args, **kwargs)`` (a device, a dtype, or both)."""
        return FAMMemory(self.tokens.to(*args, **kwargs), self.fresh.to(*args, **kwargs))

    def detach(self) -> 'FAMMemory':
        return FAMMemory(self.tokens.detach(), self.fresh.detach())

    def select(self, index) -> 'FAMMemory':
        """The memories of the recordings at ``index`` (an int keeps the batch dimension)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return FAMMemory(self.tokens[index], self.fresh[index])

    @staticmethod
    def cat(memories: Sequence['FAMMemory']) -> 'FAMMemory':
        """Stack the memories of several batches of recordings into one batch."""
        return FAMMemory(torch.cat([m.tokens for m in memories]),
                         torch.cat([m.fresh for m in memories]))

    def where(self, take: torch.Tensor, other: 'FAMMemory') -> 'FAMMemory':
        """``other``'s memory where ``take (BoolTensor[B])`` is set, this one's elsewhere."""
        t = take.to(self.tokens.device)
        return FAMMemory(
            torch.where(t.view(-1, 1, 1, 1), other.tokens.to(self.tokens.dtype), self.tokens),
            torch.where(t, other.fresh.to(self.fresh.dtype), self.fresh))

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """Plain tensors on the CPU, for ``torch.save`` (loads with ``weights_only=True``)."""
        return dict(tokens=self.tokens.detach().cpu(), fresh=self.fresh.detach().cpu())

    @classmethod
    def from_state_dict(cls, state: Dict[str, torch.Tensor]) -> 'FAMMemory':
        return cls(state['tokens'], state['fresh'])


@runtime_checkable
class RecurrentNeck(Protocol):
    """What a neck must offer to carry memory from clip to clip (``FAMNeck`` does)."""

    def init_memory(self, batch_size: int) -> FAMMemory:
        """The memory at the start of ``batch_size`` recordings (reset)."""

    def step(self, feats: torch.Tensor, memory: FAMMemory) -> Tuple[torch.Tensor, FAMMemory]:
        """One clip per recording: backbone features and the memory so far -> (output,
        new memory)."""

    def forward_sequence(self, x: torch.Tensor, num_clips: int,
                         memory: Optional[FAMMemory] = None
                         ) -> Tuple[torch.Tensor, FAMMemory]:
        """``num_clips`` consecutive clips per recording, in time order, carrying memory."""


@runtime_checkable
class StreamingRecognizer(Protocol):
    """What a recognizer must offer to classify a recording clip by clip
    (``SequenceRecognizer3D`` does); ``memory`` is None for a memoryless model."""

    def init_memory(self, batch_size: int) -> Optional[FAMMemory]:
        """The memory at the start of ``batch_size`` recordings."""

    def predict_clip(self, inputs: torch.Tensor, memory: Optional[FAMMemory]
                     ) -> Tuple[torch.Tensor, Optional[FAMMemory]]:
        """One clip per recording, raw RGB ``(N, C, T, H, W)`` -> (softmax scores, memory)."""
