"""Window multi-head self-attention with a 3D relative-position bias (W-MSA / SW-MSA)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .window_ops import relative_position_index


class WindowAttention3D(nn.Module):
    """Self-attention inside 3D windows, with a learned relative-position bias.

    Parameter names are those of the original Video Swin, so its checkpoints load as they are.

    Args:
        dim (int): Channels of the tokens.
        window_size (Sequence[int]): The full window (Wd, Wh, Ww) the bias table is built for.
        num_heads (int): Attention heads.
        qkv_bias (bool): Learn a bias in the qkv projection. Defaults to True.
        qk_scale (float, optional): Overrides ``head_dim ** -0.5``. Defaults to None.
        attn_drop (float): Dropout on attention weights. Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to 0.
        fused (bool): Use ``F.scaled_dot_product_attention`` with bias and shift mask
            folded into one additive mask; False keeps the explicit softmax path.
            Defaults to True.
        official_shrunk_bias (bool): When the window shrinks to a small input, slice the
            full window's index ``[:N, :N]`` as the original does. That is wrong whenever the
            height or width shrinks; keep False unless you need the original's numbers bit
            for bit. Defaults to False.
    """

    def __init__(self,
                 dim: int,
                 window_size: Sequence[int],
                 num_heads: int,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0,
                 fused: bool = True,
                 official_shrunk_bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim ({dim}) must be divisible by num_heads ({num_heads})')
        self.dim = dim
        self.window_size = tuple(window_size)
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads)**-0.5
        self.fused = fused
        self.official_shrunk_bias = official_shrunk_bias
        wd, wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), num_heads))
        # Persistent, unlike timm: official checkpoints carry this key and must load strictly.
        self.register_buffer('relative_position_index', relative_position_index(self.window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self, window_size: Tuple[int, int, int]) -> torch.Tensor:
        """Bias ``Tensor[nH, N, N]`` for tokens in a window of ``window_size``."""
        n = window_size[0] * window_size[1] * window_size[2]
        if window_size == self.window_size or self.official_shrunk_bias:
            index = self.relative_position_index[:n, :n]
        else:
            index = relative_position_index(window_size, self.window_size).to(
                self.relative_position_index.device)
        bias = self.relative_position_bias_table[index.reshape(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1)

    def forward(self,
                x: torch.Tensor,
                window_size: Tuple[int, int, int],
                num_windows: int,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend within windows.

        Args:
            x (Tensor[B * nW, N, C]): Tokens grouped by window.
            window_size: The (possibly shrunk) window the N tokens fill.
            num_windows (int): nW, windows per sample.
            mask (Tensor[nW, N, N], optional): Additive shift mask.

        Returns:
            Tensor[B * nW, N, C]
        """
        BW, N, C = x.shape
        # 3, B, nW, nH, N, hd
        qkv = self.qkv(x).view(BW // num_windows, num_windows, N, 3, self.num_heads,
                               C // self.num_heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias(window_size).to(q.dtype)  # nH, N, N
        mask = None if mask is None else mask.to(q.dtype).unsqueeze(1)  # nW, 1, N, N
        if self.fused:
            # One additive mask: bias and shift mask summed once per call (nW, nH, N, N).
            attn_mask = bias if mask is None else bias + mask
            x = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask,
                dropout_p=self.attn_drop.p if self.training else 0.0, scale=self.scale)
        else:
            # Same order of operations as the original, so its numbers are reproduced exactly.
            attn = (q * self.scale) @ k.transpose(-2, -1) + bias
            if mask is not None:
                attn = attn + mask
            attn = self.attn_drop(attn.softmax(dim=-1))
            x = attn @ v
        x = x.permute(0, 1, 3, 2, 4).reshape(BW, N, C)  # B * nW, N, nH * hd
        return self.proj_drop(self.proj(x))
