"""Pure tensor helpers for 3D (shifted) window attention.

Shapes follow the Video Swin paper: a feature map is ``x (Tensor[B, D, H, W, C])``
(channels last), a window holds ``N = Wd * Wh * Ww`` tokens.
"""
from typing import Sequence, Tuple

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


def compute_shift_mask(D: int, H: int, W: int, window_size: Size3, shift_size: Size3,
                       device: torch.device) -> torch.Tensor:
    """Additive mask ``Tensor[nW, N, N]`` for shifted windows on a padded ``D x H x W`` map.

    Token pairs that come from different regions of the rolled map get -100 (as the
    original does, rather than -inf, so results match it), pairs within a region 0.
    """
    region = torch.zeros((1, D, H, W, 1), device=device)
    cnt = 0
    slices = [(slice(-w), slice(-w, -s), slice(-s, None)) for w, s in zip(window_size, shift_size)]
    for d in slices[0]:
        for h in slices[1]:
            for w in slices[2]:
                region[:, d, h, w, :] = cnt
                cnt += 1
    region = window_partition(region, window_size).squeeze(-1)  # nW, N
    diff = region.unsqueeze(1) - region.unsqueeze(2)  # nW, N, N
    return torch.zeros_like(diff).masked_fill_(diff != 0, -100.0)


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
