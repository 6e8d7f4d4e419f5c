# The Swin-T Kinetics recipe shrunk for CPU tests: a ~0.1 M-parameter Swin (tests/conftest.py's
# TINY_SWIN), 8-frame 32 px clips, 4 classes. The tests point the data paths at generated videos
# through --cfg-options.
_base_ = ['../../configs/recognition/swin/swin_tiny_patch244_window877_kinetics400_1k.py']
model = dict(
    backbone=dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=(4, 3, 3),
                  drop_path_rate=0.0),
    cls_head=dict(in_channels=128, num_classes=4),
    test_cfg=dict(max_testing_views=1))
label_map = None
data_root = 'data/synthetic'
ann_file = 'data/synthetic/train.txt'
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=1, num_clips=2, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(ann_file=ann_file, data_prefix=dict(video=data_root),
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(ann_file=ann_file, data_prefix=dict(video=data_root),
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
# the recipe's parameter groups (backbone at 0.1x), a higher lr for a short run from scratch
optim_wrapper = dict(optimizer=dict(lr=1e-2, weight_decay=0.02), accumulative_counts=1)
max_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0,
         end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=100)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(save_best=None))
