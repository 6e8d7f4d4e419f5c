"""The model index (model_zoo.py: model-index.yml + metafiles) against the configs, the READMEs
and the models they build; configs by name."""
import re
from pathlib import Path

import pytest
import torch

from video_swin_plugin import model_zoo
from video_swin_plugin.apis.inference import init_recognizer
from video_swin_plugin.errors import ConfigError, UsageError

from .helpers import DEMO_MODEL, FAM_MODELS, MEMORY_MODELS, REPO, SWIN_MODELS

RELEASE = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.4/'


@pytest.fixture(scope='module')
def index():
    return model_zoo.load_index()


def readme_table(path: Path, first_header: str) -> list:
    """Rows (lists of cells, backticks dropped) of the Markdown table whose header starts with
    ``first_header``."""
    rows, inside = [], False
    for line in path.read_text().splitlines():
        cells = [c.strip().strip('`') for c in line.strip().strip('|').split('|')]
        if line.startswith('|') and cells[0] == first_header:
            inside = True
        elif inside and line.startswith('|'):
            if not set(cells[0]) <= set('-: '):
                rows.append(cells)
        elif inside:
            break
    return rows


def test_checkout_is_the_resource_root_of_an_editable_install():
    assert model_zoo.resource_root() == REPO
    assert not (REPO / 'video_swin_plugin' / '.mim').exists()  # built into wheels, not committed


def test_index_lists_every_config_by_its_file_stem(index):
    assert list(index) == SWIN_MODELS + FAM_MODELS + [DEMO_MODEL] + MEMORY_MODELS
    configs = {p.stem for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts}
    configs |= {p.stem for p in (REPO / 'demo').glob('*.py')}
    assert set(index) == configs
    for name, entry in index.items():
        assert entry.config.stem == name and entry.config.is_file()


def test_official_weights_urls_and_file_names(index):
    listed = {row[0] for row in readme_table(REPO / 'checkpoints' / 'README.md', 'file')}
    for name in SWIN_MODELS:
        assert index[name].weights == f'{RELEASE}{name}.pth'
        assert index[name].filename in listed
    assert len(listed) == len(SWIN_MODELS)
    for name in FAM_MODELS + [DEMO_MODEL] + MEMORY_MODELS:
        assert index[name].weights is None
    assert index[DEMO_MODEL].packaged_weights == REPO / 'demo' / f'{DEMO_MODEL}.pth'
    assert index[DEMO_MODEL].packaged_weights.is_file()


def test_results_are_the_published_ones_with_their_views(index):
    rows = readme_table(REPO / 'configs/recognition/swin/README.md', 'config')
    assert [r[0] for r in rows] == [f'{n}.py' for n in SWIN_MODELS]
    for config, ckpt, pretrain, top1, top5, views, params in rows:
        entry = index[config[:-3]]
        assert entry.filename == ckpt
        (result,) = entry.results
        assert result['Metrics'] == {'Top 1 Accuracy': float(top1), 'Top 5 Accuracy': float(top5)}
        clips, crops = views.split(' x ')
        assert entry.metadata['Testing Views'] == \
            f'{clips} clip{"s" if clips != "1" else ""} x {crops} crops'
        assert entry.metadata['Pretrained'].split(' (')[0] == pretrain.split(' (')[0]
        expected_data = {'kinetics400': 'Kinetics-400', 'kinetics600': 'Kinetics-600',
                         'sthv2': 'Something-Something V2'}
        data = next(v for k, v in expected_data.items() if k in config)
        assert entry.metadata['Training Data'] == data == result['Dataset']
        assert abs(float(entry.metadata['Parameters'][:-1]) - float(params.split()[0])) <= 0.06


def _count(value: str) -> float:
    number, unit = re.fullmatch(r'([\d.]+)([MG])', value).groups()
    return float(number) * {'M': 1e6, 'G': 1e9}[unit]


def test_parameters_are_counted_on_the_built_models(index, monkeypatch):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from video_swin_plugin import registry
    init_default_scope('video_swin_plugin')
    for fn in ('trunc_normal_', 'kaiming_uniform_', 'uniform_', 'normal_'):  # shapes only
        monkeypatch.setattr(torch.nn.init, fn, lambda tensor, *args, **kwargs: tensor)
    for name, entry in index.items():
        cfg = Config.fromfile(entry.config)
        cfg.model.backbone.pop('pretrained', None)
        params = sum(p.numel() for p in registry.MODELS.build(cfg.model).parameters())
        assert abs(params - _count(entry.metadata['Parameters'])) <= 0.005e6, (name, params)


def test_flops_of_the_tiny_configs_are_measured_ones(index):
    """FLOPs as the FAM metafile says they were counted: multiply-adds of one clip step,
    plain-attention path (fused attention is invisible to the counter)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from torch.utils.flop_counter import FlopCounterMode

    from video_swin_plugin import registry
    init_default_scope('video_swin_plugin')
    for name in ('swin_tiny_fam_sowsleep_synthetic_tiny', DEMO_MODEL):
        cfg = Config.fromfile(index[name].config)
        cfg.model.backbone.fused_attention = cfg.model.neck.fused_attention = False
        model = registry.MODELS.build(cfg.model).eval().requires_grad_(False)
        memory = model.init_memory(1)
        with FlopCounterMode(display=False) as counter:
            model.predict_clip(torch.zeros(1, 3, 8, 32, 32), memory)
        macs = counter.get_total_flops() / 2
        assert abs(macs - _count(index[name].metadata['FLOPs'])) <= 0.05e6, (name, macs)


def test_config_by_name_path_or_relative_path(tmp_path, monkeypatch):
    tiny = REPO / 'configs/recognition/swin/swin_tiny_patch244_window877_kinetics400_1k.py'
    assert model_zoo.resolve_config(tiny.stem) == str(tiny)
    assert model_zoo.resolve_config(tiny.name) == str(tiny)
    assert model_zoo.resolve_config(str(tiny)) == str(tiny)
    assert model_zoo.resolve_config(DEMO_MODEL) == str(REPO / 'demo' / f'{DEMO_MODEL}.py')
    monkeypatch.chdir(tmp_path)  # from elsewhere, the path the READMEs use
    assert model_zoo.resolve_config('configs/recognition/swin/' + tiny.name) == str(tiny)
    local = tmp_path / tiny.name  # a file of the same name in the cwd wins
    local.write_text('x = 1\n')
    assert model_zoo.resolve_config(tiny.name) == tiny.name
    with pytest.raises(FileNotFoundError, match=r"config file not found: swin_tiny_patch244_"
                       r"window877_kinetics400 .*did you mean swin_tiny_patch244_window877"):
        model_zoo.resolve_config('swin_tiny_patch244_window877_kinetics400')
    with pytest.raises(FileNotFoundError, match='config file not found: nope/x.py'):
        model_zoo.resolve_config('nope/x.py')


def test_init_recognizer_takes_a_config_name():
    model = init_recognizer(DEMO_MODEL, str(REPO / 'demo' / f'{DEMO_MODEL}.pth'))  # strictly
    assert model.cfg.filename == str(REPO / 'demo' / f'{DEMO_MODEL}.py')
    with pytest.raises(FileNotFoundError, match='config file not found: sowsleep_synth'):
        init_recognizer('sowsleep_synth')


def test_ambiguous_name_is_an_error(tmp_path, monkeypatch):
    for folder in ('configs/a', 'configs/b', 'configs/a/_base_'):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / 'same.py').write_text('x = 1\n')
    monkeypatch.setattr(model_zoo, 'resource_root', lambda: tmp_path)
    assert model_zoo.config_files(tmp_path)['same'] == (tmp_path / 'configs/a/same.py',
                                                         tmp_path / 'configs/b/same.py')
    with pytest.raises(ConfigError, match="config name 'same' is ambiguous"):
        model_zoo.resolve_config('same')


def test_wheel_layout_is_preferred_to_the_checkout(tmp_path, monkeypatch):
    package = tmp_path / 'site' / 'video_swin_plugin'
    (package / '.mim').mkdir(parents=True)
    (package / '.mim' / 'model-index.yml').write_text('Import: []\n')
    monkeypatch.setattr(model_zoo, 'PACKAGE_DIR', package)
    assert model_zoo.resource_root() == package / '.mim'
    (package / '.mim' / 'model-index.yml').unlink()
    with pytest.raises(FileNotFoundError, match='model-index.yml not found in .*reinstall'):
        model_zoo.resource_root()


def write_index(root: Path, model: str) -> Path:
    (root / 'configs').mkdir(parents=True, exist_ok=True)
    (root / 'configs' / 'tiny.py').write_text('x = 1\n')
    (root / 'configs' / 'metafile.yml').write_text(f'Models:\n{model}')
    (root / 'model-index.yml').write_text('Import:\n  - configs/metafile.yml\n')
    return root / 'model-index.yml'


@pytest.mark.parametrize('model, message', [
    ('  - Name: other\n    Config: configs/tiny.py\n',
     r"Name must be the Config file stem \('tiny'\)"),
    ('  - Name: tiny\n    Config: configs/gone.py\n', r'Config .*gone.py does not exist'),
    ('  - Name: tiny\n', 'needs a Config'),
    ('  - Name: tiny\n    Config: configs/tiny.py\n    SHA256: abc\n', 'SHA256 must be 64 hex'),
    ('  - Name: tiny\n    Config: configs/tiny.py\n  - Name: tiny\n    Config: configs/tiny.py\n',
     'listed twice'),
])
def test_bad_metafiles_are_named(tmp_path, model, message):
    index_file = write_index(tmp_path, model)
    with pytest.raises(ConfigError, match=r'metafile.yml: .*' + message):
        model_zoo.load_index(index_file)


def test_index_entry_with_a_checksum(tmp_path):
    digest = 'AB' * 32
    index_file = write_index(tmp_path, '  - Name: tiny\n    Config: configs/tiny.py\n'
                                       f'    SHA256: {digest}\n    Weights: http://x/y/t.pth\n')
    entry = model_zoo.get_model('tiny', index_file)
    assert entry.sha256 == digest.lower() and entry.filename == 't.pth'
    with pytest.raises(UsageError, match=r"unknown model 'tin'; did you mean tiny\?"):
        model_zoo.get_model('tin', index_file)

