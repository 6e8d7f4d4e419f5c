"""WindowAttention3D's fast paths give the explicit path's numbers: grouped fused attention
(outputs and training gradients), the eval bias cache (never stale), the recomputing attention
backward and the window plans it runs on."""
import pytest
import torch

import video_swin_plugin.models.layers.attention as attention
from video_swin_plugin.models import SwinTransformer3D
from video_swin_plugin.models.layers.attention import recomputed_window_attention

from .helpers import TINY_SWIN

# window multiples, padding on every axis, a window shrunk in time, and one shrunk in H and W
SHAPES = [(2, 3, 8, 48, 48), (1, 3, 10, 44, 52), (2, 3, 4, 24, 24), (1, 3, 8, 20, 28)]


def _fused_and_explicit(**kw):
    fused = SwinTransformer3D(**TINY_SWIN, **kw).eval()
    explicit = SwinTransformer3D(**TINY_SWIN, fused_attention=False, **kw).eval()
    explicit.load_state_dict(fused.state_dict())
    return fused, explicit


@pytest.mark.parametrize('official_shrunk_bias', [False, True])
@pytest.mark.parametrize('shape', SHAPES)
def test_fused_matches_explicit(shape, official_shrunk_bias):
    fused, explicit = _fused_and_explicit(official_shrunk_bias=official_shrunk_bias,
                                          out_indices=(0, 1, 2, 3))
    x = torch.randn(shape)
    with torch.no_grad():
        for a, b in zip(fused(x), explicit(x)):
            assert a.shape == b.shape
            assert (a - b).abs().max().item() <= 1e-5


def test_bias_is_cached_in_inference_only_and_never_stale():
    model = SwinTransformer3D(**TINY_SWIN).eval()
    attn = model.layers[0].blocks[0].attn
    x = torch.randn(1, 3, 8, 24, 24)
    with torch.no_grad():
        out = model(x)
        cached = attn._bias_cache[1]
        model(x)
        assert attn._bias_cache[1] is cached  # reused, not rebuilt
        assert torch.equal(cached, attn.relative_position_bias(attn.window_size))

    # an optimizer step updates the table in place: the next inference sees it
    model.train()
    assert attn._bias_cache is None
    opt = torch.optim.SGD(model.parameters(), lr=10.0)
    model(x).square().mean().backward()
    assert attn._bias_cache is None  # nothing cached while training
    opt.step()
    model.eval()
    with torch.no_grad():
        after_step = model(x)
    fresh = SwinTransformer3D(**TINY_SWIN).eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(after_step, fresh(x))
        assert not torch.allclose(after_step, out)

    # an in-place edit under no_grad (what optimizers and load_state_dict do) invalidates it
    with torch.no_grad():
        model(x)
        attn.relative_position_bias_table.add_(1.0)
        assert torch.equal(attn._bias(attn.window_size, torch.float32),
                           attn.relative_position_bias(attn.window_size))

    # load_state_dict drops every bias cache; the outputs are the loaded model's
    with torch.no_grad():
        model(x)
        model.load_state_dict(fresh.state_dict())
        assert all(m._bias_cache is None for m in model.modules() if hasattr(m, '_bias_cache'))
        assert torch.equal(model(x), fresh(x))

    # .to(dtype) drops it too, and the cache follows the dtype
    with torch.no_grad():
        model.double()
        assert attn._bias_cache is None
        model(x.double())
        assert attn._bias_cache[1].dtype == torch.float64


def test_no_cache_when_gradients_can_reach_the_table():
    model = SwinTransformer3D(**TINY_SWIN).eval()  # eval, but gradients on
    x = torch.randn(1, 3, 8, 24, 24)
    model(x).square().mean().backward()  # (a plain sum is constant through the final norm)
    model(x).square().mean().backward()  # a cached bias holding a freed graph would fail here
    assert all(m._bias_cache is None for m in model.modules() if hasattr(m, '_bias_cache'))
    assert model.layers[0].blocks[0].attn.relative_position_bias_table.grad.abs().sum() > 0


def test_window_plans_follow_the_input_size():
    fused, explicit = _fused_and_explicit()
    with torch.no_grad():
        for shape in [(1, 3, 8, 24, 24), (2, 3, 6, 36, 20), (1, 3, 8, 24, 24)]:
            x = torch.randn(shape)
            assert (fused(x) - explicit(x)).abs().max().item() <= 1e-5


@pytest.mark.parametrize('groups', [((0, 7, -1), ), ((0, 2, -1), (2, 5, 1), (5, 7, 0))])
def test_recomputed_window_attention_gradients_match_autograd(monkeypatch, groups):
    monkeypatch.setattr(attention, 'RECOMPUTE_CHUNK_ELEMENTS', 2 * 2 * 20 * 20)  # 2 windows
    BW, nH, N, hd = 7, 2, 20, 8
    qkv = torch.randn(BW, N, 3 * nH * hd, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(nH, N, N, dtype=torch.float64, requires_grad=True)
    masks = (torch.rand(2, N, N, dtype=torch.float64) < 0.3) * -100.0
    grad = torch.randn(BW, N, nH * hd, dtype=torch.float64)

    def explicit(qkv, bias):
        q, k, v = qkv.view(BW, N, 3, nH, hd).permute(2, 0, 3, 1, 4).unbind(0)
        mask = torch.zeros(BW, 1, N, N, dtype=torch.float64)
        for start, end, kind in groups:
            if kind >= 0:
                mask[start:end] = masks[kind]
        attn = ((q * 0.3) @ k.transpose(-2, -1) + bias + mask).softmax(-1)
        return (attn @ v).transpose(1, 2).reshape(BW, N, nH * hd)

    ref = explicit(qkv, bias)
    ref_grads = torch.autograd.grad(ref, (qkv, bias), grad)
    out = recomputed_window_attention(qkv, bias, masks, groups, nH, 0.3)
    assert torch.allclose(out, ref, atol=1e-12)
    for a, b in zip(torch.autograd.grad(out, (qkv, bias), grad), ref_grads):
        assert torch.allclose(a, b, atol=1e-10)


def test_training_keeps_no_attention_matrices():
    """In training on CPU a block's backward recomputes its attention scores a chunk at a
    time (recompute=True, the default): same outputs as SDPA's autograd, far fewer bytes
    saved for backward."""
    plain = SwinTransformer3D(**TINY_SWIN)
    ckpt = SwinTransformer3D(**TINY_SWIN, use_checkpoint=True)
    ckpt.load_state_dict(plain.state_dict())
    block = ckpt.layers[0].blocks[1]  # a shifted block
    x = torch.randn(2, 8, 10, 10, 16)
    plan = ckpt.layers[0].window_plans(x)[1]

    def saved_bytes(recompute):
        total = []

        def pack(t):
            total.append(t.numel() * t.element_size())
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = block(x, plan, recompute)
        return sum(total), out

    kept, out_plain = saved_bytes(False)
    lean, out_lean = saved_bytes(True)
    assert torch.allclose(out_plain, out_lean, atol=1e-6)
    nW, nH, N = 2 * 4 * 4, 1, 4 * 3 * 3
    assert kept - lean >= 2 * nW * nH * N * N * 4  # at least the probabilities and scores


def test_fused_and_explicit_attention_agree_in_training_grads():
    fused = SwinTransformer3D(**TINY_SWIN)
    plain = SwinTransformer3D(**TINY_SWIN, fused_attention=False)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 8, 40, 40)
    fused(x).square().mean().backward()
    plain(x).square().mean().backward()
    for (name, a), b in zip(fused.named_parameters(), plain.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5, rtol=1e-4), name
