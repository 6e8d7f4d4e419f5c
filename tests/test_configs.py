"""Every config parses and builds its model; the recipes hold the official numbers; the
pipelines run on a real video; the tests' tiny recognizers carry the tiny backbone."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import video_swin_plugin.registry as R

from .helpers import REPO, TINY_SWIN, synthetic_training_config, tiny_recognizer_config

SWIN = REPO / 'configs' / 'recognition' / 'swin'
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)

# name: (embed_dim, depth of stage 3, window, drop_path_rate, lr, weight decay,
#        update_interval, max_testing_views, classes, epochs), from the official configs
OFFICIAL = {
    'swin_tiny_patch244_window877_kinetics400_1k': (96, 6, (8, 7, 7), .1, 1e-3, .02, 4, 4, 400, 30),
    'swin_small_patch244_window877_kinetics400_1k': (96, 18, (8, 7, 7), .1, 1e-3, .02, 8, 4, 400, 30),
    'swin_base_patch244_window877_kinetics400_1k': (128, 18, (8, 7, 7), .3, 1e-3, .05, 8, 4, 400, 30),
    'swin_base_patch244_window877_kinetics400_22k': (128, 18, (8, 7, 7), .2, 3e-4, .05, 8, 2, 400, 30),
    'swin_base_patch244_window877_kinetics600_22k': (128, 18, (8, 7, 7), .2, 3e-4, .05, 8, 2, 600, 30),
    'swin_base_patch244_window1677_sthv2': (128, 18, (16, 7, 7), .4, 3e-4, .05, 8, 2, 174, 60),
}


def test_all_official_configs_present():
    assert {p.stem for p in SWIN.glob('*.py')} == set(OFFICIAL)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_model(path, monkeypatch):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    # build only (registry names, shapes); skipping the random init of ~88 M weights saves time
    monkeypatch.setattr(torch.nn.init, 'trunc_normal_', lambda t, *a, **k: t)
    model = R.MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for transform in cfg[key].dataset.pipeline:
            R.TRANSFORMS.build(transform)


@pytest.mark.parametrize('name', sorted(OFFICIAL))
def test_official_recipe(name):
    cfg = Config.fromfile(SWIN / f'{name}.py')
    dim, depth3, window, dpr, lr, wd, interval, views, classes, epochs = OFFICIAL[name]
    backbone = cfg.model.backbone
    assert backbone.type == 'SwinTransformer3D' and cfg.default_scope == 'video_swin_plugin'
    assert (backbone.embed_dim, backbone.depths[2], tuple(backbone.window_size)) == (
        dim, depth3, window)
    assert tuple(backbone.patch_size) == (2, 4, 4) and backbone.patch_norm
    assert backbone.drop_path_rate == dpr
    assert cfg.model.cls_head.dropout_ratio == 0.5
    assert cfg.model.cls_head.average_clips == 'prob'
    assert cfg.model.cls_head.num_classes == classes
    assert cfg.model.test_cfg.max_testing_views == views
    optim = cfg.optim_wrapper
    assert (optim.optimizer.type, optim.optimizer.lr, optim.optimizer.weight_decay) == (
        'AdamW', lr, wd)
    assert optim.accumulative_counts == interval
    assert optim.constructor == 'VideoSwinOptimWrapperConstructor'
    assert optim.paramwise_cfg.custom_keys_rule == 'longest'
    assert optim.paramwise_cfg.custom_keys.backbone.lr_mult == 0.1
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR', 0.1, 2.5)
    assert (cosine.type, cosine.T_max, cosine.eta_min) == ('CosineAnnealingLR', epochs, 0)
    # videos_per_gpu 8 split over the accumulated iterations, as the original's train.py did
    assert cfg.train_dataloader.batch_size * interval == 8
    assert cfg.auto_scale_lr.base_batch_size == 8 * cfg.train_dataloader.batch_size
    test = {t.type: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test['ThreeCrop'].crop_size == 224 and test['Resize'].scale == (-1, 224)
    train = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    if 'sthv2' in name:  # 1 clip x 3 crops, uniform sampling, RandAugment, erasing, smoothing
        assert test['UniformSegmentSample'].clip_len == 32
        assert cfg.model.cls_head.label_smooth_eps == 0.1
        assert 'Flip' not in train and {'VideoRandAugment', 'RandomErasing'} <= set(train)
        assert cfg.train_dataloader.dataset.ann_file.startswith('data/sthv2/')
    else:  # 4 clips x 3 crops of 32x2
        sample = test['SampleFrames']
        assert (sample.clip_len, sample.frame_interval, sample.num_clips) == (32, 2, 4)
        kinetics = 'kinetics600' if '600' in name else 'kinetics400'
        assert cfg.train_dataloader.dataset.ann_file.startswith(f'data/{kinetics}/')
        assert cfg.test_dataloader.dataset.data_prefix.video == f'data/{kinetics}/val'


def test_tiny_forward_and_extract_feat():
    from mmaction.structures import ActionDataSample

    cfg = Config.fromfile(SWIN / 'swin_tiny_patch244_window877_kinetics400_1k.py')
    init_default_scope(cfg.default_scope)
    model = R.MODELS.build(cfg.model).eval()
    assert type(model.backbone).__module__.startswith('video_swin_plugin')
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(28.2e6, rel=0.01)
    x = torch.randn(1, 3, 3, 8, 64, 64)  # batch, 3 views, C, T, H, W
    with torch.no_grad():
        feats, _ = model.extract_feat(x, test_mode=True)
        assert feats.shape == (3, 768, 4, 2, 2)
        pred = model(x, [ActionDataSample()], mode='predict')[0]
    scores = pred.pred_score if hasattr(pred, 'pred_score') else pred.pred_scores.item
    # 3 views, softmax per view then averaged (average_clips='prob'): a distribution
    assert scores.shape == (400, ) and float(scores.sum()) == pytest.approx(1, abs=1e-4)


def test_the_tests_tiny_recognizers_have_the_tiny_backbone():
    assert TINY_SWIN['embed_dim'] == 16 and tuple(TINY_SWIN['window_size']) == (4, 3, 3)
    for cfg in (tiny_recognizer_config(), synthetic_training_config()):
        backbone = cfg.model.backbone
        assert {key: backbone[key] for key in TINY_SWIN} == TINY_SWIN
        assert cfg.model.cls_head.in_channels == 128


@pytest.mark.parametrize('name', ['swin_tiny_patch244_window877_kinetics400_1k',
                                  'swin_base_patch244_window1677_sthv2'])
def test_pipelines_run_on_a_real_video(name, shared_data):
    from mmengine.dataset import Compose
    cfg = Config.fromfile(SWIN / f'{name}.py')
    init_default_scope(cfg.default_scope)
    views = {'train_dataloader': 1, 'test_dataloader': 3 if 'sthv2' in name else 12}
    for key, num_views in views.items():
        pipeline = Compose([R.TRANSFORMS.build(t) for t in cfg[key].dataset.pipeline])
        out = pipeline(dict(filename=str(shared_data / 'videos' / 'test.mp4'), label=1,
                            start_index=0, modality='RGB'))
        assert tuple(out['inputs'].shape) == (num_views, 3, 32, 224, 224), key
