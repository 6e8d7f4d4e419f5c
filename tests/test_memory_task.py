"""The memory benchmark at CI size (benchmarks/memory_task.py --size ci), through the tools as a
user runs them: recordings where a brief 8-px cue sets the class are written as mp4, the FAM and
the clip-only configs are trained with tools/train.py and the held-out recordings staged with
tools/stream_infer.py. After the cue has gone only a memory can tell the class."""
import csv
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


def test_staged_recipe_runs_through_the_tools(tmp_path):
    """--size full's recipe (its configs: FAM with the slow-start gate), shrunk: three stages,
    each from the previous one's checkpoint (short recordings, then longer ones, then longer
    ones in windows continued by state passing), then staging. Not a learning test (one epoch
    each): it shows each stage starts from the last one's weights and the last is staged."""
    import torch
    bench = load_benchmark()
    Stage = bench.Stage
    size = bench.TaskSize(stages=[Stage('short', 3, 4, (1, 2), epochs=1, num_clips=4,
                                        data_seed=5000),
                                  Stage('train', 3, 6, (1, 2), epochs=1, num_clips=6),
                                  Stage('long', 3, 12, (1, 2), epochs=1, num_clips=6,
                                        data_seed=4000, lr=1e-3)],
                          test_recordings=3, test_sec=12, cue_window=(1, 2),
                          pretrain_recordings=3, pretrain_epochs=1, pretrain_clips=4,
                          configs=dict(fam='fam_long'))
    roots = bench.write_data(str(tmp_path / 'data'), size, seed=0)
    for split, sec in (('short', 4), ('train', 6), ('long', 12), ('test', 12)):
        with open(roots[split] + '/cues.csv', newline='') as f:
            cues = list(csv.DictReader(f))
        with open(roots[split] + '/annotations.csv', newline='') as f:
            scored_to = max(float(row['end']) for row in csv.DictReader(f))
        assert len(cues) == 3 and all(1 <= float(c['cue_start']) <= 2 for c in cues), split
        assert scored_to == sec, split  # each split's recordings have their stage's length
    backbone = bench.pretrain(roots, size, 0, str(tmp_path))
    result = bench.run_model('fam', roots, size, 0, str(tmp_path), load_from=backbone['checkpoint'])
    work = tmp_path / 'fam_seed0'
    ckpts = [work / name / 'epoch_1.pth' for name in ('train_short', 'train', 'train_long')]
    states = [torch.load(c, map_location='cpu', weights_only=False)['state_dict'] for c in ckpts]
    assert result['checkpoint'] == str(ckpts[-1])
    assert set(result['stage_train_s']) == {'short', 'train', 'long'}
    assert result['train_s'] == round(sum(result['stage_train_s'].values()), 1)
    bias = 'neck.layers.0.gate.bias'
    assert states[0][bias].sub(-4.0).abs().max() < 0.1  # the long config's gate, trained once
    for i, name in enumerate(('train', 'train_long')):  # each from the previous checkpoint
        log = (work / f'{name}.log').read_text()
        assert 'Load checkpoint from' in log and str(ckpts[i]) in log, name
        assert not torch.equal(states[i][bias], states[i + 1][bias]), name  # trained on
    # the held-out recordings were staged with the last stage's checkpoint and scored
    assert result['clips'] > 0 and result['n cue'] > 0
