"""Real video files decode through a standard mmaction2 test pipeline into our model."""
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import MODELS, TRANSFORMS

import video_swin_plugin.registry  # noqa: F401

from .helpers import tiny_recognizer_config


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
