"""SequenceRecognizer3D (models/recognizers/sequence.py) on the tiny FAM model: clip by clip
equals batched, reset between recordings, losses and gradients through the memory, state passing
between training windows, the clip-only variant."""
import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

from video_swin_plugin.models.necks.recurrent import StreamingRecognizer

from .helpers import TINY_SWIN_CHANNELS, tiny_stream_config


def recognizer(state_passing_prob=0.0, with_neck=True):
    """The tiny FAM streaming model (helpers.tiny_stream_config), or its clip-only twin."""
    from video_swin_plugin.registry import MODELS
    init_default_scope('video_swin_plugin')
    cfg = tiny_stream_config().model
    cfg.state_passing_prob = state_passing_prob
    cfg.cls_head.topk = (1, )
    if not with_neck:
        cfg.pop('neck')
        cfg.cls_head.in_channels = TINY_SWIN_CHANNELS
    return MODELS.build(cfg).eval()


def samples(labels, windows=None):
    """Data samples with per-clip ``labels``; ``windows``: (video, first clip_index, burn_in)
    metainfo per sample (what LongVideoDataset gives)."""
    out = [ActionDataSample().set_gt_labels(list(row)) for row in labels]
    for sample, row, window in zip(out, labels, windows or []):
        video, first, burn = window
        sample.set_metainfo(dict(video=video, clip_index=np.arange(first, first + len(row)),
                                 burn_in=burn))
    return out


# ---- the sequence recognizer ------------------------------------------------------------------
def test_predict_clip_stream_equals_batched_predict():
    model = recognizer()
    raw = torch.rand(2, 3, 3, 4, 32, 32) * 255  # N, K, C, T, H, W in RGB 0-255
    data = model.data_preprocessor(dict(inputs=list(raw), data_samples=samples([[0, 1, 2]] * 2)))
    with torch.no_grad():
        batched = torch.stack([s.pred_scores.item for s in model(**data, mode='predict')])
    memory, scores = model.init_memory(2), []
    for k in range(3):
        s, memory = model.predict_clip(raw[:, k], memory)
        scores.append(s)
    torch.testing.assert_close(torch.stack(scores, 1), batched)
    torch.testing.assert_close(batched.sum(-1), torch.ones(2, 3))


def test_reset_makes_recording_b_independent_of_a():
    model = recognizer(state_passing_prob=1.0)
    rec_a, rec_b = torch.rand(2, 4, 1, 3, 4, 32, 32) * 255  # K=4 clips of (1, C, T, H, W)

    def run(rec, memory):
        scores = []
        for clip in rec:
            s, memory = model.predict_clip(clip, memory)
            scores.append(s)
        return torch.stack(scores)

    def stream(recordings):
        return [run(rec, model.init_memory(1)) for rec in recordings][-1]  # reset per recording

    b_alone = stream([rec_b])
    # a training step with state passing leaves a carried memory on the model; eval ignores it
    model.train()
    x = model.data_preprocessor(dict(inputs=[rec_a.squeeze(1)],
                                     data_samples=samples([[0] * 4], [('a.mp4', 0, 0)])), True)
    model(**x, mode='loss')
    assert model._passed['a.mp4'][0] == 3
    model.eval()
    b_after_a = stream([rec_a, rec_b])
    assert torch.equal(b_alone, b_after_a)
    # without the reset the memory of A does change B's predictions
    memory = model.init_memory(1)
    for clip in rec_a:
        _, memory = model.predict_clip(clip, memory)
    assert not torch.equal(run(rec_b, memory), b_alone)


def test_loss_sums_over_clips_and_gradients_flow_through_steps():
    model = recognizer().train()
    raw = torch.rand(2, 3, 3, 4, 32, 32) * 255
    data = model.data_preprocessor(dict(inputs=list(raw), data_samples=samples([[0, 1, 2]] * 2)),
                                   True)
    losses = model(**data, mode='loss')
    with torch.no_grad():
        logits = model(data['inputs'], mode='tensor')  # N, K, classes (dropout off in eval)
    assert logits.shape == (2, 3, 3)
    losses['loss_cls'].backward()
    assert model.neck.memory_init.grad.abs().sum() > 0
    assert model.backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    # the last clip's loss alone reaches the first clip's pixels through the memory
    x = data['inputs'].clone().requires_grad_(True)
    model.zero_grad()
    model(x, mode='tensor')[:, -1].sum().backward()
    assert x.grad[:, 0].abs().sum() > 0


def test_random_state_passing_keeps_a_detached_memory():
    model = recognizer(state_passing_prob=1.0).train()
    data = model.data_preprocessor(dict(inputs=list(torch.rand(2, 2, 3, 4, 32, 32) * 255),
                                        data_samples=samples([[0, 1]] * 2)), True)
    model(**data, mode='loss')
    assert model._passed == {}  # samples without video/clip_index metainfo: nothing kept
    assert model._passed_state(2, data['data_samples']) is None
    data['data_samples'] = samples([[0, 1]] * 2, [('a.mp4', 0, 0), ('b.mp4', 4, 0)])
    model(**data, mode='loss')
    passed = model._passed['a.mp4'][1]
    assert not passed.tokens.requires_grad and passed.fresh.eq(0).all()
    assert model._passed['b.mp4'][0] == 5


def test_unscored_clips_are_memory_steps_without_loss():
    """Label -1 (unscored time, burn-in): no loss of its own, yet its pixels reach the loss of
    the later scored clips through the memory; a window of unscored clips only: zero loss."""
    model = recognizer().train()
    model.cls_head.dropout = None
    raw = torch.rand(2, 3, 3, 4, 32, 32) * 255
    full = model.data_preprocessor(dict(inputs=list(raw), data_samples=samples([[0, 1, 2]] * 2)),
                                   True)
    part = model.data_preprocessor(dict(inputs=list(raw), data_samples=samples([[-1, 1, 2]] * 2)),
                                   True)
    x = part['inputs'].clone().requires_grad_(True)
    loss = model(x, part['data_samples'], mode='loss')['loss_cls']
    with torch.no_grad():
        logits = model(full['inputs'], mode='tensor').float()  # N, K, classes
    ce = torch.nn.functional.cross_entropy(logits[:, 1:].flatten(0, 1), torch.tensor([1, 2] * 2),
                                           reduction='sum') / 2  # summed over clips, mean over N
    torch.testing.assert_close(loss.detach(), ce, rtol=1e-4, atol=1e-5)
    loss.backward()
    assert x.grad[:, 0].abs().sum() > 0  # the unscored first clip feeds the memory
    none = model.data_preprocessor(dict(inputs=list(raw), data_samples=samples([[-1] * 3] * 2)),
                                   True)
    zero = model(**none, mode='loss')['loss_cls']
    assert zero.item() == 0 and zero.requires_grad


def test_clip_only_recognizer_and_input_errors():
    model = recognizer(with_neck=False)
    assert isinstance(model, StreamingRecognizer) and not model.with_memory
    assert recognizer().with_memory
    assert model.init_memory(2) is None
    scores, memory = model.predict_clip(torch.rand(2, 3, 4, 32, 32) * 255, None)
    assert scores.shape == (2, 3) and memory is None
    with pytest.raises(ValueError, match=r'\(N, K, C, T, H, W\)'):
        model(torch.rand(2, 3, 4, 32, 32), mode='tensor')
    with pytest.raises(ValueError, match='ONE clip'):
        model.predict_clip(torch.rand(2, 2, 3, 4, 32, 32), None)
    with pytest.raises(ValueError, match='2 labels for K=3'):
        model(torch.rand(1, 3, 3, 4, 32, 32), samples([[0, 1]]), mode='loss')


def test_autocast_and_backbone_checkpointing_in_a_training_step():
    model = recognizer().train()
    data = model.data_preprocessor(dict(inputs=list(torch.rand(2, 2, 3, 4, 32, 32) * 255),
                                        data_samples=samples([[0, 1]] * 2)), True)
    model.cls_head.dropout = None  # the head's dropout would make the two runs differ
    reference = model(**data, mode='loss')['loss_cls']
    model.backbone.layers.apply(lambda m: setattr(m, 'use_checkpoint', True)
                                if hasattr(m, 'use_checkpoint') else None)
    model.neck.use_checkpoint = True
    checkpointed = model(**data, mode='loss')['loss_cls']
    torch.testing.assert_close(checkpointed, reference)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(**data, mode='loss')['loss_cls']
    loss.backward()
    assert torch.isfinite(loss) and abs(loss.item() - reference.item()) < 0.1
    assert model.neck.memory_init.grad is not None


def test_load_from_official_layout_fills_the_backbone(tmp_path):
    """The sowsleep config's load_from (non-strict, mmengine) with an official-layout file:
    every backbone weight is taken; only the new neck and the 400-class head are left out."""
    from mmengine.runner import load_checkpoint
    official = recognizer(with_neck=False)
    state = {f'backbone.{k}': v for k, v in official.backbone.state_dict().items()}
    state['cls_head.fc_cls.weight'] = torch.randn(400, 128)
    state['cls_head.fc_cls.bias'] = torch.randn(400)
    torch.save({'state_dict': state}, tmp_path / 'official.pth')
    model = recognizer()
    load_checkpoint(model, str(tmp_path / 'official.pth'), map_location='cpu', strict=False)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, state[f'backbone.{k}']), k


def test_state_passing_only_into_the_continuing_window():
    """The passed memory is kept per recording (any sampler order works) and taken by a window
    whose first clip after its burn-in follows the kept window's last, at that clip."""
    model = recognizer(state_passing_prob=1.0).train()
    rng = torch.Generator().manual_seed(0)

    def batch(windows, k=2):
        return model.data_preprocessor(dict(
            inputs=list(torch.rand(len(windows), k, 3, 4, 32, 32, generator=rng) * 255),
            data_samples=samples([[0] * k] * len(windows), windows)), True)

    model(**batch([('a.mp4', 0, 0), ('b.mp4', 6, 0)]), mode='loss')
    kept_a, kept_b = model._passed['a.mp4'][1], model._passed['b.mp4'][1]
    model(**batch([('c.mp4', 0, 0), ('d.mp4', 0, 0)]), mode='loss')  # other recordings between
    # a.mp4 continues (clips 2, 3 after 0, 1); b.mp4 jumps (9 is not 8); e.mp4 is new
    at, memory = model._passed_state(3, batch([('a.mp4', 2, 0), ('b.mp4', 9, 0),
                                               ('e.mp4', 0, 0)])['data_samples'])
    assert at.tolist() == [0, -1, -1]
    assert torch.equal(memory.tokens[0], kept_a.tokens[0])
    # with a burn-in of 1: a.mp4's window is clips 1, 2, 3, its main part starting at clip 2
    # (after a.mp4's kept 0-1); b.mp4's is 8, 9, 10, starting at 9, which does not follow 6-7
    at, memory = model._passed_state(2, batch([('a.mp4', 1, 1), ('b.mp4', 8, 1)], k=3)
                                     ['data_samples'])
    assert at.tolist() == [1, -1]
    assert torch.equal(memory.tokens[0], kept_a.tokens[0])
    assert not torch.equal(memory.tokens[1], kept_b.tokens[0])
    # the next epoch: a.mp4's first window again; its second window continues from it, not
    # from where a.mp4 ended in the previous epoch (clips 2-3 were kept last)
    model(**batch([('a.mp4', 2, 0)]), mode='loss')
    assert model._passed['a.mp4'][0] == 3
    model(**batch([('a.mp4', 0, 0)]), mode='loss')
    first = model._passed['a.mp4'][1]
    assert model._passed['a.mp4'][0] == 1
    again, kept = model._passed_state(1, batch([('a.mp4', 2, 0)])['data_samples'])
    assert again.tolist() == [0] and torch.equal(kept.tokens, first.tokens)
    # two windows of one recording in a batch: the one ending last is kept
    model(**batch([('a.mp4', 4, 0), ('a.mp4', 2, 0)]), mode='loss')
    assert model._passed['a.mp4'][0] == 5
    # the memory is injected at that clip: clip 0 runs from the initial memory
    neck = model.neck
    feats = torch.randn(2 * 3, TINY_SWIN_CHANNELS, 1, 1, 1)
    with torch.no_grad():
        plain, _ = neck.forward_sequence(feats, 3)
        injected, _ = neck.forward_sequence(feats, 3, inject=(at, memory))
    plain, injected = plain.reshape(2, 3, -1), injected.reshape(2, 3, -1)
    assert torch.equal(plain[:, 0], injected[:, 0]) and torch.equal(plain[1], injected[1])
    assert not torch.allclose(plain[0, 1:], injected[0, 1:])
