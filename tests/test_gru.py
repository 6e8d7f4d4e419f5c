"""GRUNeck (models/necks/gru.py), the memory benchmark's recurrent baseline: the streaming
contract FAMNeck has (step equals a sequence, reset, inject), in a SequenceRecognizer3D."""
import torch
from mmengine.registry import init_default_scope

from video_swin_plugin.models.necks.gru import GRUNeck
from video_swin_plugin.models.necks.recurrent import RecurrentNeck, StreamingRecognizer

from .helpers import TINY_SWIN_CHANNELS, tiny_stream_config


def test_steps_equal_the_sequence_and_inject():
    torch.manual_seed(0)
    neck = GRUNeck(8, embed_dims=6)
    assert isinstance(neck, RecurrentNeck)
    x = torch.randn(2 * 3, 8, 2, 1, 1)
    seq, last = neck.forward_sequence(x, 3)
    memory, outs = neck.init_memory(2), []
    for k in range(3):
        out, memory = neck.step(x.view(2, 3, 8, 2, 1, 1)[:, k], memory)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs, 1).flatten(0, 1), seq)
    torch.testing.assert_close(memory.tokens, last.tokens)
    assert seq.shape == (6, 6, 1, 1, 1) and last.tokens.shape == (2, 1, 1, 6)
    # inject at clip 1 of sequence 0: its clip 0 unchanged, later clips differ; sequence 1 not
    other = neck.init_memory(2)._replace(tokens=torch.randn(2, 1, 1, 6))
    injected, _ = neck.forward_sequence(x, 3, inject=(torch.tensor([1, -1]), other))
    a, b = seq.view(2, 3, -1), injected.view(2, 3, -1)
    assert torch.equal(a[:, 0], b[:, 0]) and torch.equal(a[1], b[1])
    assert not torch.allclose(a[0, 1:], b[0, 1:])


def test_in_a_sequence_recognizer_streams_like_fam():
    from video_swin_plugin.registry import MODELS
    init_default_scope('video_swin_plugin')
    cfg = tiny_stream_config().model
    cfg.neck = dict(type='GRUNeck', in_channels=TINY_SWIN_CHANNELS, embed_dims=16)
    cfg.cls_head.in_channels = 16
    model = MODELS.build(cfg).eval()
    assert model.with_memory and isinstance(model, StreamingRecognizer)
    raw = torch.rand(1, 3, 3, 4, 32, 32) * 255
    data = model.data_preprocessor(dict(inputs=list(raw), data_samples=None))
    with torch.no_grad():
        batched = model(data['inputs'], mode='tensor').softmax(-1)[0]
    memory, scores = model.init_memory(1), []
    for k in range(3):
        s, memory = model.predict_clip(raw[:, k], memory)
        scores.append(s[0])
    torch.testing.assert_close(torch.stack(scores), batched)
