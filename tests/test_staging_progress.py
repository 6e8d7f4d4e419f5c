"""Progress in a log: a line every `step` of the clips or every `interval_sec`, not per clip."""
import io

from video_swin_plugin.staging.progress import Progress


def test_a_pipe_gets_a_few_lines_per_recording():
    stream = io.StringIO()
    bar = Progress('night.mp4', 43200, stream=stream, interval_sec=3600)  # 12 h at 1 s
    for _ in range(43200):
        bar.update()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 20 and len(stream.getvalue()) < 2000  # one every 5%
    assert lines[0].startswith('night.mp4: 2160/43200 clips (5%), ')
    assert lines[-1].startswith('night.mp4: 43200/43200 clips (100%), ')
    assert lines[-1].endswith(' left') and 'clips/s' in lines[-1]


def test_a_slow_recording_reports_by_time():
    stream = io.StringIO()
    bar = Progress('night.mp4', 10 ** 6, stream=stream, interval_sec=0.0)
    for _ in range(3):
        bar.update()
    assert len(stream.getvalue().splitlines()) == 3
