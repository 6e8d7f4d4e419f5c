# The demo model's config: the tiny FAM sleep-staging variant, with the architecture restated
# here so that the weights in demo/sowsleep_synthetic_tiny.pth keep fitting it (they are loaded
# strictly). Trained on SYNTHETIC recordings only by tools/train_demo_model.py; it knows
# nothing about real sows.
_base_ = ['../configs/recognition/swin_fam/swin_tiny_fam_sowsleep_synthetic_tiny.py']
classes = ('awake', 'nrem', 'rem')
model = dict(
    _delete_=True,
    type='SequenceRecognizer3D',
    # TransformerFAM's random state passing: training sequences often start from an earlier
    # batch's memory, so the model learns to read a memory that has run for many clips
    state_passing_prob=0.5,
    backbone=dict(type='SwinTransformer3D', patch_size=(2, 4, 4), embed_dim=16,
                  depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=(4, 3, 3),
                  mlp_ratio=4., qkv_bias=True, drop_path_rate=0.0, patch_norm=True,
                  use_checkpoint=False),
    neck=dict(type='FAMNeck', in_channels=128, embed_dims=32, num_mem_tokens=4, num_layers=1,
              num_heads=2, token_grid=(1, 2, 2), drop_rate=0.0),
    cls_head=dict(type='I3DHead', in_channels=32, num_classes=3, spatial_type='avg',
                  dropout_ratio=0.0),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
# clips: 8 frames, 1 apart, one clip a second (8 fps video: a clip covers the whole second);
# the same schedule for training, testing and streaming
clip_grid = dict(clip_len=8, frame_interval=1, clip_stride_sec=1.0)
train_dataloader = dict(dataset=clip_grid)
val_dataloader = dict(dataset=clip_grid)
test_dataloader = dict(dataset=clip_grid)
# 3e-3 with state passing diverged (the model collapsed to one stage); 1e-3 trains cleanly
optim_wrapper = dict(optimizer=dict(lr=1e-3))
