"""Registration: ours under the plugin scope, mmaction2's untouched; plain-PyTorch import; real
video files through a stock mmaction2 test pipeline into a recognizer built in the plugin scope."""
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import MODELS, TRANSFORMS

import video_swin_plugin.registry  # noqa: F401
from mmaction.models.backbones.swin import SwinTransformer3D as MMSwin
from video_swin_plugin.models import SwinTransformer3D

from .helpers import tiny_recognizer_config

BACKBONE = dict(type='SwinTransformer3D', arch='tiny', patch_size=(2, 4, 4),
                window_size=(8, 7, 7))


def _build(scope, cfg):
    with MODELS.switch_scope_and_registry(scope) as registry:
        return registry.build(cfg)


def test_plugin_scope_builds_ours_and_mmaction_scope_still_builds_mmaction2s():
    assert type(_build('video_swin_plugin', BACKBONE)) is SwinTransformer3D
    assert type(_build('mmaction', BACKBONE)) is MMSwin


def test_scoped_type_reaches_ours_from_a_stock_mmaction2_config():
    cfg = dict(BACKBONE, type='video_swin_plugin.SwinTransformer3D')
    assert type(_build('mmaction', cfg)) is SwinTransformer3D


def test_recognizer_falls_through_to_mmaction2_with_our_backbone():
    cfg = dict(type='Recognizer3D', backbone=BACKBONE,
               cls_head=dict(type='I3DHead', in_channels=768, num_classes=5),
               data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW'))
    model = _build('video_swin_plugin', cfg)
    assert type(model.backbone) is SwinTransformer3D
    assert type(model).__module__.startswith('mmaction.')


def test_models_import_and_run_without_mmaction_or_mmengine():
    code = textwrap.dedent('''
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('mmaction', 'mmengine', 'mmcv'):
                    raise ImportError('blocked ' + name)
        sys.meta_path.insert(0, Block())
        import torch
        from video_swin_plugin.models import SwinTransformer3D
        out = SwinTransformer3D(embed_dim=8, depths=(2, 2), num_heads=(1, 2),
                                window_size=(2, 3, 3), patch_size=(2, 4, 4))(torch.randn(1, 3, 4, 24, 24))
        assert not any(m.split('.')[0] in ('mmaction', 'mmengine', 'mmcv') for m in sys.modules)
        print(tuple(out.shape))
    ''')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '(1, 16, 2, 3, 3)'


@pytest.mark.parametrize('name, frames', [('demo_k400_arm_wrestling.mp4', 280),
                                          ('test.mp4', 300), ('test.avi', 164)])
def test_real_video_through_test_pipeline_and_recognizer(shared_data, name, frames):
    cfg = tiny_recognizer_config({'model.cls_head.num_classes': 7})
    cfg.test_pipeline[-1].meta_keys = ('img_shape', 'total_frames')
    with TRANSFORMS.switch_scope_and_registry('video_swin_plugin') as transforms:
        pipeline = Compose([transforms.build(t) for t in cfg.test_pipeline])
    sample = pipeline(dict(filename=str(shared_data / 'videos' / name), label=-1, start_index=0,
                           modality='RGB'))
    assert sample['data_samples'].metainfo['total_frames'] == frames
    assert tuple(sample['inputs'].shape) == (6, 3, 8, 64, 64)  # 2 clips x 3 crops
    with MODELS.switch_scope_and_registry('video_swin_plugin') as models:
        model = models.build(cfg.model).eval()  # average_clips='prob', as the K400 config
    with torch.no_grad():
        result = model.test_step(dict(inputs=[sample['inputs']],
                                      data_samples=[sample['data_samples']]))[0]
    scores = result.pred_score if hasattr(result, 'pred_score') else result.pred_scores.item
    assert scores.shape == (7, )
    assert torch.isclose(scores.sum(), torch.tensor(1.0), atol=1e-5)
