"""tools/demo_sleep.py: the committed demo model stages a synthetic night."""
import json

from .helpers import load_tool


def test_demo_model_fits_its_config_and_stages_a_short_synthetic_night(tmp_path):
    """The committed demo pair (demo/*.py + *.pth, loaded strictly) still builds and stages
    the demo's synthetic night; a regression guard for the main job."""
    demo = load_tool('demo_sleep')
    assert demo.main(['--out-dir', str(tmp_path), '--minutes', '6', '--seed', '7',
                      '--no-progress']) == 0
    summary = json.loads((tmp_path / 'recording_000.json').read_text())
    assert summary['clips']['scored'] == 360
    assert summary['smoothed']['stages']['nrem']['time_s'] > 0  # the night reaches sleep
    assert summary['agreement']['smoothed']['accuracy'] > 0.9
    assert (tmp_path / 'recording_000.png').read_bytes()[:4] == b'\x89PNG'
