# Sleep staging of sows from overnight video: Swin-T (official K400 weights) + FAM recurrent neck,
# trained on sequences of K consecutive clips of long recordings scored in intervals (CSV
# `video,start,end,label`). Self-contained: every setting is here.
default_scope = 'video_swin_plugin'
classes = ('awake', 'nrem', 'rem')
num_clips = 8            # K: consecutive clips per training sample (memory is carried through them)
# The clip grid (video_swin_plugin.clip_grid): training, testing and staging all cut recordings
# into these clips, and tools refuse a config whose datasets disagree with it.
clip_grid = dict(
    clip_len=32,             # frames per clip
    frame_interval=2,        # step between a clip's frames
    clip_stride_sec=10.0)    # seconds between consecutive clip starts (3 clips per 30-s epoch)
# The scorers' epoch: staging outputs (epoch table, EDF+ hypnogram, cohort statistics) average
# the clips whose centre falls in each epoch (stream_infer --epoch-sec overrides it).
scoring_epoch_sec = 30

model = dict(
    type='SequenceRecognizer3D',
    # TransformerFAM's random state passing (p=0.8 as the paper): a training window that continues
    # one seen earlier of the same recording starts from that window's final memory
    state_passing_prob=0.8,
    backbone=dict(
        type='SwinTransformer3D',
        patch_size=(2, 4, 4),
        embed_dim=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=(8, 7, 7),
        mlp_ratio=4.,
        qkv_bias=True,
        drop_path_rate=0.1,
        patch_norm=True,
        use_checkpoint=True),  # K clips per sample: activations K times a clip model's
    neck=dict(
        type='FAMNeck',
        in_channels=768,
        embed_dims=384,
        num_mem_tokens=16,
        num_layers=2,
        num_heads=8,
        token_grid=(2, 7, 7),   # stage-4 16x7x7 tokens pooled to 98 per clip
        drop_rate=0.1),
    cls_head=dict(
        type='I3DHead',
        in_channels=384,
        num_classes=len(classes),
        spatial_type='avg',
        dropout_ratio=0.5,
        topk=(1, )),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

# The official Swin-T Kinetics-400 weights (see checkpoints/README.md). mmengine's load_from is
# non-strict: it fills the backbone (official names, all keys match) and logs the new neck and
# the 400-class head as missing/mismatched, which is what fine-tuning wants.
load_from = 'checkpoints/swin_tiny_patch244_window877_kinetics400_1k.pth'

dataset_type = 'LongVideoDataset'
data_root = 'data/sowsleep'
ann_file_train = 'data/sowsleep/train.csv'   # split by animal: LongVideoDataset's split_by_recording
ann_file_val = 'data/sowsleep/val.csv'
ann_file_test = 'data/sowsleep/test.csv'
meta_keys = ('video', 'clip_index', 'clip_start', 'new_clips', 'burn_in')
train_pipeline = [
    dict(type='ClipGridDecode'),  # the staging reader: same frames as stream_infer
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),  # one crop for all K clips
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
test_pipeline = [
    dict(type='ClipGridDecode'),  # the staging reader: same frames as stream_infer
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
dataset_args = dict(type=dataset_type, classes=classes, num_clips=num_clips,
                    data_prefix=dict(video=data_root), **clip_grid)
train_dataloader = dict(
    batch_size=2, num_workers=4, persistent_workers=True,
    # each recording's windows in time order, recordings mixed across batches (the stream order
    # of RecordingStreamSampler gives correlated batches, which collapse at higher learning rates)
    sampler=dict(type='InterleavedRecordingSampler', shuffle=True),
    # the staging timeline: K consecutive clips of the grid, unscored ones as memory steps
    dataset=dict(ann_file=ann_file_train, pipeline=train_pipeline, timeline='grid',
                 **dataset_args))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ann_file=ann_file_val, pipeline=test_pipeline, test_mode=True, **dataset_args))
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ann_file=ann_file_test, pipeline=test_pipeline, test_mode=True, **dataset_args))
val_evaluator = dict(type='StagingMetric', classes=classes)
test_evaluator = val_evaluator

max_epochs = 20
optim_wrapper = dict(
    type='AmpIfCudaOptimWrapper',  # fp16 autocast where CUDA is present, fp32 on CPU
    optimizer=dict(type='AdamW', lr=3e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'backbone': dict(lr_mult=0.1),
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
        'memory_init': dict(decay_mult=0.),
        'pos_embed': dict(decay_mult=0.)}),
    clip_grad=dict(max_norm=1.0))
# no `end` / T_max: each scheduler then ends with train_cfg.max_epochs (mmengine fills it in), so
# a shorter or longer run keeps its warm-up and a whole cosine
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0, by_epoch=True, begin=0, convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='staging/balanced_accuracy', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
resume = False
