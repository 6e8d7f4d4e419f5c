"""SwinTransformer3D: parity with mmaction2's (= the original's numbers), the shrunk-window
bias, precision, checkpointing, frozen stages, input checks, forward_intermediates and
torch.compile."""
import pytest
import torch
from mmaction.models.backbones.swin import SwinTransformer3D as MMSwin

from video_swin_plugin.models import SwinTransformer3D
from video_swin_plugin.models.convert import from_mmaction2

from .helpers import TINY_SWIN


def _mm_kwargs(kw):
    """Our official-named kwargs -> mmaction2's names."""
    return dict(arch=dict(embed_dims=kw['embed_dim'], depths=kw['depths'],
                          num_heads=kw['num_heads']),
                pretrained=None, patch_size=kw['patch_size'], window_size=kw['window_size'],
                drop_path_rate=kw['drop_path_rate'], patch_norm=kw['patch_norm'])


def _pair(official_shrunk_bias=False, fused=True, **kw):
    """mmaction2's Swin and ours, holding the same weights, both in eval mode."""
    kw = {**TINY_SWIN, **kw}
    mm = MMSwin(**_mm_kwargs(kw))
    mm.eval()  # mmaction2's train() returns None
    ours = SwinTransformer3D(**kw, official_shrunk_bias=official_shrunk_bias,
                             fused_attention=fused).eval()
    ours.load_state_dict(from_mmaction2(mm.state_dict()), strict=True)
    return mm, ours


def test_swin_t_matches_mmaction2_at_32x224x224():
    mm, ours = _pair(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                     window_size=(8, 7, 7))
    x = torch.randn(1, 3, 32, 224, 224)
    with torch.no_grad():
        ref, out = mm(x), ours(x)
    assert out.shape == ref.shape == (1, 768, 16, 7, 7)
    assert (out - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize('shape', [(1, 3, 10, 100, 76), (2, 3, 9, 83, 110)])
def test_matches_mmaction2_off_window_multiples(shape):
    # every stage is at least one window in H and W, so both codes use the full bias
    mm, ours = _pair()
    x = torch.randn(shape)
    with torch.no_grad():
        ref, out = mm(x), ours(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-5


SMALL_SHAPES = [(1, 3, 4, 32, 32), (2, 3, 6, 20, 28), (1, 3, 2, 8, 8)]


@pytest.mark.parametrize('shape', SMALL_SHAPES)
def test_official_shrunk_bias_reproduces_original(shape):
    mm, fused = _pair(official_shrunk_bias=True)
    _, plain = _pair(official_shrunk_bias=True, fused=False)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(shape)
    with torch.no_grad():
        ref = mm(x)
        assert torch.equal(plain(x), ref)  # same ops in the same order: bit for bit
        assert (fused(x) - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize('shape', SMALL_SHAPES)
def test_default_bias_differs_from_original_only_where_it_is_wrong(shape):
    mm, ours = _pair()
    x = torch.randn(shape)
    with torch.no_grad():
        assert (ours(x) - mm(x)).abs().max().item() > 1e-3


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_pure_half_precision(dtype):
    model = SwinTransformer3D(**TINY_SWIN).eval()
    x = torch.randn(1, 3, 8, 40, 40)
    with torch.no_grad():
        ref = model(x)
        out = model.to(dtype)(x.to(dtype))
    assert out.dtype == dtype
    assert torch.isfinite(out.float()).all()
    assert (out.float() - ref).abs().max().item() < 0.15 * ref.abs().max().item()


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2])
def test_checkpointing_gives_same_outputs_and_grads(frozen_stages):
    plain = SwinTransformer3D(**TINY_SWIN, frozen_stages=frozen_stages)
    ckpt = SwinTransformer3D(**TINY_SWIN, frozen_stages=frozen_stages, use_checkpoint=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 8, 40, 40)
    out_plain, out_ckpt = plain(x), ckpt(x)
    assert torch.allclose(out_plain, out_ckpt, atol=1e-6)
    out_plain.square().mean().backward()
    out_ckpt.square().mean().backward()
    trainable = 0
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert a.requires_grad == b.requires_grad, name
        if a.requires_grad:
            trainable += 1
            assert b.grad is not None, f'{name} got no gradient under checkpointing'
            assert torch.allclose(a.grad, b.grad, atol=1e-6), name
        else:
            assert a.grad is None and b.grad is None, name
    assert trainable > 0


def test_train_returns_self_and_keeps_frozen_stages():
    model = SwinTransformer3D(**TINY_SWIN, frozen_stages=2)
    assert model.train() is model
    assert not model.patch_embed.training and not model.layers[1].training
    assert model.layers[2].training
    assert not any(p.requires_grad for p in model.layers[1].parameters())
    assert all(p.requires_grad for p in model.layers[2].parameters())
    assert model.eval() is model and not model.layers[2].training


def test_out_indices():
    x = torch.randn(1, 3, 8, 64, 64)
    model = SwinTransformer3D(**TINY_SWIN, out_indices=(0, 1, 3))
    outs = model(x)
    assert isinstance(outs, tuple)
    assert [o.shape[1:] for o in outs] == [(16, 4, 16, 16), (32, 4, 8, 8), (128, 4, 2, 2)]
    assert {'norm0.weight', 'norm1.weight', 'norm.weight'} <= set(model.state_dict())
    single = SwinTransformer3D(**TINY_SWIN)
    assert isinstance(single(x), torch.Tensor)


def test_arch_shorthand_sets_published_sizes():
    model = SwinTransformer3D(arch='base', patch_size=(2, 4, 4), window_size=(8, 7, 7))
    assert model.num_features[-1] == 1024
    assert [len(layer.blocks) for layer in model.layers] == [2, 2, 18, 2]
    assert model.layers[3].blocks[0].attn.num_heads == 32
    with pytest.raises(ValueError, match="arch must be one of"):
        SwinTransformer3D(arch='huge')


@pytest.mark.parametrize('shape, message', [
    ((3, 8, 32, 32), r'5-D input \(B, C, T, H, W\), got 4-D'),
    ((1, 1, 8, 32, 32), r'expects 3 input channels \(in_chans\) at dim 1, got 1'),
])
def test_wrong_input_raises_value_error(shape, message):
    model = SwinTransformer3D(**TINY_SWIN)
    with pytest.raises(ValueError, match=message):
        model(torch.randn(shape))


def _stage_by_hook(model, x, stage):
    """A stage's output as apis/features.py took it before forward_intermediates: a forward
    hook on the stage, then that stage's output norm where the backbone has one."""
    captured = {}
    handle = model.layers[stage].register_forward_hook(lambda m, a, out: captured.update(x=out[0]))
    try:
        model(x)
    finally:
        handle.remove()
    out = captured['x']  # B, D, H, W, C
    if stage in model.out_indices:
        out = getattr(model, 'norm' if stage == model.num_layers - 1 else f'norm{stage}')(out)
    return out.permute(0, 4, 1, 2, 3)


@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), -1])
def test_forward_intermediates_equals_the_hooked_stage_and_forward(out_indices):
    model = SwinTransformer3D(**TINY_SWIN, out_indices=out_indices).eval()
    with torch.no_grad():  # norms off their identity init, so a skipped norm would show
        for name, p in model.named_parameters():
            if name.startswith('norm'):
                p.add_(torch.randn_like(p) * 0.5)
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        every = model.forward_intermediates(x)
        assert [o.shape[1:] for o in every] == [(16, 4, 16, 16), (32, 4, 8, 8), (64, 4, 4, 4),
                                                (128, 4, 2, 2)]
        for stage in range(4):
            got = model.forward_intermediates(x, [stage])[0]
            assert torch.equal(got, _stage_by_hook(model, x, stage))
            assert torch.equal(got, every[stage])
            if stage in model.out_indices:  # = forward() of a backbone outputting this stage
                single = SwinTransformer3D(**TINY_SWIN, out_indices=stage).eval()
                single.load_state_dict({k: model.state_dict()[k] for k in single.state_dict()})
                assert torch.equal(got, single(x))
        assert torch.equal(model.forward_intermediates(x, [-1])[0], every[3])
        assert all(torch.equal(a, b) for a, b in zip(model.forward_intermediates(x, 2), every[2:]))


def test_forward_intermediates_norm_and_stop_early():
    model = SwinTransformer3D(**TINY_SWIN, out_indices=(1, 3)).eval()
    x = torch.randn(1, 3, 8, 64, 64)
    ran = []
    for i, layer in enumerate(model.layers):
        layer.register_forward_hook(lambda m, a, out, i=i: ran.append((i, out[0])))
    with torch.no_grad():
        normed, = model.forward_intermediates(x, [1])
        assert [i for i, _ in ran] == [0, 1]  # stops after the last stage taken
        raw = ran[1][1].permute(0, 4, 1, 2, 3)
        assert torch.equal(normed, model.norm1(ran[1][1]).permute(0, 4, 1, 2, 3))
        ran.clear()
        unnormed, = model.forward_intermediates(x, [1], norm=False, stop_early=False)
        assert [i for i, _ in ran] == [0, 1, 2, 3]
        assert torch.equal(unnormed, raw) and not torch.allclose(unnormed, normed)
    for bad, message in [([4], 'stage index 4 is out of range for 4 stages'),
                         (0, r'an int must lie in \[1, 4\]'), ([], 'indices is empty')]:
        with pytest.raises(ValueError, match=message):
            model.forward_intermediates(x, bad)


def test_torch_compile_gives_the_same_output():
    model = SwinTransformer3D(**TINY_SWIN, out_indices=(2, 3)).eval()
    x = torch.randn(2, 3, 8, 40, 40)
    with torch.no_grad():
        ref = model(x)
        torch._dynamo.reset()
        # aot_eager traces the whole backbone as one graph (fullgraph) through AOTAutograd,
        # in seconds; inductor gives the same numbers (benchmarks/RESULTS.md) but compiles
        # for minutes on a 2-core machine
        out = torch.compile(model, backend='aot_eager', fullgraph=True)(x)
    for a, b in zip(out, ref):
        assert (a - b).abs().max().item() <= 1e-6
