"""FAMNeck (models/necks/fam.py) and its memory (necks/recurrent.py's FAMMemory): step by step
equals the batched sequence, the memory carries information, bounded state, fused and plain
attention, checkpointing, autocast, the memory and neck contracts."""
import io

import pytest
import torch

from video_swin_plugin.models.necks import FAMNeck
from video_swin_plugin.models.necks.recurrent import FAMMemory, RecurrentNeck


def neck(**kw) -> FAMNeck:
    args = dict(in_channels=24, embed_dims=16, num_mem_tokens=3, num_layers=2, num_heads=2,
                token_grid=(1, 2, 2))
    args.update(kw)
    return FAMNeck(**args).eval()


# ---- the neck ---------------------------------------------------------------------------------
def test_step_by_step_equals_batched_sequence():
    m = neck()
    x = torch.randn(2, 5, 24, 2, 3, 3)  # B, K, C, T, H, W of backbone features
    with torch.no_grad():
        seq, seq_mem = m.forward_sequence(x.flatten(0, 1), num_clips=5)
        memory, outs = m.init_memory(2), []
        for k in range(5):
            out, memory = m.step(x[:, k], memory)
            outs.append(out)
    torch.testing.assert_close(torch.stack(outs, 1).flatten(0, 1), seq)
    torch.testing.assert_close(memory[0], seq_mem[0])
    assert seq.shape == (10, 16, 1, 2, 2)


def test_memory_carries_information():
    """The output of clip 2 must depend on clip 1 (otherwise there is no memory at all)."""
    m = neck()
    a, b, c = torch.randn(3, 1, 24, 2, 3, 3)
    with torch.no_grad():
        out_ac = m.forward_sequence(torch.cat([a, c]), 2)[0][1]
        out_bc = m.forward_sequence(torch.cat([b, c]), 2)[0][1]
        out_c = m.forward_sequence(c, 1)[0][0]
    assert (out_ac - out_bc).abs().max() > 1e-4
    assert (out_ac - out_c).abs().max() > 1e-4


def test_first_update_uses_a_zero_residual():
    """Changing the learned initial memory changes the first step only through attention;
    with a zero residual the updated memory does not contain the initial memory additively."""
    m = neck(num_layers=1, memory_norm=False)
    x = torch.randn(1, 24, 2, 3, 3)
    layer = m.layers[0]
    with torch.no_grad():
        tokens = m.tokens(x)
        mem0, fresh = m.init_memory(1)
        _, new = m.step(x, FAMMemory(mem0, fresh))
        h = layer.norm1(torch.cat([mem0[:, 0], tokens], 1))
        a = layer.attn(h)[:, :3]
        expected = a + layer.mlp(layer.norm2(a))  # no "+ mem0": zero residual
        _, second = m.step(x, new)
        h2 = layer.norm1(torch.cat([new[0][:, 0], tokens], 1))
        a2 = new[0][:, 0] + layer.attn(h2)[:, :3]  # later updates keep the residual
        expected2 = a2 + layer.mlp(layer.norm2(a2))
    torch.testing.assert_close(new[0][:, 0], expected)
    torch.testing.assert_close(second[0][:, 0], expected2)
    assert new[1].eq(0).all() and fresh.eq(1).all()


def test_state_size_is_bounded():
    m = neck(num_layers=1, embed_dims=8, token_grid=(1, 1, 2))
    xs = torch.randn(1000, 2, 24, 1, 2, 2)
    with torch.no_grad():
        _, one = m.step(xs[0], m.init_memory(2))
        memory = one
        for x in xs[1:]:
            _, memory = m.step(x, memory)
    assert [t.shape for t in memory] == [t.shape for t in one]
    assert [t.dtype for t in memory] == [t.dtype for t in one]
    assert sum(t.numel() * t.element_size() for t in memory) == sum(
        t.numel() * t.element_size() for t in one)
    assert torch.isfinite(memory[0]).all()
    assert not any(isinstance(v, torch.Tensor) and v.shape[:1] == (2, ) for v in vars(m).values())


def test_neck_contract_and_token_bound():
    m = neck()
    for size in [(2, 3, 3), (4, 7, 7)]:  # any input size costs the same tokens
        out, loss_aux = m(torch.randn(4, 24, *size), data_samples=None)
        assert out.shape == (4, 16, 1, 2, 2) and loss_aux == {}
    out, _ = m(torch.randn(6, 24, 2, 3, 3), num_clips=3)
    assert out.shape == (6, 16, 1, 2, 2)
    with pytest.raises(ValueError, match='num_clips=4'):
        m(torch.randn(6, 24, 2, 3, 3), num_clips=4)
    with pytest.raises(ValueError, match='in_channels=24'):
        m(torch.randn(2, 8, 2, 3, 3))
    with pytest.raises(ValueError, match='batch size 3'):
        m.step(torch.randn(3, 24, 2, 3, 3), m.init_memory(2))


def test_fused_and_plain_attention_agree():
    fused = neck(fused_attention=True)
    plain = neck(fused_attention=False)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(6, 24, 2, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(fused(x, num_clips=3)[0], plain(x, num_clips=3)[0])


def test_checkpointing_gives_same_outputs_and_grads():
    m = neck().train()
    mc = neck(use_checkpoint=True).train()
    mc.load_state_dict(m.state_dict())
    x = torch.randn(6, 24, 2, 3, 3)
    out, out_c = m(x, num_clips=3)[0], mc(x, num_clips=3)[0]
    out.square().sum().backward()
    out_c.square().sum().backward()
    torch.testing.assert_close(out, out_c)
    for (name, p), pc in zip(m.named_parameters(), mc.parameters()):
        torch.testing.assert_close(p.grad, pc.grad, msg=name)
    assert m.memory_init.grad.abs().sum() > 0  # gradients reach the learned initial memory


def test_autocast_keeps_the_memory_dtype_and_size():
    m = neck()
    x = torch.randn(2, 24, 2, 3, 3)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        memory = m.init_memory(2)
        for _ in range(3):
            out, memory = m.step(x, memory)
    assert torch.isfinite(out).all()
    assert memory[0].dtype == torch.float32 and memory[0].shape == (2, 2, 3, 16)


def test_memory_contract():
    m = neck()
    assert isinstance(m, RecurrentNeck)
    x = torch.randn(3, 24, 2, 3, 3)
    init = m.init_memory(3)
    with torch.no_grad():
        _, memory = m.step(x, init)
        _, after = m.step(x, memory)
        _, one = m.step(x[1:2], memory.select(1))  # one recording steps as it does in the batch
    assert isinstance(memory, FAMMemory) and memory.batch_size == 3
    torch.testing.assert_close(one.tokens, after.select(1).tokens)
    assert torch.equal(FAMMemory.cat([memory.select(i) for i in range(3)]).tokens, memory.tokens)
    mixed = init.where(torch.tensor([True, False, True]), memory)
    assert torch.equal(mixed.tokens[0], memory.tokens[0])
    assert torch.equal(mixed.tokens[1], init.tokens[1])
    assert mixed.fresh.tolist() == [0, 1, 0]
    assert not init.detach().tokens.requires_grad and init.tokens.requires_grad
    assert memory.to(torch.float64).tokens.dtype == torch.float64
    # saved as a state dict of plain tensors, it loads with weights_only=True
    buf = io.BytesIO()
    torch.save(dict(state=memory.state_dict()), buf)
    buf.seek(0)
    back = FAMMemory.from_state_dict(torch.load(buf, weights_only=True)['state'])
    assert isinstance(back, FAMMemory)
    assert torch.equal(back.tokens, memory.tokens) and torch.equal(back.fresh, memory.fresh)
    with pytest.raises(TypeError, match='FAMMemory'):
        m.step(x, tuple(memory))


def test_gated_write_and_xavier_init():
    """memory_update='gated': the first update takes the candidate; later ones mix it into the
    memory by a gate that starts mostly closed (bias -2); xavier init widens the weights."""
    from video_swin_plugin.models.necks.fam import FAMNeck
    torch.manual_seed(0)
    neck = FAMNeck(16, embed_dims=16, num_mem_tokens=2, num_heads=2, token_grid=(1, 1, 1),
                   memory_update='gated', init='xavier')
    assert neck.layers[0].gate.bias.eq(-2).all()
    assert neck.layers[0].attn.qkv.weight.std() > 0.1  # trunc_normal's is 0.02
    feats = torch.randn(2, 16, 1, 1, 1)
    out, first = neck.step(feats, neck.init_memory(2))
    assert out.shape == (2, 16, 1, 1, 1) and first.fresh.eq(0).all()
    later = torch.randn(2, 16, 1, 1, 1)
    _, second = neck.step(later, first)
    moved = (second.tokens - first.tokens).abs().mean() / first.tokens.abs().mean()
    assert 0.01 < moved < 0.5  # a partial write, not a replacement
    slow = FAMNeck(16, embed_dims=16, num_mem_tokens=2, num_heads=2, token_grid=(1, 1, 1),
                   memory_update='gated', init='xavier', gate_bias=-4.0)
    assert slow.layers[0].gate.bias.eq(-4).all()
    weights = {k: v for k, v in neck.state_dict().items() if not k.endswith('gate.bias')}
    slow.load_state_dict(weights, strict=False)  # the same weights but the gate's bias
    _, slow_second = slow.step(later, slow.step(feats, slow.init_memory(2))[1])
    slow_moved = (slow_second.tokens - first.tokens).abs().mean() / first.tokens.abs().mean()
    assert slow_moved < moved  # a more negative bias writes less per step
    with pytest.raises(ValueError, match="memory_update must be 'residual' or 'gated'"):
        FAMNeck(16, memory_update='lstm')
    with pytest.raises(ValueError, match='needs memory_norm=True'):
        FAMNeck(16, num_heads=2, memory_update='gated', memory_norm=False)
    with pytest.raises(ValueError, match="gate_bias must be a number .* got 'x'"):
        FAMNeck(16, num_heads=2, memory_update='gated', gate_bias='x')
    with pytest.raises(ValueError, match="init must be 'trunc_normal' or 'xavier'"):
        FAMNeck(16, init='kaiming')
