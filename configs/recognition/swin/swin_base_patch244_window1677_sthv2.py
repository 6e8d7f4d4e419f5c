# Swin-B, Kinetics-400 (22K) pretrained, Something-Something V2, 60 epochs.
# Official: 69.6 / 92.7 (1 clip x 3 crops). Start from the official
# swin_base_patch244_window1677_kinetics400_22k.pth: --cfg-options load_from=<file>.
_base_ = [
    '_base_/models/swin_base.py', '_base_/datasets/sthv2_32frames_uniform.py',
    '_base_/schedules/adamw_cosine_30e.py', '_base_/default_runtime.py'
]
model = dict(
    backbone=dict(window_size=(16, 7, 7), drop_path_rate=0.4),
    cls_head=dict(num_classes=174, label_smooth_eps=0.1),  # the original's LabelSmoothing 0.1
    test_cfg=dict(max_testing_views=2))
max_epochs = 60
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.05), accumulative_counts=8)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2.5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0,
         end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
# the original's videos_per_gpu=8 split over update_interval=8 accumulated iterations:
# 1 video(s) per GPU per iteration, 8 per GPU per optimizer step, 64 on the official 8 GPUs
train_dataloader = dict(batch_size=1)
auto_scale_lr = dict(base_batch_size=8)  # 8 GPUs x 1
