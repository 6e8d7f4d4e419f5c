"""The package as a user installs it: sdist -> wheel (as `python -m build` does), the wheel's
metadata and .mim/ files, then `pip install --no-deps` into a fresh venv that reuses the pinned
stack, and from an empty directory: the staging command on a generated video with the demo
model, configs by name, `mim search`, `mim download` and `mim test`. No network: the build runs
without isolation and pip installs with --no-index."""
import re
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from video_swin_plugin.datasets.synthetic import write_recordings

from .helpers import DEMO_MODEL, FAM_MODELS, MEMORY_MODELS, REPO, SWIN_MODELS

# Requires-Dist entries allowed an exact `==` pin, each with its reason. None: every pin of the
# tested stack lives in requirements.txt, which a wheel does not impose on an environment.
PIN_EXCEPTIONS = {}
MIM_FOLDERS = ('configs', 'tools', 'demo')
NAMES = SWIN_MODELS + FAM_MODELS + [DEMO_MODEL] + MEMORY_MODELS  # model-index.yml order


def run(cmd, cwd, timeout=300, env=None) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, f'{cmd} -> {proc.returncode}\n{proc.stdout[-3000:]}\n' \
                                 f'{proc.stderr[-3000:]}'
    return proc.stdout


def source_files() -> list:
    """The checkout's files as git sees them (tracked, and new ones not ignored)."""
    out = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], REPO)
    return [f for f in out.splitlines() if (REPO / f).is_file()]


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """(wheel path, seconds) for a wheel built from an sdist of a copy of the checkout."""
    start = time.time()
    tmp = tmp_path_factory.mktemp('build')
    src = tmp / 'src'
    for rel in source_files():  # a copy: the build writes build/ and *.egg-info beside setup.py
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes((REPO / rel).read_bytes())
    dist = tmp / 'dist'
    sdist = run([sys.executable, '-c', 'import sys; from setuptools import build_meta as b; '
                 'print(b.build_sdist(sys.argv[1]))', dist], src).strip().splitlines()[-1]
    with tarfile.open(dist / sdist) as tar:
        tar.extractall(tmp / 'sdist', filter='data')
    (unpacked,) = (tmp / 'sdist').iterdir()
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index',
         '-q', '-w', dist, unpacked], tmp)
    (wheel,) = dist.glob('*.whl')
    return wheel, time.time() - start


def wheel_text(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(suffix)]
        return zf.read(name).decode()


def test_requires_dist_are_ranges_not_pins(built):
    metadata = wheel_text(built[0], '.dist-info/METADATA')
    requires = re.findall(r'^Requires-Dist: (.+)$', metadata, re.M)
    for req in map(Requirement, requires):
        pinned = any(spec.operator in ('==', '===') for spec in req.specifier)
        assert not pinned or req.name in PIN_EXCEPTIONS, f'exact pin in the wheel: {req}'
    runtime = [r for r in requires if 'extra ==' not in r]
    for name in ('torch', 'mmengine', 'mmaction2', 'numpy', 'decord', 'av', 'scipy', 'matplotlib'):
        assert any(r.lower().startswith(name) for r in runtime), name
    # mmcv comes from the environment or an extra; cv2 from mmengine/mmaction2's own requirements
    assert not any(r.startswith(('mmcv', 'opencv')) for r in runtime), runtime
    assert 'mmaction2<1.2,>=1.1.0' in runtime  # 1.2.0's wheel is broken (STACK.md)
    assert 'mmcv-lite<2.1.0,>=2.0.0rc4; extra == "lite"' in requires
    assert any(r.startswith('tensorboard') and 'extra == "tensorboard"' in r for r in requires)
    tested = f'{sys.version_info.major}.{sys.version_info.minor}'
    assert f'Requires-Python: >={tested}' in metadata
    assert f'Classifier: Programming Language :: Python :: {tested}' in metadata
    assert 'License-File: LICENSE' in metadata
    assert 'Apache License' in wheel_text(built[0], '.dist-info/licenses/LICENSE')
    entry_points = wheel_text(built[0], '.dist-info/entry_points.txt')
    for command, function in (('vsp-stage', 'stage'), ('vsp-classify', 'classify'),
                              ('vsp-download', 'download')):
        assert f'{command} = video_swin_plugin.entry_points:{function}' in entry_points


def test_mim_folder_is_built_from_the_top_level_folders(built):
    with zipfile.ZipFile(built[0]) as zf:
        prefix = 'video_swin_plugin/.mim/'
        packed = {n[len(prefix):]: zf.read(n) for n in zf.namelist() if n.startswith(prefix)}
    expected = {f for f in source_files() if f.split('/')[0] in MIM_FOLDERS} | {'model-index.yml'}
    assert set(packed) == expected
    for rel in expected:
        assert packed[rel] == (REPO / rel).read_bytes(), rel
    assert not (REPO / 'video_swin_plugin' / '.mim').exists()  # never committed


@pytest.fixture(scope='module')
def installed(built, tmp_path_factory):
    """(venv python, venv site-packages, environment) of a fresh venv holding only the wheel,
    with the pinned stack reached through a .pth file."""
    venv = tmp_path_factory.mktemp('venv') / 'fresh'
    run([sys.executable, '-m', 'venv', '--without-pip', venv], venv.parent)
    python = venv / 'bin' / 'python'
    site = Path(run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                    venv.parent).strip())
    (site / '_pinned_stack.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-deps', '--no-index',
         '-q', built[0]], venv.parent)
    env = {k: v for k, v in __import__('os').environ.items() if not k.startswith('PYTHON')}
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    return python, site, env


def test_installed_package_runs_from_an_empty_directory(built, installed, tmp_path):
    start = time.time()
    python, site, env = installed
    package = site / 'video_swin_plugin'
    work = tmp_path / 'empty'
    work.mkdir()

    # configs by name, from the installed package (not the checkout)
    out = run([python, '-c', 'import video_swin_plugin as p; from video_swin_plugin import '
               'model_zoo as z; e = z.get_model("sowsleep_synthetic_tiny"); '
               'print(p.__file__); print(z.resolve_config('
               '"swin_tiny_patch244_window877_kinetics400_1k")); print(e.config); '
               'print(e.packaged_weights)'], work, env=env)
    init, tiny, demo_config, demo_weights = out.strip().splitlines()[-4:]
    assert Path(init) == package / '__init__.py'
    assert Path(tiny) == package / '.mim/configs/recognition/swin/' \
        'swin_tiny_patch244_window877_kinetics400_1k.py'
    assert Path(demo_config) == package / '.mim/demo/sowsleep_synthetic_tiny.py'
    assert Path(demo_weights) == package / '.mim/demo/sowsleep_synthetic_tiny.pth'

    # the staging command on a generated night with the demo model, config given by name
    data = tmp_path / 'data'
    write_recordings(data, num_recordings=1, duration_sec=20, seed=0, ann_name='test.csv')
    video = data / 'videos' / 'recording_000.mp4'
    out = run([python.parent / 'vsp-stage', 'sowsleep_synthetic_tiny', demo_weights, video,
               '--out-dir', 'out', '--no-progress', '--threads', '1'], work, env=env)
    assert 'done  recording_000.mp4' in out
    rows = (work / 'out' / 'recording_000.csv').read_text().strip().splitlines()
    assert len(rows) == 1 + 20  # header + one row per one-second clip
    assert (work / 'out' / 'recording_000.png').stat().st_size > 0

    # mim finds the models in the installed package
    out = run([python, '-m', 'mim', 'search', 'video_swin_plugin'], work, env=env)
    assert re.findall(r'^config id: (\S+)$', out, re.M) == NAMES
    assert re.search(r'^kinetics-400/top_1_accuracy\s+78\.8$', out, re.M)
    # mim download: the weights are already in --dest (no network), so it only dumps the
    # config it finds in .mim/
    dest = work / 'checkpoints'
    dest.mkdir()
    (dest / f'{NAMES[0]}.pth').write_bytes(b'')
    out = run([python, '-m', 'mim', 'download', 'video_swin_plugin', '--config', NAMES[0],
               '--dest', dest], work, env=env)
    assert f'{NAMES[0]}.pth exists' in out
    assert "type='SwinTransformer3D'" in (dest / f'{NAMES[0]}.py').read_text()
    # mim test runs .mim/tools/test.py on the config it finds by file name
    out = run([python, '-m', 'mim', 'test', 'video_swin_plugin', 'sowsleep_synthetic_tiny.py',
               '--checkpoint', demo_weights, '--work-dir', 'work_dirs',
               '--cfg-options', f'test_dataloader.dataset.ann_file={data / "test.csv"}',
               f'test_dataloader.dataset.data_prefix.video={data}',
               'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False'],
              work, env=env)
    assert str(package / '.mim/tools/test.py') in out and 'Testing finished successfully' in out
    assert re.search(r'staging/accuracy=[01]\.\d{4}', out)
    print(f'packaging: build {built[1]:.1f} s, install + run {time.time() - start:.1f} s')
