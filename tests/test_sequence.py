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


def samples(labels):
    return [ActionDataSample().set_gt_labels(list(row)) for row in labels]


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
    x = model.data_preprocessor(dict(inputs=[rec_a.squeeze(1)], data_samples=samples([[0] * 4])),
                                True)
    model(**x, mode='loss')
    assert model._passed_memory is not None
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
    passed = model._passed_memory
    assert not passed[0].requires_grad and passed[1].eq(0).all()
    # samples without video/clip_index metainfo are never taken as continuations
    start = model._start_memory(2, data['data_samples'])
    assert torch.equal(start[0], model.neck.init_memory(2)[0].detach())
    assert start[1].eq(1).all()


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
    model = recognizer(state_passing_prob=1.0).train()

    def batch(windows):
        data_samples = []
        for video, first in windows:
            s = ActionDataSample().set_gt_labels([0, 1])
            s.set_metainfo(dict(video=video, clip_index=np.array([first, first + 1])))
            data_samples.append(s)
        return model.data_preprocessor(dict(inputs=list(torch.rand(2, 2, 3, 4, 32, 32) * 255),
                                            data_samples=data_samples), True)

    model(**batch([('a.mp4', 0), ('b.mp4', 6)]), mode='loss')
    passed = model._passed_memory
    # slot 0 continues a.mp4 (clips 2, 3 after 0, 1); slot 1 jumps within b.mp4
    start = model._start_memory(2, batch([('a.mp4', 2), ('b.mp4', 9)])['data_samples'])
    init = model.neck.init_memory(2)
    assert torch.equal(start[0][0], passed[0][0]) and start[1][0] == 0
    assert torch.equal(start[0][1], init[0][1].detach()) and start[1][1] == 1
    # another recording in slot 0: reset
    start = model._start_memory(2, batch([('c.mp4', 2), ('b.mp4', 8)])['data_samples'])
    assert torch.equal(start[0][0], init[0][0].detach())
    assert torch.equal(start[0][1], passed[0][1])
