# The FAM sleep-staging recipe shrunk for CPU tests and demos: a ~0.1 M-parameter Swin, a
# 1-layer FAM neck with 4 memory tokens, 8-frame 32-px clips one second apart, K=4. Data: the
# synthetic recordings of video_swin_plugin.datasets.synthetic.write_recordings(root), e.g.
#   python -c "from video_swin_plugin.datasets.synthetic import write_recordings as w; \
#              w('data/sowsleep_synthetic', num_recordings=6)"
# then split annotations.csv with split_by_recording, or point all three splits at it.
_base_ = ['./swin_tiny_fam_patch244_window877_sowsleep.py']
num_clips = 4
clip_grid = dict(clip_len=8, frame_interval=1, clip_stride_sec=1.0)
classes = ('awake', 'nrem', 'rem')
model = dict(
    backbone=dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                  window_size=(4, 3, 3), drop_path_rate=0.0, use_checkpoint=False),
    neck=dict(in_channels=128, embed_dims=32, num_mem_tokens=4, num_layers=1, num_heads=2,
              token_grid=(1, 2, 2), drop_rate=0.0),
    cls_head=dict(in_channels=32, dropout_ratio=0.0))
load_from = None
data_root = 'data/sowsleep_synthetic'
ann_file = 'data/sowsleep_synthetic/annotations.csv'
meta_keys = ('video', 'clip_index', 'clip_start', 'new_clips', 'burn_in')
train_pipeline = [
    dict(type='ClipGridDecode'),  # the staging reader: same frames as stream_infer
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
test_pipeline = [
    dict(type='ClipGridDecode'),  # the staging reader: same frames as stream_infer
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
dataset_args = dict(type='LongVideoDataset', classes=classes, num_clips=num_clips,
                    data_prefix=dict(video=data_root), **clip_grid)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='RecordingStreamSampler', batch_size=4, shuffle=True),
    dataset=dict(ann_file=ann_file, pipeline=train_pipeline, timeline='grid', **dataset_args))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file=ann_file, pipeline=test_pipeline, test_mode=True, **dataset_args))
test_dataloader = val_dataloader
max_epochs = 4
# from scratch: 3e-3 (and 1e-3 with the stream sampler on long recordings) collapsed the backbone
# to one output for every clip (issue 11); 1e-3 with a warm-up fits the clip-readable tasks
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.01),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0, by_epoch=True, begin=0, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=100)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(save_best=None))
