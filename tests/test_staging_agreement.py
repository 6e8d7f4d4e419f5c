"""Agreement with a scorer's labels (staging/agreement.py): per-clip truth at the clip centre,
gaps left out, scores from the project's metrics."""
import json
import shutil

from video_swin_plugin.staging import Smoothing, stream_videos

from .helpers import STAGE_NAMES


def test_labels_give_agreement_from_the_project_metrics(stream_classifier, tmp_path):
    from video_swin_plugin.datasets.synthetic import write_recordings
    from video_swin_plugin.evaluation.staging import staging_scores
    ann = write_recordings(tmp_path / 'data', num_recordings=1, duration_sec=40, epoch_sec=2,
                           fps=8, size=32, seed=3, gap_prob=0.2)
    video = tmp_path / 'data' / 'videos' / 'recording_000.mp4'
    out = tmp_path / 'out'
    stream_videos(stream_classifier, [str(video)], out, Smoothing(5), labels=str(ann),
                  progress=False)
    summary = json.loads((out / 'recording_000.json').read_text())
    agreement = summary['agreement']
    # recompute from the CSV and the CSV of intervals: the clip centre's interval
    rows = [r.split(',') for r in (out / 'recording_000.csv').read_text().splitlines()[1:]]
    intervals = [line.split(',') for line in ann.read_text().splitlines()[1:]]
    truth, raw, smoothed = [], [], []
    for r in rows:
        centre = (int(r[1]) * 8 + (stream_classifier.schedule.span - 1) / 2) / 8
        hit = [iv[3] for iv in intervals if float(iv[1]) <= centre < float(iv[2])]
        if hit:
            truth.append(STAGE_NAMES.index(hit[0]))
            raw.append(STAGE_NAMES.index(r[4]))
            smoothed.append(STAGE_NAMES.index(r[5]))
    assert 0 < agreement['raw']['clips'] == len(truth) < len(rows)  # gaps are left out
    for kind, pred in (('raw', raw), ('smoothed', smoothed)):
        expect = staging_scores(truth, pred, 3, STAGE_NAMES)
        assert agreement[kind]['accuracy'] == round(expect['accuracy'], 4)
        assert agreement[kind]['confusion_matrix'] == expect['confusion_matrix'].tolist()
        assert {'kappa', 'macro_f1', 'balanced_accuracy'} <= set(agreement[kind])
    # a video the labels do not list says so
    other = tmp_path / 'other.mp4'
    shutil.copy(video, other)
    stream_videos(stream_classifier, [str(other)], out, labels=str(ann), progress=False)
    assert 'not in labels' in json.loads((out / 'other.json').read_text())['agreement']['note']
