"""Host memory does not grow with the recording: peak RSS staging 1,000 clips is within 2% of
staging 20 (each in a fresh process, the whole job: decode, model, resume state saved every clip,
CSV, summary and hypnogram)."""
import json
import subprocess
import sys
import textwrap

import numpy as np

from .helpers import REPO, write_stage_video

CHILD = textwrap.dedent('''
    import json, resource, sys
    import torch
    torch.set_num_threads(1)
    from tests.helpers import tiny_stream_config
    from video_swin_plugin.apis.streaming import StreamingClassifier
    from video_swin_plugin.staging import stream_videos
    clf = StreamingClassifier(tiny_stream_config())
    report = stream_videos(clf, [sys.argv[1]], sys.argv[2], progress=False)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(peak_kib=peak_kib, clips=report['videos'][0]['clips'],
                          status=report['videos'][0]['status'])))
''')


def _peak(video, out_dir, repo):
    proc = subprocess.run([sys.executable, '-c', CHILD, str(video), str(out_dir)], cwd=repo,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_peak_memory_1000_clips_within_2_percent_of_20(tmp_path):
    rng = np.random.default_rng(0)
    # 64 px frames (resized to 32 for the model): holding on to decoded frames would cost
    # ~100 kB a clip, ~100 MB over the long run
    long_stages = np.repeat(rng.integers(0, 3, 50), 20)  # 1,000 s, bouts of 20 s
    short = write_stage_video(tmp_path / 'short.mp4', long_stages[:20], size=64)
    long = write_stage_video(tmp_path / 'long.mp4', long_stages, size=64)
    small = _peak(short, tmp_path / 'out_short', REPO)
    large = _peak(long, tmp_path / 'out_long', REPO)
    assert small['status'] == large['status'] == 'done'
    assert (small['clips'], large['clips']) == (20, 1000)
    growth = (large['peak_kib'] - small['peak_kib']) / small['peak_kib']
    print(f"peak RSS: 20 clips {small['peak_kib'] / 1024:.1f} MiB, 1000 clips "
          f"{large['peak_kib'] / 1024:.1f} MiB ({100 * growth:+.2f}%)")
    assert abs(growth) <= 0.02
