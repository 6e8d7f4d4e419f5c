"""tools/classify.py on a real video with the tiny recognizer: the top-k names and probabilities
it prints."""
from collections import OrderedDict

from video_swin_plugin.apis.inference import load_label_map

from .helpers import call_tool, run_tool


def test_classify_cli_prints_top_k_names(shared_data, tiny_recognizer, capsys):
    video = shared_data / 'videos' / 'demo_k400_arm_wrestling.mp4'
    argv = [tiny_recognizer.config, tiny_recognizer.checkpoint, video, '--top-k', 3]
    top = call_tool('classify', 'classify', argv)
    out = capsys.readouterr().out
    names = load_label_map('video_swin_plugin/data/label_map_k400.txt')
    assert isinstance(top, OrderedDict) and len(top) == 3
    assert all(name in names for name in top)
    probs = list(top.values())
    assert probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)
    printed = [line.split()[:-1] for line in out.strip().splitlines()[1:]]
    assert [' '.join(p) for p in printed] == list(top)
    assert run_tool('classify', argv) == 0 and capsys.readouterr().out == out
