"""tools/stream_infer.py warns about a recording whose model output has collapsed: on stderr
naming the recording and the class, in its summary JSON and the run report, exit status
unchanged; the trained demo model on a synthetic night does not warn."""
import json
from pathlib import Path

import pytest
import torch

from video_swin_plugin.datasets.synthetic import write_recordings

from .helpers import REPO, run_tool

DEMO = REPO / 'demo'


@pytest.fixture(scope='module')
def night(tmp_path_factory) -> Path:
    """One synthetic recording of 60 s in several stages (the demo model's kind of video)."""
    root = tmp_path_factory.mktemp('night')
    write_recordings(root, num_recordings=1, duration_sec=60, seed=3, prefix='videos')
    return root / 'videos' / 'recording_000.mp4'


def _stage(checkpoint, night: Path, out: Path, capsys):
    status = run_tool('stream_infer', [DEMO / 'sowsleep_synthetic_tiny.py', checkpoint, night,
                                       '--out-dir', out, '--no-progress', '--threads', 1])
    summary = json.loads((out / 'recording_000.json').read_text())
    report = json.loads((out / 'run_report.json').read_text())
    return status, summary, report['videos'][0], capsys.readouterr()


def test_collapsed_head_warns_in_stderr_summary_and_report(night, tmp_path, capsys):
    state = torch.load(DEMO / 'sowsleep_synthetic_tiny.pth', weights_only=True)
    state['state_dict']['cls_head.fc_cls.weight'].zero_()
    state['state_dict']['cls_head.fc_cls.bias'].copy_(torch.tensor([0.0, 3.0, 0.0]))
    checkpoint = tmp_path / 'constant.pth'
    torch.save(state, checkpoint)
    status, summary, entry, printed = _stage(checkpoint, night, tmp_path / 'out', capsys)
    assert status == 0 and summary['status'] == 'done'
    expected = "100.0% of 60 clips get the label 'nrem'"
    assert f'WARNING recording_000.mp4: the model output looks collapsed: {expected}' in \
        printed.err
    assert len(summary['warnings']) == 1 and expected in summary['warnings'][0]
    assert 'hardly vary' in summary['warnings'][0]
    assert entry['warnings'] == summary['warnings']
    assert expected in printed.out  # the per-recording status line

    # a rerun skips the finished recording and still reports its warning
    status, _, entry, _ = _stage(checkpoint, night, tmp_path / 'out', capsys)
    assert status == 0 and entry['note'].startswith('finished earlier')
    assert entry['warnings'] == summary['warnings']


def test_trained_model_does_not_warn(night, tmp_path, capsys):
    status, summary, entry, printed = _stage(DEMO / 'sowsleep_synthetic_tiny.pth', night,
                                             tmp_path / 'out', capsys)
    assert status == 0 and summary['clips']['scored'] == 60
    raw = summary['raw']['stages']
    assert sum(s['time_s'] > 0 for s in raw.values()) >= 2, raw  # the premise: several stages
    assert 'warnings' not in summary and 'warnings' not in entry
    assert 'collapsed' not in printed.err and 'collapsed' not in printed.out
