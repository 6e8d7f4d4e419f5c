"""What staging writes for a recording (staging/reports.py, hypnogram.py): the per-clip CSV, the
summary JSON and the hypnogram PNG."""
import json

from video_swin_plugin.staging import Smoothing, stream_videos

from .helpers import STAGE_NAMES


def test_outputs_format(stage_videos, stream_classifier, tmp_path):
    stream_videos(stream_classifier, [str(stage_videos / 'night_a.mp4')], tmp_path, Smoothing(5),
                  progress=False)
    rows = (tmp_path / 'night_a.csv').read_text().splitlines()
    assert rows[0] == 'video,clip,start,end,label,smoothed_label,p_awake,p_nrem,p_rem'
    assert len(rows) == 41
    first = rows[1].split(',')
    assert first[:4] == ['night_a.mp4', '0', '0.000', '0.875']
    assert first[4] in STAGE_NAMES and first[5] in STAGE_NAMES
    assert abs(sum(float(p) for p in first[6:]) - 1) < 1e-5
    summary = json.loads((tmp_path / 'night_a.json').read_text())
    for kind in ('raw', 'smoothed'):
        stats = summary[kind]
        assert sum(s['time_s'] for s in stats['stages'].values()) == 40.0
        assert abs(sum(s['share'] for s in stats['stages'].values()) - 1) < 1e-3
        assert stats['transitions']['total'] == sum(stats['transitions']['by_pair'].values())
        assert 'latency_to_first_sleep_s' in stats
    assert (summary['smoothed']['transitions']['total']
            <= summary['raw']['transitions']['total'])
    png = (tmp_path / 'night_a.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000
