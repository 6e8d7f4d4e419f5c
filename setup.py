"""video_swin_plugin: Video Swin Transformer and a feedback-memory neck for mmaction2 1.x.

``install_requires`` says what the plugin is compatible with, so that installing it into a
working mmaction2 environment keeps that environment's torch, numpy and mmcv. The one exact,
tested set is the lock file (requirements.txt, requirements-test.txt) that scripts/setup.sh
installs. tests/test_packaging.py builds the wheel and checks its metadata holds no ``==`` pin.
"""
import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
PACKAGE = 'video_swin_plugin'
# What a wheel carries in video_swin_plugin/.mim/, where `mim` (search, download, train, test)
# and the package's console commands look for them after a plain `pip install`.
MIM_FILES = ('configs', 'tools', 'demo', 'model-index.yml')

INSTALL_REQUIRES = [
    # Tested: 2.13.0. Floor: compat allow-lists (callable, 'module.name') pairs with
    # torch.serialization.add_safe_globals, which takes them from torch 2.6 (pytorch#142153);
    # 2.6 is also the release that made weights_only=True the default that compat exists for.
    'torch>=2.6',
    # Tested: 0.10.7 (the whole suite) and 0.10.0 (registry, checkpoint, model index, download,
    # train/resume/test end-to-end tests). compat reads HistoryBuffer._statistics_methods
    # (private) and the 0.10 Runner checkpoint layout, so the next minor line stays out until
    # it is tested.
    'mmengine>=0.10.0,<0.11',
    # Tested: 1.1.0. 1.2.0's wheel and sdist lack mmaction/models/localizers/drn (upstream issue
    # 2714), so `import mmaction.models` fails with it.
    'mmaction2>=1.1.0,<1.2',
    # No mmcv here: mmaction2 declares none either, and a wheel cannot say "mmcv or mmcv-lite"
    # (both provide the `mmcv` module; requiring mmcv-lite would put it beside a GPU setup's
    # full mmcv, requiring mmcv would build it from source where no wheel fits). Choose one with
    # the `lite` or `mmcv` extra; the console commands name what to install when it is missing.
    # No OpenCV either: mmengine requires opencv-python and mmaction2 opencv-contrib-python, so
    # cv2 is always there; a third variant would be one more copy of the same module.
    # Floor: compat lists numpy.dtypes (numpy 1.25). Tested: 2.4.6.
    'numpy>=1.25',
    # Tested: 0.6.0, the last release (2021); mmaction2's decoders use it.
    'decord>=0.6.0',
    # Tested: 18.1.0. Floor: mmaction2's own; every PyAV API the streaming reader uses (av.open,
    # av.FFmpegError, Stream.thread_type/guessed_rate/frames, InputContainer.seek, VideoFrame
    # to/from_ndarray) exists in PyAV 9.0's source.
    'av>=9.0',
    # Tested: 1.17.1. Only ndimage.median_filter/uniform_filter1d, unchanged for a decade.
    'scipy',
    # Tested: 3.11.2. Floor: matplotlib.colormaps (hypnogram colours) is new in 3.5.
    'matplotlib>=3.5',
    # EDF+ hypnograms (annotations-only files). Tested: 0.4.18, the floor (older releases untried).
    'edfio>=0.4.18',
    # BORIS XLSX exports in, import tables out (Workbook, load_workbook). Tested: 3.1.5.
    'openpyxl>=3.1',
]

EXTRAS_REQUIRE = {
    # The ranges mmaction2 1.1 asserts at import (mmcv >= 2.0.0rc4, < 2.1.0).
    'lite': ['mmcv-lite>=2.0.0rc4,<2.1.0'],   # CPU, no compiled ops (tested: 2.0.1)
    'mmcv': ['mmcv>=2.0.0rc4,<2.1.0'],        # full mmcv, e.g. from OpenMMLab's CUDA wheels
    # mmengine's TensorboardVisBackend imports torch.utils.tensorboard, which needs tensorboard
    # >= 1.15 (torch checks it at import); mmengine's hint to also install `future` dates from
    # Python 2.
    'tensorboard': ['tensorboard>=1.15'],
}


def version() -> str:
    text = (HERE / PACKAGE / '__init__.py').read_text()
    return re.search(r"^__version__ = '([^']+)'", text, re.M).group(1)


class BuildPyWithMim(build_py):
    """``build_py`` that also copies configs/, tools/, demo/ and model-index.yml into the built
    package as ``video_swin_plugin/.mim/`` (the layout of mmaction2's ``add_mim_extension``).
    The top-level folders stay the only copy in git. An editable install skips this: the
    package then finds them in the checkout (see ``model_zoo.resource_root``)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = Path(self.build_lib) / PACKAGE / '.mim'
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        ignore = shutil.ignore_patterns('__pycache__', '*.py[co]', '*.part')
        for name in MIM_FILES:
            src = HERE / name
            if not src.exists():
                raise FileNotFoundError(f'{src} is missing; the wheel carries it in .mim/')
            if src.is_dir():
                shutil.copytree(src, target / name, ignore=ignore)
            else:
                shutil.copy2(src, target / name)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, 'editable_mode', False):
            return outputs
        mim = Path(self.build_lib) / PACKAGE / '.mim'
        return outputs + [str(p) for p in sorted(mim.rglob('*')) if p.is_file()]


setup(
    name=PACKAGE,
    version=version(),
    description='Official-compatible Video Swin Transformer and FAM memory neck for mmaction2 1.x',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    package_data={PACKAGE: ['data/*.txt', 'data/*.md']},  # K400 class names
    cmdclass={'build_py': BuildPyWithMim},
    # Only 3.11 is tested (CI and the lock file).
    python_requires='>=3.11',
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={'console_scripts': [
        'vsp-stage = video_swin_plugin.entry_points:stage',
        'vsp-classify = video_swin_plugin.entry_points:classify',
        'vsp-download = video_swin_plugin.entry_points:download',
    ]},
    license='Apache-2.0',  # the License field; setuptools >= 77 deprecates license classifiers
    license_files=['LICENSE'],
    classifiers=[
        'Development Status :: 3 - Alpha',
        'Intended Audience :: Science/Research',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
)
