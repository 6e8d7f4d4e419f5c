"""Real video files decode through a standard mmaction2 test pipeline into our model."""
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import MODELS, TRANSFORMS

import video_swin_plugin.registry  # noqa: F401

from .conftest import TINY_SWIN

PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=2, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='ThreeCrop', crop_size=64),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=('img_shape', 'total_frames')),
]


@pytest.mark.parametrize('name, frames', [('demo_k400_arm_wrestling.mp4', 280),
                                          ('test.mp4', 300), ('test.avi', 164)])
def test_real_video_through_test_pipeline_and_recognizer(shared_data, name, frames):
    with TRANSFORMS.switch_scope_and_registry('video_swin_plugin') as transforms:
        pipeline = Compose([transforms.build(t) for t in PIPELINE])
    sample = pipeline(dict(filename=str(shared_data / 'videos' / name), label=-1, start_index=0,
                           modality='RGB'))
    assert sample['data_samples'].metainfo['total_frames'] == frames
    assert tuple(sample['inputs'].shape) == (6, 3, 8, 64, 64)  # 2 clips x 3 crops
    cfg = dict(type='Recognizer3D', backbone=dict(type='SwinTransformer3D', **TINY_SWIN),
               cls_head=dict(type='I3DHead', in_channels=128, num_classes=7,
                             average_clips='prob'),
               data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW',
                                      mean=[123.675, 116.28, 103.53],
                                      std=[58.395, 57.12, 57.375]))
    with MODELS.switch_scope_and_registry('video_swin_plugin') as models:
        model = models.build(cfg).eval()
    with torch.no_grad():
        result = model.test_step(dict(inputs=[sample['inputs']],
                                      data_samples=[sample['data_samples']]))[0]
    scores = result.pred_score if hasattr(result, 'pred_score') else result.pred_scores.item
    assert scores.shape == (7, )
    assert torch.isclose(scores.sum(), torch.tensor(1.0), atol=1e-5)
