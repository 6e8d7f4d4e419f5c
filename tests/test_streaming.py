"""StreamingClassifier (apis/streaming.py): its per-clip loop is the model stepped by hand over
the reader's clips, carrying the memory."""
import numpy as np
import torch

from video_swin_plugin.video_reader import ClipReader


def test_run_equals_a_hand_loop_and_carries_memory(stage_videos, stream_classifier):
    results = list(stream_classifier.run(stage_videos / 'night_a.mp4'))
    assert [r.clip for r in results] == list(range(40))
    reader = ClipReader(stage_videos / 'night_a.mp4', stream_classifier.schedule,
                        stream_classifier.transform)
    memory = stream_classifier.init_memory()
    with torch.inference_mode():
        for clip, r in zip(reader, results):
            scores, memory = stream_classifier.model.predict_clip(clip.frames[None], memory)
            np.testing.assert_array_equal(scores[0].numpy(), r.scores)
    # the memory matters: continuing from clip 20 with a reset memory changes the scores
    resumed = list(stream_classifier.run(stage_videos / 'night_a.mp4', results[19].memory,
                                         start_clip=20))
    reset = list(stream_classifier.run(stage_videos / 'night_a.mp4', None, start_clip=20))
    for a, b in zip(resumed, results[20:]):
        np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.allclose(reset[0].scores, results[20].scores)
