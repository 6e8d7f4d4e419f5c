"""Window helpers of the backbone: the one-gather window plan (its windows and shift masks are
the original's roll + partition) and the relative-position index of a shrunk window."""
import pytest
import torch
import torch.nn.functional as F

from video_swin_plugin.models.layers.window_ops import (get_window_size, relative_position_index,
                                                        window_partition, window_plan)


@pytest.mark.parametrize('B, size, window, shift', [
    (2, (8, 12, 12), (4, 3, 3), (2, 1, 1)),
    (1, (5, 7, 8), (4, 3, 3), (2, 1, 1)),  # padding on every axis
    (3, (4, 6, 6), (2, 3, 3), (1, 1, 1)),
    (2, (3, 6, 6), (4, 3, 3), (2, 1, 1)),  # time shrinks to the input: no temporal shift
    (2, (8, 6, 9), (4, 3, 3), (0, 0, 0)),
])
def test_window_plan_gathers_the_rolled_windows_and_their_masks(B, size, window, shift):
    C = 5
    x = torch.randn(B, *size, C)
    plan = window_plan(B, size, window, shift, torch.device('cpu'))
    ws, ss = get_window_size(size, window, shift)
    assert (plan.window_size, plan.shift_size) == (ws, ss)
    N = ws[0] * ws[1] * ws[2]
    xp = F.pad(x, (0, 0, 0, plan.pad[2], 0, plan.pad[1], 0, plan.pad[0]))
    windows = xp.reshape(-1, C)[plan.gather].view(-1, B, N, C)  # nW, B, N, C
    # the same windows as the original's roll + partition, in some order of windows
    ref = window_partition(torch.roll(xp, [-s for s in ss], (1, 2, 3)), ws).view(B, -1, N, C)
    for b in range(B):
        assert sorted(windows[:, b].flatten(1).tolist()) == sorted(ref[b].flatten(1).tolist())
    # inverse undoes gather and shift
    assert torch.equal(windows.reshape(-1, C)[plan.inverse].view_as(xp), xp)
    assert torch.equal(plan.gather[plan.inverse], torch.arange(plan.gather.numel()))
    # each window's mask (its kind's, or none) separates exactly the regions of the rolled map
    Dp, Hp, Wp = xp.shape[1:4]
    region = torch.zeros(Dp, Hp, Wp, dtype=torch.long)
    if any(ss):
        for axis, (w, s, n) in enumerate(zip(ws, ss, (Dp, Hp, Wp))):
            if s:  # region index along the axis in rolled coordinates: [0, n-w) [n-w, n-s) [n-s, n)
                r = torch.zeros(n, dtype=torch.long)
                r[n - w:n - s], r[n - s:] = 1, 2
                region = region * 3 + r.view([-1 if a == axis else 1 for a in range(3)])
            else:
                region = region * 3
    pos = plan.gather.view(-1, B, N)[:, 0]  # nW, N positions in the padded map (sample 0)
    d, h, w = pos // (Hp * Wp), pos // Wp % Hp, pos % Wp
    labels = region[(d - ss[0]) % Dp, (h - ss[1]) % Hp, (w - ss[2]) % Wp]  # rolled coordinates
    expected = (labels[:, :, None] != labels[:, None, :]).float() * -100.0
    covered = 0
    for start, end, kind in plan.groups:
        assert start % B == 0 and end % B == 0
        for wi in range(start // B, end // B):
            got = torch.zeros(N, N) if kind < 0 else plan.masks[kind]
            assert torch.equal(got, expected[wi])
        covered += end - start
    assert covered == plan.gather.numel() // N
    if any(ss):
        assert plan.groups[0][2] == -1 and len(plan.groups) > 1  # unmasked windows come first


def test_shrunk_index_reads_the_right_table_entries():
    table_window = (8, 7, 7)
    for window in [(8, 7, 7), (4, 7, 7), (2, 3, 5), (1, 1, 1)]:
        index = relative_position_index(window, table_window)
        coords = torch.stack(torch.meshgrid(*[torch.arange(w) for w in window],
                                            indexing='ij')).flatten(1).T
        for i in range(0, len(coords), 7):
            for j in range(0, len(coords), 5):
                dt, dh, dw = (coords[i] - coords[j]).tolist()
                expected = (dt + 7) * 13 * 13 + (dh + 6) * 13 + (dw + 6)
                assert index[i, j].item() == expected, (window, i, j)
    # where only time shrinks, the original's slice [:N, :N] is right and equals ours
    full = relative_position_index(table_window)
    n = 4 * 49
    assert torch.equal(full[:n, :n], relative_position_index((4, 7, 7), table_window))
