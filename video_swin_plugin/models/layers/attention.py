"""Window multi-head self-attention with a 3D relative-position bias (W-MSA / SW-MSA)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .window_ops import (WindowPlan, permute_rows, relative_position_index, window_partition,
                         window_reverse)

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
    """Self-attention inside the (shifted) 3D windows of a feature map, with a learned
    relative-position bias.

    Takes the whole map and its stage's :class:`~.window_ops.WindowPlan`, and does the
    windowing itself (pad, cyclic shift, partition, and back), as torchvision's
    ``shifted_window_attention_3d`` does, so the fused and explicit paths can window the
    tokens each its own way. Parameter names are those of the original Video Swin, so its
    checkpoints load as they are.

    Args:
        dim (int): Channels of the tokens.
        window_size (Sequence[int]): The full window (Wd, Wh, Ww) the bias table is built for.
        num_heads (int): Attention heads.
        qkv_bias (bool): Learn a bias in the qkv projection. Defaults to True.
        qk_scale (float, optional): Overrides ``head_dim ** -0.5``. Defaults to None.
        attn_drop (float): Dropout on attention weights. Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to 0.
        fused (bool): Windows gathered in one permutation and sorted by shift mask, then
            ``F.scaled_dot_product_attention`` with bias and shift mask folded into one
            additive mask; False keeps the original's explicit roll, partition and softmax,
            bit for bit. Defaults to True.
        official_shrunk_bias (bool): When the window shrinks to a small input, slice the
            full window's index ``[:N, :N]`` as the original does. That is wrong whenever the
            height or width shrinks; keep False unless you need the original's numbers bit
            for bit. Defaults to False.
    """

    def __init__(self,
                 dim: int,
                 window_size: Sequence[int],
                 num_heads: int,
                 *,
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

    def forward(self, x: torch.Tensor, plan: WindowPlan, recompute: bool = True) -> torch.Tensor:
        """Attend within the windows of ``plan``.

        Args:
            x (Tensor[B, D, H, W, C]): The (normed) feature map, channels last.
            plan (WindowPlan): Its stage's plan for this size and this block's shift; built
                with ``explicit_mask=True`` for the explicit path when shifted.
            recompute (bool): When gradients are on, on CPU, keep no attention matrices for
                backward and recompute them there in chunks (see
                :func:`recomputed_window_attention`): less memory, and faster than SDPA's math
                kernel, which CPU SDPA falls back to when the mask needs a gradient. Not with
                attention dropout. Fused path only. Defaults to True.

        Returns:
            Tensor[B, D, H, W, C]
        """
        B, D, H, W, C = x.shape
        pd, ph, pw = plan.pad
        if pd or ph or pw:  # whole windows: zeros at the far end of each axis, as the original
            x = F.pad(x, (0, 0, 0, pw, 0, ph, 0, pd))
        x = self._fused(x, plan, recompute) if self.fused else self._explicit(x, plan)
        return x[:, :D, :H, :W].contiguous() if pd or ph or pw else x

    def _fused(self, x: torch.Tensor, plan: WindowPlan, recompute: bool) -> torch.Tensor:
        """Padded map ``Tensor[B, Dp, Hp, Wp, C]`` -> the same, windows taken and put back by
        one gather each (shift folded in), attention grouped by shift mask."""
        B, Dp, Hp, Wp, C = x.shape
        nH = self.num_heads
        N = plan.window_size[0] * plan.window_size[1] * plan.window_size[2]
        windows = permute_rows(x.reshape(-1, C), plan.gather, plan.inverse)  # nW * B * N, C
        qkv = self.qkv(windows.view(-1, N, C))  # nW * B, N, 3C
        bias = self._bias(plan.window_size, qkv.dtype)  # nH, N, N
        masks = plan.masks.to(qkv.dtype) if plan.masks is not None else None  # nK, N, N
        dropout = self.attn_drop.p if self.training else 0.0
        if (recompute and torch.is_grad_enabled() and dropout == 0.0 and x.device.type == 'cpu'
                and not torch.compiler.is_compiling()):
            out = recomputed_window_attention(qkv, bias, masks, plan.groups, nH, self.scale)
        else:
            q, k, v = qkv.view(-1, N, 3, nH, C // nH).permute(2, 0, 3, 1, 4).unbind(0)
            out = grouped_window_attention(q, k, v, bias, masks, plan.groups, self.scale,
                                           dropout)
        out = self.proj_drop(self.proj(out))  # nW * B, N, C
        return permute_rows(out.view(-1, C), plan.inverse, plan.gather).view(B, Dp, Hp, Wp, C)

    def _explicit(self, x: torch.Tensor, plan: WindowPlan) -> torch.Tensor:
        """The original's roll, partition, attention and reverse, the same operations in the
        same order, so its numbers are reproduced bit for bit. Padded map in and out."""
        B, Dp, Hp, Wp, C = x.shape
        window_size, shift_size = plan.window_size, plan.shift_size
        shifted = any(s > 0 for s in shift_size)
        if shifted and plan.explicit_mask is None:
            raise ValueError('the explicit path needs a shifted plan built with '
                             'window_plan(..., explicit_mask=True)')
        if shifted:
            x = torch.roll(x, shifts=[-s for s in shift_size], dims=(1, 2, 3))
        windows = window_partition(x, window_size)  # B * nW, N, C
        BW, N, _ = windows.shape
        nW = BW // B
        # 3, B, nW, nH, N, hd
        qkv = self.qkv(windows).view(B, nW, N, 3, self.num_heads,
                                     C // self.num_heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias(window_size).to(q.dtype)  # nH, N, N
        attn = (q * self.scale) @ k.transpose(-2, -1) + bias
        if shifted:
            attn = attn + plan.explicit_mask.to(q.dtype).unsqueeze(1)  # nW, 1, N, N
        attn = self.attn_drop(attn.softmax(dim=-1))
        windows = (attn @ v).permute(0, 1, 3, 2, 4).reshape(BW, N, C)  # B * nW, N, nH * hd
        windows = self.proj_drop(self.proj(windows))
        x = window_reverse(windows, window_size, B, Dp, Hp, Wp)  # B, Dp, Hp, Wp, C
        if shifted:
            x = torch.roll(x, shifts=list(shift_size), dims=(1, 2, 3))
        return x
