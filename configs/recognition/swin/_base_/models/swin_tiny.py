# Swin-T recognizer (Liu et al., Video Swin Transformer). Official model settings; the K400 configs
# set patch_size (2, 4, 4), drop_path_rate and max_testing_views per model.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='SwinTransformer3D',  # video_swin_plugin's (default_scope), official argument names
        pretrained=None,
        pretrained2d=True,
        patch_size=(2, 4, 4),
        embed_dim=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=(8, 7, 7),
        mlp_ratio=4.,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.2,
        patch_norm=True),
    data_preprocessor=dict(  # the official img_norm_cfg, RGB; runs on the batch
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'),
    cls_head=dict(
        type='I3DHead',
        in_channels=768,
        num_classes=400,
        spatial_type='avg',
        dropout_ratio=0.5,
        average_clips='prob'),
    test_cfg=dict(max_testing_views=4))
