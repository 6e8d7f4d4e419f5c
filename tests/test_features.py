"""Embedding extraction (apis/features.py): views averaged, pooling, stages, on the tiny
recognizer (2 clips x 3 crops of 8 frames at 64 px)."""
import pytest
import torch


def _views_by_hand(model, cfg, path):
    """Every view's normalized clip, through mmaction2's own pipeline and preprocessor."""
    from mmengine.dataset import Compose, pseudo_collate
    packed = Compose(cfg.test_pipeline)(dict(filename=path, label=-1, start_index=0,
                                             modality='RGB'))
    return model.data_preprocessor(pseudo_collate([packed]), False)['inputs'][0]  # V, 3, T, H, W


def test_embedding_is_the_mean_over_views_of_the_pooled_backbone(tiny_recognizer, shared_data):
    from video_swin_plugin.apis.features import VideoEmbedder
    from video_swin_plugin.apis.inference import init_recognizer
    config, checkpoint, _ = tiny_recognizer
    model = init_recognizer(config, checkpoint)
    cfg = model.cfg
    video = str(shared_data / 'videos' / 'test.mp4')
    views = _views_by_hand(model, cfg, video)
    assert views.shape == (6, 3, 8, 64, 64)  # 2 clips x 3 crops
    with torch.no_grad():
        feats = model.backbone(views)  # 6, 128, 4, 2, 2
    embedder = VideoEmbedder(model, cfg.test_pipeline)
    per_view = embedder.views(video)
    torch.testing.assert_close(per_view, feats.mean(dim=(2, 3, 4)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embedder(video), feats.mean(dim=(0, 2, 3, 4)), atol=1e-5,
                               rtol=1e-5)
    assert not torch.allclose(per_view[0], per_view[1])  # views differ, so averaging matters
    # max pooling and avg+max
    vmax = VideoEmbedder(model, cfg.test_pipeline, pooling='max').views(video)
    torch.testing.assert_close(vmax, feats.amax(dim=(2, 3, 4)), atol=1e-5, rtol=1e-5)
    both = VideoEmbedder(model, cfg.test_pipeline, pooling='avgmax')(video)
    assert both.shape == (256, )


def test_stages(tiny_recognizer, shared_data):
    from video_swin_plugin.apis.features import view_embeddings
    from video_swin_plugin.apis.inference import init_recognizer
    config, checkpoint, _ = tiny_recognizer
    model = init_recognizer(config, checkpoint)
    views = _views_by_hand(model, model.cfg, str(shared_data / 'videos' / 'test.mp4'))[None]
    last = view_embeddings(model, views)  # 1, 6, 128
    # stage 3 by index is the backbone output (same norm); earlier stages are their raw output
    torch.testing.assert_close(view_embeddings(model, views, stage=3), last)
    captured = {}
    handle = model.backbone.layers[1].register_forward_hook(
        lambda m, a, out: captured.update(x=out[0]))
    with torch.no_grad():
        model.backbone(views[0])
    handle.remove()
    expected = captured['x'].mean(dim=(1, 2, 3))  # channels-last stage output, per view
    stage1 = view_embeddings(model, views, stage=1, pooling='max')
    assert stage1.shape == (1, 6, 32)
    torch.testing.assert_close(stage1[0], captured['x'].amax(dim=(1, 2, 3)), atol=1e-5,
                               rtol=1e-5)
    torch.testing.assert_close(view_embeddings(model, views, stage=1)[0], expected, atol=1e-5,
                               rtol=1e-5)
    with pytest.raises(ValueError, match='no neck'):
        view_embeddings(model, views, stage='neck')
    with pytest.raises(ValueError, match='stage 7 is not a stage'):
        view_embeddings(model, views, stage=7)
    with pytest.raises(ValueError, match='pooling must be one of'):
        view_embeddings(model, views, pooling='median')
