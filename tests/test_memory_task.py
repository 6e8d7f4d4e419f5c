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
