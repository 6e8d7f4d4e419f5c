"""The memory benchmark at CI size (benchmarks/memory_task.py --size ci), through the tools as a
user runs them: recordings where a brief 8-px cue sets the class are written as mp4, the FAM and
the clip-only configs are trained with tools/train.py and the held-out recordings staged with
tools/stream_infer.py. After the cue has gone only a memory can tell the class."""
import importlib.util

from .helpers import REPO


def load_benchmark():
    spec = importlib.util.spec_from_file_location('memory_task',
                                                  REPO / 'benchmarks' / 'memory_task.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fam_remembers_the_cue_the_clip_model_cannot(tmp_path):
    bench = load_benchmark()
    results = {r['model']: r for r in bench.main(['--size', 'ci', '--models', 'fam', 'clip',
                                                  '--seeds', '0', '--jobs', '2',
                                                  '--work-dir', str(tmp_path)])}
    far = f'>={bench.FAR_STEPS} steps'
    fam, clip = results['fam'], results['clip']
    # the tiny config fits the clip-readable variant (the cue on screen all the time)
    assert fam['visible_acc'] >= 0.95, fam
    assert fam[f'n {far}'] >= 40 and clip[f'n {far}'] == fam[f'n {far}']
    # the clip model sees the cue while it is on screen, so it learnt the colours ...
    assert clip['cue'] >= 0.6, clip
    # ... but is near chance (1/3) once the cue has gone; FAM keeps it in memory
    assert clip[far] <= 1 / 3 + 0.2, clip
    assert fam[far] - clip[far] >= 0.3, (fam, clip)


def test_two_stage_recipe_runs_through_the_tools(tmp_path):
    """--size full's recipe (its configs: FAM with the slow-start gate and 60-clip windows),
    shrunk: a first stage on short recordings, a second from its checkpoint on longer ones in
    windows continued by state passing, then staging. Not a learning test (one epoch each):
    it shows the second stage starts from the first's weights and is what gets staged."""
    import torch
    bench = load_benchmark()
    size = bench.TaskSize(train_recordings=3, train_sec=6, test_recordings=3, test_sec=12,
                          cue_window=(1, 2), epochs=1, num_clips=6, pretrain_recordings=3,
                          pretrain_epochs=1, pretrain_clips=4, long_recordings=3, long_sec=12,
                          long_epochs=1, configs=dict(fam='fam_long'))
    roots = bench.write_data(str(tmp_path / 'data'), size, seed=0)
    assert len((tmp_path / 'data' / 'long' / 'cues.csv').read_text().splitlines()) == 1 + 3
    backbone = bench.pretrain(roots, size, 0, str(tmp_path))
    result = bench.run_model('fam', roots, size, 0, str(tmp_path), load_from=backbone['checkpoint'])
    work = tmp_path / 'fam_seed0'
    first = torch.load(work / 'train' / 'epoch_1.pth', map_location='cpu', weights_only=False)
    second = torch.load(work / 'train_long' / 'epoch_1.pth', map_location='cpu',
                        weights_only=False)
    assert result['checkpoint'] == str(work / 'train_long' / 'epoch_1.pth')
    assert result['train_s'] == round(result['first_stage_s'] + result['long_stage_s'], 1)
    bias = 'neck.layers.0.gate.bias'
    assert first['state_dict'][bias].sub(-4.0).abs().max() < 0.1  # the long config's gate
    assert not torch.equal(first['state_dict'][bias], second['state_dict'][bias])  # trained on
    log = (work / 'train_long.log').read_text()
    assert 'Load checkpoint from' in log and str(work / 'train' / 'epoch_1.pth') in log
    # the held-out recordings were staged with the second stage's checkpoint and scored
    assert result['clips'] > 0 and result['n cue'] > 0
