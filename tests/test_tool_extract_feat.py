"""tools/extract_feat.py with the tiny recognizer: per-video embeddings (.npy + index), bad videos
reported, and per-clip embeddings on the streaming reader's clip grid."""
import csv
import shutil

import numpy as np
import torch

from .helpers import load_tool


def test_tool_writes_npy_and_index_and_reports_bad_videos(tiny_recognizer, shared_data, tmp_path,
                                                          capsys):
    from video_swin_plugin.apis.features import VideoEmbedder
    from video_swin_plugin.apis.inference import init_recognizer
    config, checkpoint, _ = tiny_recognizer
    videos = shared_data / 'videos'
    shutil.copy(videos / 'test.avi', tmp_path / 'b.avi')
    (tmp_path / 'empty.mp4').write_bytes(b'')
    listing = tmp_path / 'list.txt'
    listing.write_text(f'{videos / "test.mp4"} 3\n# a comment\nb.avi 1\nempty.mp4 0\n'
                       'missing.mp4 2\n')
    out = tmp_path / 'out' / 'feats'
    tool = load_tool('extract_feat')
    rc = tool.main([config, checkpoint, str(listing), '--video-root', str(tmp_path), '--out',
                    str(out), '--pooling', 'avgmax'])
    assert rc == 1  # two videos could not be read
    err = capsys.readouterr().err
    assert f'skipped {tmp_path / "empty.mp4"}' in err and 'missing.mp4' in err
    feats = np.load(str(out) + '.npy')
    with open(str(out) + '.csv') as f:
        rows = list(csv.DictReader(f))
    assert feats.shape == (2, 256) and feats.dtype == np.float32
    assert [r['video'] for r in rows] == [str(videos / 'test.mp4'), str(tmp_path / 'b.avi')]
    assert [r['num_views'] for r in rows] == ['6', '6']
    model = init_recognizer(config, checkpoint)
    cfg = model.cfg
    expected = VideoEmbedder(model, cfg.test_pipeline, pooling='avgmax')(str(tmp_path / 'b.avi'))
    np.testing.assert_allclose(feats[1], expected.numpy(), atol=1e-5)


def test_per_clip_embeddings_through_the_streaming_reader(tiny_recognizer, shared_data, tmp_path):
    config, checkpoint, model = tiny_recognizer
    video = shared_data / 'videos' / 'test.mp4'  # 300 frames at 30 fps
    out = tmp_path / 'clips'
    tool = load_tool('extract_feat')
    rc = tool.main([config, checkpoint, str(video), '--out', str(out), '--per-clip',
                    '--stride-sec', '2.0'])
    assert rc == 0
    feats = np.load(str(out) + '.npy')
    with open(str(out) + '.csv') as f:
        rows = list(csv.DictReader(f))
    # clips of 8 frames 2 apart (span 15) every 2 s in 10 s: starts 0, 2, 4, 6, 8
    assert [float(r['start_sec']) for r in rows] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert feats.shape == (5, 128)
    assert not np.allclose(feats[0], feats[-1])
    # clip 0 by hand: frames 0, 2, ..., 14, short side 64, centre crop 64
    import decord
    from mmaction.datasets.transforms import CenterCrop, Resize
    frames = decord.VideoReader(str(video)).get_batch(list(range(0, 16, 2))).asnumpy()
    results = Resize(scale=(-1, 64))(dict(imgs=list(frames), img_shape=frames.shape[1:3]))
    results = CenterCrop(crop_size=64)(results)
    clip = torch.from_numpy(np.stack(results['imgs']).transpose(3, 0, 1, 2).copy())[None]
    data = model.data_preprocessor(dict(inputs=[clip], data_samples=None), False)
    with torch.no_grad():
        expected = model.backbone(data['inputs'][0]).mean(dim=(0, 2, 3, 4))
    np.testing.assert_allclose(feats[0], expected.numpy(), atol=1e-4)
