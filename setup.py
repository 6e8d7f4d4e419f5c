"""video_swin_plugin: Video Swin Transformer and a feedback-memory neck for mmaction2 1.x."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements(name: str) -> list:
    """Pinned requirements from ``name``, the one place the stack is pinned."""
    lines = (HERE / name).read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines
            if ln.split('#')[0].strip() and not ln.startswith('-r')]


setup(
    name='video_swin_plugin',
    version='0.1.0',
    description='Official-compatible Video Swin Transformer and FAM memory neck for mmaction2 1.x',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['video_swin_plugin', 'video_swin_plugin.*']),
    package_data={'video_swin_plugin': ['data/*.txt', 'data/*.md']},  # K400 class names
    python_requires='>=3.9',
    install_requires=requirements('requirements.txt'),
    extras_require={'tests': requirements('requirements-test.txt')},
    license='Apache-2.0',
)
