"""The resume state of one recording: versioned, every field checked on load, and a state that
fails the check means staging that recording over, never a crash or a wrong resume."""
import torch

from video_swin_plugin.models.necks.recurrent import FAMMemory
from video_swin_plugin.staging import stream_videos
from video_swin_plugin.staging.resume import STATE_VERSION, ResumeState

from .helpers import read_outputs, write_stage_video


def _state() -> ResumeState:
    memory = FAMMemory(torch.randn(1, 1, 4, 32), torch.zeros(1))
    return ResumeState(fingerprint='abc', info=dict(fps=8.0, num_frames=80), next_clip=7,
                       rows_bytes=123, skipped=[dict(start=1.0, end=2.0, reason='x', clips=1)],
                       errors=[dict(time=1.5, message='bad packet')], memory=memory)


def test_round_trip_keeps_every_field_and_the_memory(tmp_path):
    state = _state()
    state.save(tmp_path / 's.pt')
    loaded, why = ResumeState.load(tmp_path / 's.pt')
    assert why is None
    assert torch.equal(loaded.memory.tokens, state.memory.tokens)
    assert torch.equal(loaded.memory.fresh, state.memory.fresh)
    for name in ('fingerprint', 'info', 'next_clip', 'rows_bytes', 'skipped', 'errors', 'done',
                 'post', 'version'):
        assert getattr(loaded, name) == getattr(state, name), name
    # plain data on disk: readable without unpickling any class of ours
    raw = torch.load(tmp_path / 's.pt', weights_only=True)
    assert raw['version'] == STATE_VERSION and set(raw['memory']) == {'tokens', 'fresh'}


def test_bad_states_are_refused_with_the_reason(tmp_path):
    good = {f: v for f, v in vars(_state()).items()}
    good['memory'] = good['memory'].state_dict()
    cases = {
        'old version': (dict(good, version=2), 'version 2, expected'),
        'missing field': ({k: v for k, v in good.items() if k != 'rows_bytes'}, 'fields'),
        'wrong type': (dict(good, next_clip='7'), 'field next_clip is a str'),
        'negative': (dict(good, next_clip=-1), 'negative'),
        'memory half': (dict(good, memory=dict(tokens=torch.zeros(1))), 'memory lacks'),
    }
    for name, (raw, reason) in cases.items():
        torch.save(raw, tmp_path / f'{name}.pt')
        state, why = ResumeState.load(tmp_path / f'{name}.pt')
        assert state is None and reason in why, (name, why)
    (tmp_path / 'garbage.pt').write_bytes(b'not a torch file')
    state, why = ResumeState.load(tmp_path / 'garbage.pt')
    assert state is None and why.startswith('unreadable')


def test_a_foreign_state_file_means_staging_over(stream_classifier, tmp_path):
    clf = stream_classifier
    video = write_stage_video(tmp_path / 'night.mp4', [0] * 6 + [1] * 6)
    stream_videos(clf, [str(video)], tmp_path / 'ref', progress=False)
    out = tmp_path / 'out'
    out.mkdir()
    torch.save(dict(version=1, next_clip=5), out / 'night.state.pt')  # an older release's
    logged = []
    from video_swin_plugin.staging.job import StreamJob
    job = StreamJob(clf, str(out), progress=False, log=logged.append)
    report = job.run([(str(video), 'night.mp4')])
    assert report['videos'][0]['status'] == 'done'
    assert any('resume state version 1' in m and 'starting this video over' in m for m in logged)
    assert read_outputs(out, 'night') == read_outputs(tmp_path / 'ref', 'night')
