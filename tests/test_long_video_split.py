"""split_by_recording refuses a split that would hold no recording (and warns for one asked to
be empty), before writing any file."""
import csv

import pytest

from video_swin_plugin.datasets.long_video import split_by_recording
from video_swin_plugin.errors import UsageError


def _ann(path, videos):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['video', 'start', 'end', 'label'])
        for v in videos:
            w.writerow([v, 0, 30, 'awake'])
    return str(path)


def test_a_split_that_would_be_empty_is_an_error(tmp_path):
    ann = _ann(tmp_path / 'all.csv', ['a.mp4', 'b.mp4', 'c.mp4'])
    out = {k: str(tmp_path / f'{k}.csv') for k in ('train', 'val', 'test')}
    with pytest.raises(UsageError, match=r"3 recording groups cannot fill the splits .*"
                                         r"\['val'\] would hold none"):
        split_by_recording(ann, out, {'train': 0.8, 'val': 0.1, 'test': 0.1})
    assert not any((tmp_path / f'{k}.csv').exists() for k in out)
    two = {k: out[k] for k in ('train', 'test')}
    with pytest.raises(UsageError, match=r'1 recording groups cannot fill'):
        split_by_recording(_ann(tmp_path / 'one.csv', ['a.mp4']), two,
                           {'train': 0.5, 'test': 0.5})


def test_a_split_asked_to_be_empty_warns(tmp_path):
    ann = _ann(tmp_path / 'all.csv', ['a.mp4', 'b.mp4'])
    out = {k: str(tmp_path / f'{k}.csv') for k in ('train', 'val')}
    with pytest.warns(UserWarning, match="split 'val' has fraction 0"):
        groups = split_by_recording(ann, out, {'train': 1.0, 'val': 0.0})
    assert groups == {'train': ['a.mp4', 'b.mp4'], 'val': []}
