"""Window multi-head self-attention with a 3D relative-position bias (W-MSA / SW-MSA)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .window_ops import relative_position_index

# Elements of one chunk's (windows, nH, N, N) scores in the recomputing backward: ~32 MB fp32.
RECOMPUTE_CHUNK_ELEMENTS = 1 << 23


class _RecomputedAttention(torch.autograd.Function):
    """Window attention that keeps no attention matrix for backward.

    Forward is SDPA without grad (the CPU flash kernel). Backward recomputes the scores a
    chunk of windows at a time and applies the softmax-attention gradient by hand, the
    scheme of FlashAttention (Dao et al., 2022) at the granularity of windows, so peak memory
    holds one chunk's scores instead of all windows'. It exists because CPU SDPA falls back to
    its math kernel, which keeps every (nW, nH, N, N) matrix, whenever the additive mask needs
    a gradient, as the learned relative-position bias does. Gradients reach the mask, summed
    over the windows it is broadcast to.
    """

    @staticmethod
    def forward(ctx, q, k, v, attn_mask, scale):
        ctx.save_for_backward(q, k, v, attn_mask)
        ctx.scale = scale
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        q, k, v, attn_mask = ctx.saved_tensors
        scale = ctx.scale
        n, nH, N, _ = q.shape
        grad_out = grad_out.to(q.dtype)
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        need_mask = ctx.needs_input_grad[3]
        per_window = attn_mask.shape[0] != 1
        acc = torch.promote_types(q.dtype, torch.float32)  # sum half-precision grads in fp32
        dmask = torch.zeros(attn_mask.shape, dtype=acc, device=q.device) if need_mask else None
        chunk = max(1, RECOMPUTE_CHUNK_ELEMENTS // (nH * N * N))
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            qc, kc, vc, go = q[s:e], k[s:e], v[s:e], grad_out[s:e]
            m = attn_mask[s:e] if per_window else attn_mask
            p = torch.baddbmm(m.expand(e - s, nH, N, N).reshape(-1, N, N),
                              qc.reshape(-1, N, qc.shape[-1]),
                              kc.reshape(-1, N, kc.shape[-1]).transpose(1, 2), alpha=scale)
            p = p.view(e - s, nH, N, N).softmax(dim=-1)  # chunk, nH, N, N
            dv[s:e] = p.transpose(-2, -1) @ go
            ds = go @ vc.transpose(-2, -1)  # dP
            ds -= (ds * p).sum(-1, keepdim=True)
            ds *= p  # dS = P * (dP - rowsum(P * dP))
            if need_mask:
                if per_window:
                    dmask[s:e] += ds
                else:
                    dmask += ds.sum(0, keepdim=True, dtype=acc)
            dq[s:e] = (ds @ kc).mul_(scale)
            dk[s:e] = (ds.transpose(-2, -1) @ qc).mul_(scale)
        return dq, dk, dv, (dmask.to(attn_mask.dtype) if need_mask else None), None


def recomputed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         attn_mask: torch.Tensor, scale: float) -> torch.Tensor:
    """``softmax(q k^T * scale + attn_mask) v`` whose backward recomputes the scores in chunks.

    Args:
        q, k, v (Tensor[n, nH, N, hd]): Queries, keys, values of ``n`` windows.
        attn_mask (Tensor[1 or n, nH, N, N]): Additive mask, may need a gradient.
        scale (float): Multiplies ``q k^T``.
    """
    return _RecomputedAttention.apply(q, k, v, attn_mask, scale)


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
        self._bias_cache = None  # (key, Tensor[nH, N, N]) in inference, see _bias

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

    def _bias(self, window_size: Tuple[int, int, int], dtype: torch.dtype) -> torch.Tensor:
        """:meth:`relative_position_bias` in ``dtype``, contiguous, cached in inference.

        The cache lives on this module (not in a global cache) and is used only in eval mode
        when no gradient can flow to the table. Its key holds the table's version counter,
        storage, dtype and device, so an in-place update (optimizer step, ``load_state_dict``)
        or ``.to()`` makes it stale; it is also dropped by ``train()``, ``load_state_dict``
        and ``_apply``.
        """
        table = self.relative_position_bias_table
        cacheable = not (self.training or (torch.is_grad_enabled() and table.requires_grad)
                         or torch.compiler.is_compiling())
        if not cacheable:
            self._bias_cache = None
            return self.relative_position_bias(window_size).to(dtype).contiguous()
        key = (window_size, dtype, table.device, table._version, table.data_ptr())
        if self._bias_cache is None or self._bias_cache[0] != key:
            with torch.no_grad():
                bias = self.relative_position_bias(window_size).to(dtype).contiguous()
            self._bias_cache = (key, bias)
        return self._bias_cache[1]

    def train(self, mode: bool = True) -> 'WindowAttention3D':
        self._bias_cache = None
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):
        self._bias_cache = None
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._bias_cache = None
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self,
                x: torch.Tensor,
                window_size: Tuple[int, int, int],
                num_windows: int = 1,
                mask: Optional[torch.Tensor] = None,
                groups: Optional[Sequence[Tuple[int, int, int]]] = None,
                recompute: bool = False) -> torch.Tensor:
        """Attend within windows.

        Args:
            x (Tensor[BW, N, C]): Tokens grouped by window, ``BW`` windows in all.
            window_size: The (possibly shrunk) window the N tokens fill.
            num_windows (int): nW, windows per sample, when ``mask`` is per window.
            mask (Tensor): Additive shift mask. Without ``groups``: ``Tensor[nW, N, N]``, one
                per window of a sample, windows ordered sample-major (``B, nW``) as the
                original. With ``groups``: ``Tensor[nK, N, N]``, one per kind of window.
            groups: ``((start, end, kind), ...)`` covering the ``BW`` windows: windows
                ``start:end`` take ``mask[kind]``, or no mask for kind -1 (see
                :class:`~video_swin_plugin.models.layers.window_ops.WindowPlan`).
                Fused path only.
            recompute (bool): In training on CPU, keep no attention matrices for backward
                and recompute them there in chunks (see :func:`recomputed_attention`); the
                backbone sets it with ``use_checkpoint``. Fused path only. Defaults to False.

        Returns:
            Tensor[BW, N, C]
        """
        BW, N, C = x.shape
        nH, hd = self.num_heads, C // self.num_heads
        if not self.fused:
            if groups is not None:
                raise ValueError('groups are for the fused path; the explicit path takes a '
                                 'per-window mask')
            return self._explicit(x, window_size, num_windows, mask)
        # BW, nH, N, hd each: 4-D views, which CPU SDPA runs with its flash kernel (a 5-D
        # q/k/v or a 3-D mask sends it to the slow math path)
        q, k, v = self.qkv(x).view(BW, N, 3, nH, hd).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self._bias(window_size, q.dtype)  # nH, N, N
        if groups is None:
            if mask is None:
                groups = ((0, BW, -1), )
            else:  # per-window masks, sample-major: one call per sample
                B, nW = BW // num_windows, num_windows
                groups = tuple((b * nW, (b + 1) * nW, -2) for b in range(B))
        if mask is not None:
            mask = mask.to(q.dtype)
        outs = []
        for start, end, kind in groups:
            if kind == -1:
                attn_mask = bias.unsqueeze(0)  # 1, nH, N, N: broadcast over windows
            elif kind == -2:
                attn_mask = bias.unsqueeze(0) + mask.unsqueeze(1)  # nW, nH, N, N
            else:
                attn_mask = (bias + mask[kind]).unsqueeze(0)  # 1, nH, N, N
            outs.append(self._sdpa(q[start:end], k[start:end], v[start:end], attn_mask,
                                   recompute))
        # SDPA returns n, nH, N, hd laid out as n, N, nH, hd: the transposes are free views
        # (cat of 2-D views: torch 2.13's cat of these 4-D ones takes a slow strided path)
        outs = [o.transpose(1, 2).reshape(o.shape[0], N * C) for o in outs]  # n, N * C
        x = (outs[0] if len(outs) == 1 else torch.cat(outs)).view(BW, N, C)
        return self.proj_drop(self.proj(x))

    def _sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor,
              recompute: bool) -> torch.Tensor:
        """``softmax(q k^T * scale + attn_mask) v`` for ``Tensor[n, nH, N, hd]`` inputs."""
        dropout = self.attn_drop.p if self.training else 0.0
        if (recompute and torch.is_grad_enabled() and dropout == 0.0
                and q.device.type == 'cpu' and not torch.compiler.is_compiling()):
            return recomputed_attention(q, k, v, attn_mask, self.scale)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout,
                                              scale=self.scale)

    def _explicit(self, x: torch.Tensor, window_size: Tuple[int, int, int], num_windows: int,
                  mask: Optional[torch.Tensor]) -> torch.Tensor:
        """The original's attention, the same operations in the same order, so its numbers
        are reproduced bit for bit."""
        BW, N, C = x.shape
        # 3, B, nW, nH, N, hd
        qkv = self.qkv(x).view(BW // num_windows, num_windows, N, 3, self.num_heads,
                               C // self.num_heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias(window_size).to(q.dtype)  # nH, N, N
        attn = (q * self.scale) @ k.transpose(-2, -1) + bias
        if mask is not None:
            attn = attn + mask.to(q.dtype).unsqueeze(1)  # nW, 1, N, N
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).permute(0, 1, 3, 2, 4).reshape(BW, N, C)  # B * nW, N, nH * hd
        return self.proj_drop(self.proj(x))
