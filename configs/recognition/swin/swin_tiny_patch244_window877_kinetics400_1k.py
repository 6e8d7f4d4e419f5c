# Swin-T, ImageNet-1K pretrained, Kinetics-400, 30 epochs.
# Official: 78.8 / 93.6 (4 clips x 3 crops).
_base_ = [
    '_base_/models/swin_tiny.py', '_base_/datasets/kinetics400_32x2x1.py',
    '_base_/schedules/adamw_cosine_30e.py', '_base_/default_runtime.py'
]
model = dict(backbone=dict(drop_path_rate=0.1), test_cfg=dict(max_testing_views=4))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.02), accumulative_counts=4)
# the original's videos_per_gpu=8 split over update_interval=4 accumulated iterations:
# 2 video(s) per GPU per iteration, 8 per GPU per optimizer step, 64 on the official 8 GPUs
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(base_batch_size=16)  # 8 GPUs x 2
