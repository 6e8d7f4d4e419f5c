"""FAMNeck: a bounded feedback-attention memory carried from clip to clip.

After TransformerFAM (Hwang et al., "TransformerFAM: Feedback attention is working memory",
arXiv 2404.09173); the paper has no official code, this is our own implementation of its
description. Plain PyTorch: nothing here imports mmengine or mmaction.

Where this departs from the paper, and why:

* A neck, not a change inside every backbone layer. The paper gives each layer of an LLM its own
  FAM. Here the Video Swin backbone stays untouched (so official K400 weights load strictly and
  each clip is encoded independently, which keeps the backbone's cost per clip fixed), and the
  memory lives in ``num_layers`` small transformer layers on the backbone's stage-4 tokens.
* A "block" is one clip's stage-4 tokens, average-pooled to a fixed ``token_grid`` so every clip
  costs the same whatever its size. The paper's sliding-window attention to the previous m
  blocks' keys/values is dropped: the FAM is the only path to the past (the paper found that
  attending to more than one previous FAM block changed nothing, and for a stream of clips
  keeping past clips' keys/values would make memory grow with the window).
* Attention inside a clip is bidirectional (video is not generated token by token), so the
  clip tokens and the FAM copy attend to the same keys, ``[previous memory; clip tokens]``, in
  one attention call without a mask.
* Positions: clip tokens get a learned position embedding over the pooled grid; memory tokens
  get none (the paper gives an updated FAM the last positions of its block; with per-clip
  absolute positions there is no running position to inherit).
* ``memory_norm`` (default on) applies a LayerNorm to the updated memory. The paper's update is
  a plain residual stream; over a night of clips (1,000s of steps, against the paper's ~256
  blocks) an un-normalised residual sum grows without bound and new evidence weighs ever less.
  Set ``memory_norm=False`` for the paper's update.

Kept as in the paper: F learned initial memory tokens per layer (prompt-tuning style); the
memory update's queries are the previous memory itself (the "FAM copy"), with a residual from
the previous memory and then the same feed-forward as the clip tokens; the first update uses a
zero residual instead of the initial memory; the same QKV projection serves clip and memory
tokens; gradients flow through the clips of a training sequence.

State is explicit: ``init_memory(batch_size)`` returns a :class:`~.recurrent.FAMMemory`
``(tokens, fresh)`` with ``tokens (Tensor[B, L, F, D])`` and ``fresh (Tensor[B])`` (1 where the
memory is the learned initial one, so the next update uses a zero residual);
``step(feats, memory)`` returns the clip's output and the new memory. No attribute carries
memory between calls; resetting is starting again from ``init_memory``. FAMNeck satisfies the
:class:`~.recurrent.RecurrentNeck` protocol.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..layers.init import init_linear_and_norm
from .recurrent import FAMMemory


class FAMAttention(nn.Module):
    """Multi-head self-attention over ``[memory; clip tokens]`` with a fused and a plain path."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, fused: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'embed_dims ({dim}) must be divisible by num_heads ({num_heads})')
        self.num_heads = num_heads
        self.scale = (dim // num_heads)**-0.5
        self.fused = fused
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[B, S, D]) -> Tensor[B, S, D]."""
        B, S, D = x.shape
        qkv = self.qkv(x).reshape(B, S, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each B, heads, S, head_dim
        drop = self.attn_drop if self.training else 0.0
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)  # B, heads, S, S
            attn = F.dropout(attn.softmax(dim=-1), drop, training=self.training)
            x = attn @ v
        x = x.transpose(1, 2).reshape(B, S, D)  # B, S, heads * head_dim
        return self.proj_drop(self.proj(x))


class FAMLayer(nn.Module):
    """One pre-norm transformer layer whose block is one clip, with its own feedback memory."""

    def __init__(self, dim: int, num_heads: int, *, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop: float = 0.0, attn_drop: float = 0.0,
                 fused_attention: bool = True, memory_norm: bool = True,
                 memory_update: str = 'residual') -> None:
        super().__init__()
        if memory_update not in ('residual', 'gated'):
            raise ValueError(f"memory_update must be 'residual' or 'gated', got {memory_update!r}")
        if memory_update == 'gated' and not memory_norm:
            raise ValueError("memory_update='gated' needs memory_norm=True (the candidate is "
                             'normalised like the memory it is mixed into)')
        self.memory_update = memory_update
        self.norm1 = nn.LayerNorm(dim)
        self.attn = FAMAttention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                                 proj_drop=drop, fused=fused_attention)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop),
                                 nn.Linear(hidden, dim), nn.Dropout(drop))
        self.mem_norm = nn.LayerNorm(dim) if memory_norm else nn.Identity()
        # a per-channel write gate from [memory; candidate] (GRU-style); bias set in init
        self.gate = nn.Linear(2 * dim, dim) if memory_update == 'gated' else None

    def forward(self, x: torch.Tensor, mem: torch.Tensor,
                fresh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x (Tensor[B, N, D]) clip tokens, mem (Tensor[B, F, D]) previous memory, fresh
        (Tensor[B]) 1 where ``mem`` is the initial memory -> (clip tokens, new memory)."""
        num_mem = mem.shape[1]
        h = torch.cat([mem.to(x.dtype), x], dim=1)  # B, F + N, D: [memory; clip]
        a = self.attn(self.norm1(h))  # the FAM copy and the clip attend to [memory; clip]
        keep = (1.0 - fresh).to(mem.dtype)[:, None, None]  # zero residual on the first update
        x = x + a[:, num_mem:]
        x = x + self.mlp(self.norm2(x))
        if self.gate is not None:
            # the candidate is a full first-update write; the gate mixes it into the memory, so
            # a cue arriving when the memory is already full can be stored at once
            cand = a[:, :num_mem]
            cand = self.mem_norm(cand + self.mlp(self.norm2(cand)))
            prev = mem.to(cand.dtype)
            z = torch.sigmoid(self.gate(torch.cat([prev, cand], dim=-1)))
            z = z * keep + (1.0 - keep)  # the first update takes the candidate
            return x, (1.0 - z) * prev + z * cand
        new_mem = mem * keep + a[:, :num_mem]
        new_mem = new_mem + self.mlp(self.norm2(new_mem))  # the same feed-forward for both
        return x, self.mem_norm(new_mem)


class FAMNeck(nn.Module):
    """Feedback-attention memory between a video backbone and a classification head.

    Each clip's backbone features ``Tensor[B, C, T, H, W]`` are pooled to ``token_grid``,
    projected to ``embed_dims`` and passed through ``num_layers`` layers, each of which attends
    to ``[its memory; clip tokens]`` and updates its memory of ``num_mem_tokens`` tokens. The
    output is the clip tokens, ``Tensor[B, embed_dims, *token_grid]`` (so an ``I3DHead`` with
    ``in_channels=embed_dims`` pools and classifies it). See the module docstring for the design
    and where it departs from the paper.

    Args:
        in_channels (int): Channels of the backbone features (768 for Swin-T stage 4).
        embed_dims (int, optional): Width of the FAM layers; a linear projection is added when
            it differs from ``in_channels``. Defaults to None (= ``in_channels``).
        num_mem_tokens (int): F, memory tokens per layer. Defaults to 16.
        num_layers (int): L, FAM layers. Defaults to 1.
        num_heads (int): Attention heads. Defaults to 8.
        token_grid (Sequence[int]): (T, H, W) the clip's features are average-pooled to; bounds
            the tokens per clip. Defaults to (2, 7, 7).
        mlp_ratio (float): Feed-forward hidden size over ``embed_dims``. Defaults to 4.
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
        drop_rate (float): Dropout after attention and in the feed-forward. Defaults to 0.
        attn_drop_rate (float): Dropout on attention weights. Defaults to 0.
        memory_norm (bool): LayerNorm on each updated memory (a departure from the paper that
            keeps the memory bounded over thousands of clips). Defaults to True.
        fused_attention (bool): ``scaled_dot_product_attention`` (True) or the explicit path.
            Defaults to True.
        use_checkpoint (bool): Gradient checkpointing of each layer step in training.
            Defaults to False.
        memory_update (str): ``'residual'`` (the paper's: memory + attention output) or
            ``'gated'`` (a learned per-channel gate mixes a fresh candidate into the memory,
            GRU-style). Defaults to ``'residual'``.
        gate_bias (float): Initial bias of the gated write: each step starts by writing
            ``sigmoid(gate_bias)`` of the candidate (-2: ~12%, -4: ~2%). More negative keeps
            what was written longer before the gate has learnt when to close (minutes-long
            delays, benchmarks/RESULTS.md). Defaults to -2.0.
        init (str): Linear weights ``'trunc_normal'`` (std 0.02, ViT) or ``'xavier'``
            (uniform; larger for a narrow neck trained from scratch, so a write into a populated
            memory is not ~1% of it). Defaults to ``'trunc_normal'``.
    """

    def __init__(self,
                 in_channels: int,
                 *,
                 embed_dims: Optional[int] = None,
                 num_mem_tokens: int = 16,
                 num_layers: int = 1,
                 num_heads: int = 8,
                 token_grid: Sequence[int] = (2, 7, 7),
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 memory_norm: bool = True,
                 fused_attention: bool = True,
                 use_checkpoint: bool = False,
                 memory_update: str = 'residual',
                 gate_bias: float = -2.0,
                 init: str = 'trunc_normal') -> None:
        super().__init__()
        if init not in ('trunc_normal', 'xavier'):
            raise ValueError(f"init must be 'trunc_normal' or 'xavier', got {init!r}")
        self.init = init
        if isinstance(gate_bias, bool) or not isinstance(gate_bias, (int, float)):
            raise ValueError(f'gate_bias must be a number (the write gate\'s initial bias, e.g. '
                             f'-2.0), got {gate_bias!r}')
        self.gate_bias = float(gate_bias)
        if num_mem_tokens < 1 or num_layers < 1:
            raise ValueError(f'num_mem_tokens ({num_mem_tokens}) and num_layers ({num_layers}) '
                             'must be >= 1')
        if len(token_grid) != 3 or min(token_grid) < 1:
            raise ValueError(f'token_grid must be three positive sizes (T, H, W), got '
                             f'{tuple(token_grid)}')
        self.in_channels = in_channels
        self.embed_dims = embed_dims or in_channels
        self.num_mem_tokens = num_mem_tokens
        self.num_layers = num_layers
        self.token_grid = tuple(int(s) for s in token_grid)
        self.use_checkpoint = use_checkpoint
        dim = self.embed_dims
        num_tokens = self.token_grid[0] * self.token_grid[1] * self.token_grid[2]
        self.pool = nn.AdaptiveAvgPool3d(self.token_grid)
        self.proj = nn.Linear(in_channels, dim) if dim != in_channels else nn.Identity()
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, dim))
        # learned initial memory, one set of F tokens per layer (prompt tuning, as the paper)
        self.memory_init = nn.Parameter(torch.zeros(num_layers, num_mem_tokens, dim))
        self.layers = nn.ModuleList([
            FAMLayer(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                     attn_drop=attn_drop_rate, fused_attention=fused_attention,
                     memory_norm=memory_norm, memory_update=memory_update)
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(dim)
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.memory_init, std=0.02)
        self.apply(init_linear_and_norm)  # pre-order: seeded inits stay as they were
        for m in self.modules():
            if self.init == 'xavier' and isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
        for layer in self.layers:
            if layer.gate is not None:
                nn.init.constant_(layer.gate.bias, self.gate_bias)  # start mostly keeping

    # ---- state -------------------------------------------------------------------------------
    def init_memory(self, batch_size: int) -> FAMMemory:
        """The learned initial memory for ``batch_size`` recordings:
        ``tokens Tensor[B, L, F, D]``, ``fresh Tensor[B]`` (all 1); its size never changes."""
        tokens = self.memory_init.unsqueeze(0).expand(batch_size, -1, -1, -1)
        return FAMMemory(tokens, self.memory_init.new_ones(batch_size))

    def _check_memory(self, memory: FAMMemory, batch_size: int) -> None:
        if not isinstance(memory, FAMMemory):
            raise TypeError('FAMNeck memory must be the FAMMemory from init_memory or step, '
                            f'got {type(memory).__name__}')
        expected = (batch_size, self.num_layers, self.num_mem_tokens, self.embed_dims)
        if tuple(memory.tokens.shape) != expected or tuple(memory.fresh.shape) != (batch_size, ):
            raise ValueError(f'FAMNeck memory shapes {tuple(memory.tokens.shape)}, '
                             f'{tuple(memory.fresh.shape)} do not fit batch size {batch_size}: '
                             f'expected {expected} and ({batch_size},)')

    # ---- computation -------------------------------------------------------------------------
    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features ``Tensor[B, C, T, H, W]`` -> clip tokens ``Tensor[B, N, D]``."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'FAMNeck expects features (B, {self.in_channels}, T, H, W) '
                             f'(in_channels={self.in_channels}), got {tuple(x.shape)}')
        x = self.pool(x).flatten(2).transpose(1, 2)  # B, N, C with N = prod(token_grid)
        return self.proj(x) + self.pos_embed  # B, N, D

    def _layer(self, layer: FAMLayer, x: torch.Tensor, mem: torch.Tensor,
               fresh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.use_checkpoint and self.training and torch.is_grad_enabled():
            return checkpoint(layer, x, mem, fresh, use_reentrant=False)
        return layer(x, mem, fresh)

    def _recur(self, tokens: torch.Tensor,
               memory: FAMMemory) -> Tuple[torch.Tensor, FAMMemory]:
        """One clip: tokens (Tensor[B, N, D]) -> (tokens, new memory)."""
        mem, fresh = memory
        new_mems = []
        for i, layer in enumerate(self.layers):
            tokens, new_mem = self._layer(layer, tokens, mem[:, i], fresh)
            new_mems.append(new_mem.to(mem.dtype))  # memory keeps its dtype under autocast
        return tokens, FAMMemory(torch.stack(new_mems, dim=1), torch.zeros_like(fresh))

    def _output(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tensor[B, N, D] -> Tensor[B, D, *token_grid]."""
        x = self.norm(tokens)
        return x.transpose(1, 2).reshape(x.shape[0], self.embed_dims, *self.token_grid)

    def forward_sequence(self, x: torch.Tensor, num_clips: int,
                         memory: Optional[FAMMemory] = None,
                         inject: Optional[Tuple[torch.Tensor, FAMMemory]] = None
                         ) -> Tuple[torch.Tensor, FAMMemory]:
        """Sequences of consecutive clips, in time order, carrying memory.

        Args:
            x (Tensor[B * K, C, T, H, W]): backbone features, the K clips of each sequence
                contiguous and in time order (``inputs.view(B * K, ...)`` of ``(B, K, ...)``).
            num_clips (int): K.
            memory: the state to start from; None starts from :meth:`init_memory`.
            inject (tuple, optional): ``(at Tensor[B] long, FAMMemory of B)``: sequence b
                switches to the given memory just before its clip ``at[b]`` (-1: never).
                Training's state passing after a burn-in: the burn-in clips run from the
                initial memory, then the passed memory continues where its window ended.

        Returns:
            (Tensor[B * K, D, *token_grid], memory after the K-th clip).
        """
        if num_clips < 1 or x.shape[0] % num_clips:
            raise ValueError(f'FAMNeck got {x.shape[0]} clips, not a multiple of '
                             f'num_clips={num_clips}')
        batch_size = x.shape[0] // num_clips
        if memory is None:
            memory = self.init_memory(batch_size)
        self._check_memory(memory, batch_size)
        tokens = self.tokens(x)  # B * K, N, D, all clips at once
        tokens = tokens.view(batch_size, num_clips, *tokens.shape[1:])  # B, K, N, D
        outs = []
        for k in range(num_clips):
            if inject is not None and bool((inject[0] == k).any()):
                memory = memory.where(inject[0] == k, inject[1])
            out, memory = self._recur(tokens[:, k], memory)
            outs.append(out)
        out = torch.stack(outs, dim=1).flatten(0, 1)  # B * K, N, D
        return self._output(out), memory

    def step(self, feats: torch.Tensor, memory: FAMMemory) -> Tuple[torch.Tensor, FAMMemory]:
        """One clip per recording: feats (Tensor[B, C, T, H, W]) and the memory so far ->
        (Tensor[B, D, *token_grid], new memory)."""
        self._check_memory(memory, feats.shape[0])
        out, memory = self._recur(self.tokens(feats), memory)
        return self._output(out), memory

    def forward(self, x: torch.Tensor, data_samples=None,
                num_clips: int = 1) -> Tuple[torch.Tensor, Dict]:
        """mmaction2's neck contract: ``x, loss_aux = neck(x, data_samples=...)``.

        ``x (Tensor[B * K, C, T, H, W])`` holds sequences of ``num_clips`` consecutive clips
        (default 1: each clip on its own), each starting from the initial memory. Returns the
        clip outputs ``Tensor[B * K, D, *token_grid]`` and an empty ``loss_aux``.
        """
        out, _ = self.forward_sequence(x, num_clips)
        return out, dict()
