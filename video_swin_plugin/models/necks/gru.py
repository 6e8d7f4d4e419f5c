"""GRUNeck: a GRU over each clip's pooled backbone features, the simple recurrent baseline the
FAM neck is measured against (same backbone, same training, same streaming contract)."""
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from .recurrent import FAMMemory


class GRUNeck(nn.Module):
    """Global-average-pooled clip features -> linear projection -> GRU cell, one step per clip.

    The hidden state travels as a :class:`~.recurrent.FAMMemory` with one layer of one token
    (``tokens Tensor[B, 1, 1, D]``), so staging, resume files and batched streaming handle it as
    they handle FAM's. The output is the hidden state after the clip, ``Tensor[B, D, 1, 1, 1]``
    (an ``I3DHead`` with ``in_channels=embed_dims`` classifies it).

    Args:
        in_channels (int): Channels of the backbone features.
        embed_dims (int): Hidden size D. Defaults to 256.
    """

    def __init__(self, in_channels: int, *, embed_dims: int = 256) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.proj = nn.Linear(in_channels, embed_dims)
        self.cell = nn.GRUCell(embed_dims, embed_dims)
        self.hidden_init = nn.Parameter(torch.zeros(embed_dims))

    def init_memory(self, batch_size: int) -> FAMMemory:
        tokens = self.hidden_init.view(1, 1, 1, -1).expand(batch_size, -1, -1, -1)
        return FAMMemory(tokens, self.hidden_init.new_ones(batch_size))

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'GRUNeck expects features (B, {self.in_channels}, T, H, W), got '
                             f'{tuple(x.shape)}')
        return self.proj(x.mean(dim=(2, 3, 4)))  # B, D

    def _recur(self, inputs: torch.Tensor, memory: FAMMemory) -> Tuple[torch.Tensor, FAMMemory]:
        h = self.cell(inputs, memory.tokens[:, 0, 0].to(inputs.dtype))
        return h, FAMMemory(h.to(memory.tokens.dtype)[:, None, None], torch.zeros_like(
            memory.fresh))

    def step(self, feats: torch.Tensor, memory: FAMMemory) -> Tuple[torch.Tensor, FAMMemory]:
        """One clip per recording: feats (Tensor[B, C, T, H, W]) -> (Tensor[B, D, 1, 1, 1],
        new memory)."""
        h, memory = self._recur(self._inputs(feats), memory)
        return h[:, :, None, None, None], memory

    def forward_sequence(self, x: torch.Tensor, num_clips: int,
                         memory: Optional[FAMMemory] = None,
                         inject: Optional[Tuple[torch.Tensor, FAMMemory]] = None
                         ) -> Tuple[torch.Tensor, FAMMemory]:
        """x (Tensor[B * K, C, T, H, W]), K clips per recording in time order ->
        (Tensor[B * K, D, 1, 1, 1], memory after the K-th clip); ``inject`` as FAMNeck's."""
        batch_size = x.shape[0] // num_clips
        memory = memory if memory is not None else self.init_memory(batch_size)
        inputs = self._inputs(x).view(batch_size, num_clips, -1)
        outs = []
        for k in range(num_clips):
            if inject is not None and bool((inject[0] == k).any()):
                memory = memory.where(inject[0] == k, inject[1])
            h, memory = self._recur(inputs[:, k], memory)
            outs.append(h)
        return torch.stack(outs, dim=1).flatten(0, 1)[:, :, None, None, None], memory

    def forward(self, x: torch.Tensor, data_samples=None,
                num_clips: int = 1) -> Tuple[torch.Tensor, Dict]:
        """mmaction2's neck contract (each sequence from the initial state)."""
        out, _ = self.forward_sequence(x, num_clips)
        return out, dict()
