"""Window multi-head self-attention with a 3D relative-position bias (W-MSA / SW-MSA)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .window_ops import relative_position_index

# Elements of one chunk's (windows, nH, N, N) scores in the recomputing backward: ~32 MB fp32.
RECOMPUTE_CHUNK_ELEMENTS = 1 << 23

Groups = Sequence[Tuple[int, int, int]]


def grouped_window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                             bias: torch.Tensor, masks: Optional[torch.Tensor], groups: Groups,
                             scale: float, dropout_p: float = 0.0) -> torch.Tensor:
    """``softmax(q k^T * scale + bias + mask) v`` for windows grouped by their shift mask.

    Args:
        q, k, v (Tensor[BW, nH, N, hd]): Queries, keys and values of ``BW`` windows.
        bias (Tensor[nH, N, N]): Relative-position bias, shared by all windows.
        masks (Tensor[nK, N, N], optional): Additive shift mask of each kind of window.
        groups: ``((start, end, kind), ...)``: windows ``start:end`` take ``masks[kind]``,
            or only the bias for kind -1.
        scale (float): Multiplies ``q k^T``.
        dropout_p (float): Dropout on the attention weights. Defaults to 0.

    Returns:
        Tensor[BW, N, nH * hd]
    """
    BW, nH, N, hd = q.shape
    outs = []
    for start, end, kind in groups:
        # one (1, nH, N, N) mask per group, broadcast over its windows: 4-D q/k/v and a 4-D
        # mask are what CPU SDPA runs with its flash kernel (5-D ones or a 3-D mask send it
        # to the math kernel, which materialises every window's scores)
        attn_mask = (bias if kind < 0 else bias + masks[kind]).unsqueeze(0)
        outs.append(F.scaled_dot_product_attention(q[start:end], k[start:end], v[start:end],
                                                   attn_mask=attn_mask, dropout_p=dropout_p,
                                                   scale=scale))
    # SDPA returns n, nH, N, hd laid out as n, N, nH, hd, so the transposes are free views;
    # the cat is of 2-D views because torch 2.13's cat of these 4-D ones is a slow strided copy
    outs = [o.transpose(1, 2).reshape(o.shape[0], N * nH * hd) for o in outs]
    return (outs[0] if len(outs) == 1 else torch.cat(outs)).view(BW, N, nH * hd)


class _RecomputedWindowAttention(torch.autograd.Function):
    """Grouped window attention that keeps no attention matrix for backward.

    Forward is :func:`grouped_window_attention` without grad (the CPU flash kernel).
    Backward recomputes the scores a chunk of windows at a time and applies the
    softmax-attention gradient by hand, the scheme of FlashAttention (Dao et al., 2022) at
    the granularity of windows, so memory holds one chunk's scores instead of all windows'.
    It exists because CPU SDPA runs its math kernel, which keeps every (BW, nH, N, N)
    matrix, whenever the mask needs a gradient, as the learned bias does. Takes the qkv
    projection whole and returns its gradient whole, so no per-group slice of q, k, v
    costs a zero-filled full-size gradient.
    """

    @staticmethod
    def forward(ctx, qkv, bias, masks, groups, num_heads, scale):
        BW, N, C3 = qkv.shape
        ctx.save_for_backward(qkv, bias, masks)
        ctx.groups, ctx.num_heads, ctx.scale = groups, num_heads, scale
        # detached: SDPA picks its math kernel for tensors flagged requires_grad, even here
        # where grad mode is off
        q, k, v = qkv.detach().view(BW, N, 3, num_heads, C3 // (3 * num_heads)).permute(
            2, 0, 3, 1, 4).unbind(0)
        return grouped_window_attention(q, k, v, bias.detach(), masks, groups, scale)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        qkv, bias, masks = ctx.saved_tensors
        nH, scale = ctx.num_heads, ctx.scale
        BW, N, C3 = qkv.shape
        hd = C3 // (3 * nH)
        q, k, v = qkv.view(BW, N, 3, nH, hd).permute(2, 0, 3, 1, 4).unbind(0)  # BW, nH, N, hd
        go = grad_out.to(qkv.dtype).view(BW, N, nH, hd).transpose(1, 2)  # BW, nH, N, hd
        d_qkv = torch.empty(BW, N, 3, nH, hd, dtype=qkv.dtype, device=qkv.device)
        dq, dk, dv = d_qkv.permute(2, 0, 3, 1, 4).unbind(0)  # views into d_qkv
        need_bias = ctx.needs_input_grad[1]
        acc = torch.promote_types(qkv.dtype, torch.float32)  # sum half-precision grads in fp32
        d_bias = torch.zeros(bias.shape, dtype=acc, device=bias.device) if need_bias else None
        chunk = max(1, RECOMPUTE_CHUNK_ELEMENTS // (nH * N * N))
        for start, end, kind in ctx.groups:
            mask = bias if kind < 0 else bias + masks[kind]  # nH, N, N
            for s in range(start, end, chunk):
                e = min(end, s + chunk)
                qc, kc, vc, gc = q[s:e], k[s:e], v[s:e], go[s:e]
                p = torch.matmul(qc, kc.transpose(-2, -1)).mul_(scale).add_(mask)
                p = p.softmax(dim=-1)  # c, nH, N, N
                dv[s:e] = p.transpose(-2, -1) @ gc
                ds = gc @ vc.transpose(-2, -1)  # dP
                ds -= (ds * p).sum(-1, keepdim=True)
                ds *= p  # dS = P * (dP - rowsum(P * dP))
                del p
                if need_bias:
                    d_bias += ds.sum(0, dtype=acc)
                dq[s:e] = (ds @ kc).mul_(scale)
                dk[s:e] = (ds.transpose(-2, -1) @ qc).mul_(scale)
        return (d_qkv.view(BW, N, C3), d_bias.to(bias.dtype) if need_bias else None, None,
                None, None, None)


def recomputed_window_attention(qkv: torch.Tensor, bias: torch.Tensor,
                                masks: Optional[torch.Tensor], groups: Groups, num_heads: int,
                                scale: float) -> torch.Tensor:
    """:func:`grouped_window_attention` from the qkv projection, whose backward recomputes
    the attention scores a chunk of windows at a time instead of keeping them.

    Args:
        qkv (Tensor[BW, N, 3 * C]): Output of the qkv projection.
        bias (Tensor[nH, N, N]): Relative-position bias; gets a gradient.
        masks, groups, scale: As for :func:`grouped_window_attention`.
        num_heads (int): nH.

    Returns:
        Tensor[BW, N, C]
    """
    return _RecomputedWindowAttention.apply(qkv, bias, masks, tuple(groups), num_heads, scale)


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
        # index_select, not [] indexing: same values, and its backward is an index_add
        # rather than the sorting index_put that indexing's backward runs
        bias = self.relative_position_bias_table.index_select(0, index.reshape(-1))
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
                recompute: bool = True) -> torch.Tensor:
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
            recompute (bool): When gradients are on, on CPU, keep no attention matrices for
                backward and recompute them there in chunks (see
                :func:`recomputed_window_attention`): less memory, and faster than SDPA's math
                kernel, which CPU SDPA falls back to when the mask needs a gradient. Not with
                attention dropout. Fused path only. Defaults to True.

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
        dropout = self.attn_drop.p if self.training else 0.0
        qkv = self.qkv(x)  # BW, N, 3C
        bias = self._bias(window_size, qkv.dtype)  # nH, N, N
        if mask is not None:
            mask = mask.to(qkv.dtype)
        if groups is None:
            if mask is None:
                groups = ((0, BW, -1), )
            else:  # per-window masks, sample-major: a group per window kind is ours to make
                return self._per_window(qkv, bias, mask, num_windows, dropout)
        if (recompute and torch.is_grad_enabled() and dropout == 0.0 and x.device.type == 'cpu'
                and not torch.compiler.is_compiling()):
            x = recomputed_window_attention(qkv, bias, mask, groups, nH, self.scale)
        else:
            q, k, v = qkv.view(BW, N, 3, nH, hd).permute(2, 0, 3, 1, 4).unbind(0)
            x = grouped_window_attention(q, k, v, bias, mask, groups, self.scale, dropout)
        return self.proj_drop(self.proj(x))

    def _per_window(self, qkv: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor,
                    num_windows: int, dropout: float) -> torch.Tensor:
        """Fused attention with one mask per window (``Tensor[nW, N, N]``, sample-major)."""
        BW, N, _ = qkv.shape
        q, k, v = qkv.view(BW, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        attn_mask = bias.unsqueeze(0) + mask.unsqueeze(1)  # nW, nH, N, N
        outs = [
            F.scaled_dot_product_attention(q[i:i + num_windows], k[i:i + num_windows],
                                           v[i:i + num_windows], attn_mask=attn_mask,
                                           dropout_p=dropout, scale=self.scale)
            for i in range(0, BW, num_windows)
        ]
        x = torch.cat(outs).transpose(1, 2).reshape(BW, N, -1)
        return self.proj_drop(self.proj(x))

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
