"""The SSv2 transforms (datasets/swin_transforms.py) behave as the original's."""
import numpy as np


def test_uniform_segment_sample_matches_original():
    from video_swin_plugin.datasets.swin_transforms import UniformSegmentSample
    total, clip_len = 100, 8
    seg = (total - 1) / clip_len
    bounds = [(int(np.round(seg * i)), int(np.round(seg * (i + 1)))) for i in range(clip_len)]
    test = UniformSegmentSample(clip_len, test_mode=True)(dict(total_frames=total, start_index=0))
    assert test['frame_inds'].tolist() == [(a + b) // 2 for a, b in bounds]
    train = UniformSegmentSample(clip_len)(dict(total_frames=total, start_index=0))
    assert all(a <= i <= b for i, (a, b) in zip(train['frame_inds'], bounds))


def test_video_randaugment_same_draw_for_every_frame():
    from video_swin_plugin.datasets.swin_transforms import VideoRandAugment
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    aug = VideoRandAugment(n=4, m=7)
    changed = 0
    for seed in range(10):
        np.random.seed(seed)
        out = aug(dict(imgs=[frame.copy() for _ in range(4)]))['imgs']
        assert all(o.shape == frame.shape and o.dtype == np.uint8 for o in out)
        assert all(np.array_equal(out[0], o) for o in out[1:])
        changed += not np.array_equal(out[0], frame)
    assert changed >= 8
