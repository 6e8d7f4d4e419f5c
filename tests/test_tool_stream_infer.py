"""tools/stream_infer.py killed with SIGKILL mid-video, then rerun with the same arguments: the
outputs equal those of an uninterrupted run."""
import json
import os
import signal
import subprocess
import time

import torch

from video_swin_plugin.apis.streaming import StreamingClassifier
from video_swin_plugin.staging import Smoothing, stream_videos

from .helpers import REPO, read_outputs, tool_command, write_stage_video


def test_sigkill_then_rerun_gives_the_outputs_of_an_uninterrupted_run(stream_model, tmp_path):
    config, checkpoint = stream_model.config, stream_model.checkpoint
    video = write_stage_video(tmp_path / 'night.mp4', [0] * 60 + [1] * 150 + [2] * 40 + [0] * 50)
    args = ['--smooth', 7, '--min-bout', 3, '--threads', 1, '--device', 'cpu']

    out = tmp_path / 'out'
    command = tool_command('stream_infer', [config, checkpoint, video, '--out-dir', out, *args])
    proc = subprocess.Popen(command + ['--save-every', '1'], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    state_file, done = out / 'night.state.pt', 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state_file.exists():
            try:
                done = torch.load(state_file, weights_only=True)['next_clip']
            except Exception:  # noqa: B902  (being replaced right now)
                pass
            if done >= 30:
                os.kill(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()[-2000:]
    state = torch.load(state_file, weights_only=True)
    assert 30 <= state['next_clip'] < 300 and not state['done']
    assert not (out / 'night.csv').exists()

    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming at clip {state['next_clip']}" in rerun.stderr

    # the uninterrupted run, in this process, with the same weights
    ref_clf = StreamingClassifier(str(config), str(checkpoint))
    stream_videos(ref_clf, [str(video)], tmp_path / 'ref', Smoothing(7, 'centred', 3.0),
                  progress=False)
    assert read_outputs(out, 'night') == read_outputs(tmp_path / 'ref', 'night')
    report = json.loads((out / 'run_report.json').read_text())
    assert report['videos'][0]['computed'] == 300 - state['next_clip']
