"""Clock time: a file's start from --start, its name, its container's creation_time or the
previous file's end, in that order; the lights-off / lights-on window."""
import datetime as dt

import av
import numpy as np
import pytest

from video_swin_plugin.errors import UsageError
from video_swin_plugin.staging.clock import (ClockSettings, NamePattern, comparable,
                                             container_creation_time, lights_window,
                                             parse_hhmm, parse_iso, plan_starts)

UTC = dt.timezone.utc


def _video(path, creation_time=None, frames=8):
    with av.open(str(path), 'w') as c:
        if creation_time:
            c.metadata['creation_time'] = creation_time
        s = c.add_stream('libx264', rate=8)
        s.width = s.height = 32
        s.pix_fmt = 'yuv420p'
        for _ in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8),
                                                         format='rgb24')):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


def test_iso_and_clock_parsing():
    assert parse_iso('2024-05-01T22:00') == dt.datetime(2024, 5, 1, 22, 0)
    assert parse_iso('2024-05-01 22:00:05Z') == dt.datetime(2024, 5, 1, 22, 0, 5, tzinfo=UTC)
    assert parse_iso('2024-05-01T22:00:05+02:00').utcoffset() == dt.timedelta(hours=2)
    with pytest.raises(UsageError, match="--start '1 May' is not an ISO 8601"):
        parse_iso('1 May')
    assert parse_hhmm('06:30', '--lights-on') == dt.time(6, 30)
    with pytest.raises(UsageError, match="--lights-off '25:00' is not a clock time"):
        parse_hhmm('25:00', '--lights-off')


def test_start_from_the_file_name():
    pattern = NamePattern(r'(\d{8}_\d{4})', '%Y%m%d_%H%M')
    assert pattern.start('cam1_20240501_2200.mp4') == dt.datetime(2024, 5, 1, 22, 0)
    assert pattern.start('notes.mp4') is None
    named = NamePattern(r'sow(?P<animal>\d+)_(?P<start>\d{6}-\d{6})', '%y%m%d-%H%M%S')
    assert named.start('sow3_240501-221530.avi') == dt.datetime(2024, 5, 1, 22, 15, 30)
    with pytest.raises(UsageError, match="'20241301_2200'.*does not fit the format"):
        pattern.start('cam1_20241301_2200.mp4')  # month 13
    with pytest.raises(UsageError, match='not a regular expression'):
        NamePattern('(', '%Y')
    with pytest.raises(UsageError, match='no strptime field'):
        NamePattern(r'(\d+)', 'YYYY')


def test_container_creation_time(tmp_path):
    tagged = _video(tmp_path / 'a.mp4', '2024-05-01T22:00:00.000000Z')
    assert container_creation_time(tagged) == dt.datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
    assert container_creation_time(_video(tmp_path / 'b.mp4')) is None
    # the epoch some muxers write for "unknown" is not a start
    assert container_creation_time(_video(tmp_path / 'c.mp4', '1970-01-01T00:00:00Z')) is None
    (tmp_path / 'd.mp4').write_text('not a video')
    assert container_creation_time(str(tmp_path / 'd.mp4')) is None


def test_sources_in_order(tmp_path):
    a = _video(tmp_path / 'cam1_20240501_2200.mp4', '2024-05-01T20:00:00Z')
    b = _video(tmp_path / 'part2.mp4', '2024-05-01T23:00:00Z')
    c = _video(tmp_path / 'part3.mp4')
    session = [(a, 'cam1_20240501_2200.mp4'), (b, 'part2.mp4'), (c, 'part3.mp4')]
    durations = {a: 3600.0, b: 1800.0, c: 600.0}
    pattern = NamePattern(r'(\d{8}_\d{4})', '%Y%m%d_%H%M')
    # --start wins for the first file; the name, then the container tag, then the previous end
    starts = plan_starts([session], ClockSettings('2024-05-01T21:55', pattern), durations.get)
    assert [(s.start, s.source) for s in starts.values()] == [
        (dt.datetime(2024, 5, 1, 21, 55), '--start'),
        (dt.datetime(2024, 5, 1, 23, 0, tzinfo=UTC), 'container creation_time'),
        (dt.datetime(2024, 5, 1, 23, 30, tzinfo=UTC), 'end of the previous file')]
    starts = plan_starts([session], ClockSettings(None, pattern), durations.get)
    assert starts['cam1_20240501_2200.mp4'].start == dt.datetime(2024, 5, 1, 22, 0)
    assert starts['cam1_20240501_2200.mp4'].source == 'file name'
    starts = plan_starts([session], ClockSettings(creation_time=False), durations.get)
    assert {s.source for s in starts.values()} == {'unknown'}
    assert starts['part2.mp4'].to_dict() == dict(start=None, source='unknown')


def test_start_option_needs_a_single_session():
    with pytest.raises(UsageError, match='2 sessions'):
        plan_starts([[('a', 'a.mp4')], [('b', 'b.mp4')]], ClockSettings('2024-05-01T22:00'),
                    lambda p: None)


def test_mixed_time_zones_become_wall_clock():
    naive, aware = dt.datetime(2024, 5, 1, 22), dt.datetime(2024, 5, 1, 23, tzinfo=UTC)
    assert comparable([naive, aware, None]) == [naive, aware.replace(tzinfo=None), None]
    assert comparable([aware, aware]) == [aware, aware]


@pytest.mark.parametrize('start, off, on, lights_off, lights_on', [
    ('2024-05-01T21:50', '22:00', '06:00', '2024-05-01T22:00', '2024-05-02T06:00'),
    ('2024-05-02T00:10', '23:30', '07:00', '2024-05-01T23:30', '2024-05-02T07:00'),
    ('2024-05-01T21:50', None, '06:00', None, '2024-05-02T06:00'),
])
def test_lights_window(start, off, on, lights_off, lights_on):
    got = lights_window(dt.datetime.fromisoformat(start),
                        dt.time.fromisoformat(off) if off else None,
                        dt.time.fromisoformat(on) if on else None)
    assert got == tuple(dt.datetime.fromisoformat(x) if x else None
                        for x in (lights_off, lights_on))
