"""A task that needs memory: the class shows only in a recording's first clip.

Every clip of a recording carries the recording's label, but only clip 0 shows the cue (a
bright colour channel = the class); every later clip is the same noise for all classes. A
clip-only model can do no better than chance on the later clips; a FAM model must carry the
cue in its memory. Both are ``SequenceRecognizer3D`` with the same tiny feature extractor and
head, trained identically; only the FAM neck differs.
"""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope
from torch import nn

NUM_CLASSES, K, C, T, H, W = 3, 12, 3, 2, 8, 8
LATE = 8  # evaluate clips at least this many steps after the cue



class TinyExtractor(nn.Module):
    """A one-layer stand-in for the backbone: (B, 3, 2, 8, 8) -> (B, 16, 1, 2, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(C, 16, (2, 4, 4), (2, 4, 4))
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


def recordings(n: int, gen: torch.Generator):
    """n recordings of K clips, classes balanced exactly (so any constant guess scores 1/3)."""
    labels = torch.arange(n) % NUM_CLASSES
    x = torch.randn(n, K, C, T, H, W, generator=gen)
    x[torch.arange(n), 0, labels] += 3.0  # the cue, first clip only
    return x, labels


def build(with_fam: bool):
    from video_swin_plugin.registry import MODELS
    init_default_scope('video_swin_plugin')
    cfg = dict(type='SequenceRecognizer3D', backbone=dict(type=TinyExtractor),
               cls_head=dict(type='I3DHead', num_classes=NUM_CLASSES, in_channels=16,
                             dropout_ratio=0.0, topk=(1, )),
               data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW'))
    if with_fam:
        cfg['neck'] = dict(type='FAMNeck', in_channels=16, num_mem_tokens=4, num_layers=1,
                           num_heads=2, token_grid=(1, 2, 2), mlp_ratio=2.0)
    return MODELS.build(cfg)


def train_and_score(with_fam: bool, steps: int = 40, batch_size: int = 32):
    torch.manual_seed(0)
    model = build(with_fam)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        x, y = recordings(batch_size, gen)
        samples = [ActionDataSample().set_gt_labels([int(label)] * K) for label in y]
        loss = model(x, samples, mode='loss')['loss_cls']
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = recordings(60, torch.Generator().manual_seed(2))  # held-out recordings
    model.eval()
    with torch.no_grad():
        pred = model(x, mode='tensor').argmax(-1)  # N, K
    late = (pred[:, LATE:] == y[:, None]).float().mean().item()
    cue = (pred[:, 0] == y).float().mean().item()
    return late, cue


@pytest.fixture(scope='module')
def scores():
    return {'clip_only': train_and_score(False), 'fam': train_and_score(True)}


def test_clip_only_model_is_near_chance_after_the_cue(scores):
    late, cue = scores['clip_only']
    assert cue > 0.9, f'the clip-only model should still read the cue clip itself, got {cue}'
    assert late < 0.5, f'clip-only accuracy {late} on clips >= {LATE} after the cue; chance 1/3'


def test_fam_model_remembers_the_cue(scores):
    late, cue = scores['fam']
    print(f'memory task, clips >= {LATE} steps after the cue: FAM {late:.3f}, '
          f'clip-only {scores["clip_only"][0]:.3f} (chance 0.333)')
    # Seed 0 scores 1.0. Over training seeds 0-9 nine scored >= 0.92 and one 0.74 (two of the
    # three cues merged in memory); clip-only 0.30-0.37. The bounds leave room for that.
    assert late > 0.65, f'FAM accuracy {late} on clips >= {LATE} after the cue; chance 1/3'
    assert late > scores['clip_only'][0] + 0.25
