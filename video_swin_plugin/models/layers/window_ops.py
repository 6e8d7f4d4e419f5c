"""Pure tensor helpers for 3D (shifted) window attention.

Shapes follow the Video Swin paper: a feature map is ``x (Tensor[B, D, H, W, C])``
(channels last), a window holds ``N = Wd * Wh * Ww`` tokens.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch

Size3 = Tuple[int, int, int]


def window_partition(x: torch.Tensor, window_size: Sequence[int]) -> torch.Tensor:
    """Split ``x (Tensor[B, D, H, W, C])`` into windows ``Tensor[B * nW, N, C]``.

    D, H and W must be multiples of the window size (callers pad first).
    """
    B, D, H, W, C = x.shape
    wd, wh, ww = window_size
    x = x.view(B, D // wd, wd, H // wh, wh, W // ww, ww, C)
    # B, nD, nH, nW, wd, wh, ww, C
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wd * wh * ww, C)


def window_reverse(windows: torch.Tensor, window_size: Sequence[int], B: int, D: int, H: int,
                   W: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``Tensor[B * nW, N, C] -> Tensor[B, D, H, W, C]``."""
    wd, wh, ww = window_size
    x = windows.view(B, D // wd, H // wh, W // ww, wd, wh, ww, -1)
    # B, nD, wd, nH, wh, nW, ww, C
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(B, D, H, W, -1)


def get_window_size(x_size: Sequence[int], window_size: Sequence[int],
                    shift_size: Sequence[int]) -> Tuple[Size3, Size3]:
    """Shrink the window to the input where the input is not larger, and drop the shift there.

    This is the original Video Swin rule: a dimension no larger than its window is one window.
    """
    use_window, use_shift = list(window_size), list(shift_size)
    for i, size in enumerate(x_size):
        if size <= window_size[i]:
            use_window[i] = size
            use_shift[i] = 0
    return tuple(use_window), tuple(use_shift)


def relative_position_index(window_size: Sequence[int],
                            table_window: Sequence[int] = None) -> torch.Tensor:
    """Index ``Tensor[N, N]`` into a relative-position bias table.

    Args:
        window_size: the window the tokens live in (may be smaller than the table's).
        table_window: the window the bias table was built for. Defaults to ``window_size``.
            Offsets and strides come from it, so a shrunk window still reads the
            right entries of the full table.
    """
    table_window = tuple(window_size) if table_window is None else tuple(table_window)
    coords = torch.stack(torch.meshgrid(*[torch.arange(w) for w in window_size], indexing='ij'))
    coords = coords.flatten(1)  # 3, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 3
    rel = rel + torch.tensor([t - 1 for t in table_window])  # make offsets non-negative
    _, th, tw = table_window
    strides = torch.tensor([(2 * th - 1) * (2 * tw - 1), 2 * tw - 1, 1])
    return (rel * strides).sum(-1)


class WindowPlan(NamedTuple):
    """How one stage's tokens go into windows, for one input size and one kind of block
    (plain or shifted).

    Built once per stage and size by :func:`window_plan` and reused by every block of that
    kind. The fused attention path reads ``gather``/``inverse``/``groups``/``masks``, the
    explicit path ``window_size``/``shift_size``/``explicit_mask``; both read ``pad``.
    Rows of ``gather``/``inverse`` are tokens of the flattened padded map
    ``Tensor[B * Dp * Hp * Wp, C]``.

    Attributes:
        window_size, shift_size: The effective window and shift (see :func:`get_window_size`).
        pad: (pd, ph, pw) zeros appended at the far end of D, H, W.
        gather: ``LongTensor[nW * B * N]`` rows of the padded map in window order, the cyclic
            shift folded in. Windows are window-major (``nW, B``) and sorted by the kind of
            shift mask they need, so all windows of one kind, for every sample, are one slice.
        inverse: ``LongTensor[nW * B * N]`` the inverse permutation: for each row of the
            padded map, its row in the windows (undoes the partition and the shift).
        groups: ``((start, end, kind), ...)`` slices of the ``nW * B`` windows; ``kind`` indexes
            ``masks``, or is -1 for windows that need no shift mask.
        masks: ``Tensor[nK, N, N]`` the additive shift mask of each kind (0 / -100), or None.
        explicit_mask: ``Tensor[nW, N, N]`` the original's per-window mask in its own window
            order, for the explicit path; None when not asked for or not shifted.
    """
    window_size: Size3
    shift_size: Size3
    pad: Size3
    gather: torch.Tensor
    inverse: torch.Tensor
    groups: Tuple[Tuple[int, int, int], ...]
    masks: Optional[torch.Tensor]
    explicit_mask: Optional[torch.Tensor]


def window_plan(B: int, size: Sequence[int], window_size: Sequence[int],
                shift_size: Sequence[int], device: torch.device,
                explicit_mask: bool = False) -> WindowPlan:
    """Build the :class:`WindowPlan` for a ``B x D x H x W`` map (before padding).

    Fusing pad, roll and partition into one gather is our take on the index-based
    partitions in torchvision's and timm's discussions; splitting windows by mask kind
    follows the observation (Swin, Liu et al. 2021, Fig. 4) that only the windows on the far
    edge of a shifted axis mix regions: every other window's shift mask is all zeros.
    """
    window_size, shift_size = get_window_size(size, window_size, shift_size)
    pad = tuple((w - s % w) % w for s, w in zip(size, window_size))
    Dp, Hp, Wp = (s + p for s, p in zip(size, pad))
    L = Dp * Hp * Wp
    counts = [s // w for s, w in zip((Dp, Hp, Wp), window_size)]  # windows per axis
    N = window_size[0] * window_size[1] * window_size[2]
    # token positions of the padded map, rolled as the original rolls x, cut into windows
    pos = torch.arange(L, device=device).view(1, Dp, Hp, Wp, 1)
    if any(shift_size):
        pos = torch.roll(pos, shifts=[-s for s in shift_size], dims=(1, 2, 3))
    pos = window_partition(pos, window_size).view(-1, N)  # nW, N (original window order)
    # kind of mask per window: bit a set when the window is the last along shifted axis a
    grid = torch.stack(torch.meshgrid(*[torch.arange(n) for n in counts], indexing='ij'))
    kind = torch.zeros(counts, dtype=torch.long)
    for a in range(3):
        if shift_size[a]:
            kind += (grid[a] == counts[a] - 1).long() << (2 - a)
    kind = kind.flatten()  # nW
    order = torch.sort(kind, stable=True).indices
    kinds, sizes = torch.unique_consecutive(kind[order], return_counts=True)
    pos = pos[order.to(device)]  # nW, N sorted by kind
    # window-major over the batch: row (w, b, n) reads sample b's token pos[w, n]
    gather = (pos[:, None, :] + torch.arange(B, device=device)[None, :, None] * L).flatten()
    inverse = torch.empty_like(gather)
    inverse[gather] = torch.arange(gather.numel(), device=device)
    masks, groups, start, explicit = None, [], 0, None
    if any(shift_size):
        region = _shift_regions(Dp, Hp, Wp, window_size, shift_size, device)  # nW, N
        masked_kinds = [k for k in kinds.tolist() if k != 0]
        if masked_kinds:
            first = [int((kind == k).nonzero()[0]) for k in masked_kinds]
            masks = shift_mask(region[first])  # nK, N, N
        if explicit_mask:
            explicit = shift_mask(region)  # nW, N, N
        for k, n in zip(kinds.tolist(), sizes.tolist()):
            groups.append((start * B, (start + n) * B, masked_kinds.index(k) if k else -1))
            start += n
    else:
        groups.append((0, len(kind) * B, -1))
    return WindowPlan(window_size, shift_size, pad, gather, inverse, tuple(groups), masks,
                      explicit)


def shift_mask(region: torch.Tensor) -> torch.Tensor:
    """Additive shift mask ``Tensor[nW, N, N]`` from region labels ``Tensor[nW, N]``.

    Token pairs from different regions of the rolled map get -100 (as the original does,
    rather than -inf, so results match it), pairs within a region 0.
    """
    diff = region.unsqueeze(1) - region.unsqueeze(2)  # nW, N, N
    return torch.zeros_like(diff).masked_fill_(diff != 0, -100.0)


def _shift_regions(D: int, H: int, W: int, window_size: Size3, shift_size: Size3,
                   device: torch.device) -> torch.Tensor:
    """Region label of each token of each window of the rolled padded ``D x H x W`` map,
    ``Tensor[nW, N]`` in the original's window order."""
    region = torch.zeros((1, D, H, W, 1), device=device)
    cnt = 0
    slices = [(slice(-w), slice(-w, -s), slice(-s, None)) for w, s in zip(window_size, shift_size)]
    for d in slices[0]:
        for h in slices[1]:
            for w in slices[2]:
                region[:, d, h, w, :] = cnt
                cnt += 1
    return window_partition(region, window_size).squeeze(-1)


class _PermuteRows(torch.autograd.Function):
    """``x.index_select(0, index)`` for a permutation ``index``, whose backward is the
    inverse permutation's ``index_select`` (the generic backward zero-fills and scatter-adds)."""

    @staticmethod
    def forward(ctx, x, index, inverse):
        ctx.save_for_backward(inverse)
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx, grad):
        inverse, = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


def permute_rows(x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Rows of ``x (Tensor[R, C])`` in the order of the permutation ``index (LongTensor[R])``;
    ``inverse`` is its inverse (``inverse[index] == arange(R)``)."""
    return _PermuteRows.apply(x, index, inverse)
