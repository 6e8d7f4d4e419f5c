# The official schedule in mmengine terms: AdamW, linear warmup over 2.5 epochs from 0.1x (mmcv's
# default warmup_ratio), cosine to 0 updated per epoch, 30 epochs, validation every 5 epochs.
# Parameter groups as the original applied them (only the longest matching custom key; set
# custom_keys_rule='product' for mmaction2's rule). `accumulative_counts` is the original
# `update_interval` (gradient accumulation; the original also divided videos_per_gpu by it); the
# configs set lr, weight decay and it.
# 'AmpIfCudaOptimWrapper': AmpOptimWrapper where CUDA is present (the original trained in fp16
# with apex), a plain OptimWrapper on CPU.
max_epochs = 30
optim_wrapper = dict(
    type='AmpIfCudaOptimWrapper',
    constructor='VideoSwinOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.02),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'backbone': dict(lr_mult=0.1)
        },
        custom_keys_rule='longest'),
    accumulative_counts=8)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2.5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0,
         end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# the lr is for the official 8 GPUs; the configs set base_batch_size (8 x videos per GPU per
# iteration, which is what mmengine compares); enable with tools/train.py --auto-scale-lr
auto_scale_lr = dict(enable=False, base_batch_size=8)
