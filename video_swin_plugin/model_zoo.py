"""Configs and weights by name: the model index and where configs/, tools/ and demo/ live.

    from video_swin_plugin import model_zoo
    model_zoo.resolve_config('swin_tiny_patch244_window877_kinetics400_1k')  # '.../swin_tiny_...py'
    model_zoo.get_model('swin_tiny_patch244_window877_kinetics400_1k').weights  # official URL

The index is OpenMMLab's format, the one `mim search` reads: ``model-index.yml`` imports one
``metafile.yml`` per config folder, and each metafile lists Models (Name = the config's file
stem, Config, Metadata, Results, Weights). A wheel carries configs/, tools/, demo/ and
model-index.yml in ``video_swin_plugin/.mim/`` (built by setup.py from the top-level folders);
a checkout or an editable install uses the folders at the repository root.
"""
import difflib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

from .errors import CheckpointMismatchError, ConfigError, UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
INDEX_FILE = 'model-index.yml'
CONFIG_FOLDERS = ('configs', 'demo')  # where configs are found by name (not their _base_/)
SHA256_HEX_LEN = 64


@dataclass(frozen=True)
class ModelEntry:
    """One model of the index.

    Args:
        name (str): The config's file stem, unique in the index.
        config (Path): The config file.
        weights (str | None): Download URL of the released weights; None if none are published.
        sha256 (str | None): SHA-256 of the weight file, lower-case hex, where the index has it.
        packaged_weights (Path | None): Weights that ship inside the package (the demo model).
        metadata (Mapping): The metafile's Metadata (training data, FLOPs, parameters, ...).
        results (tuple): The metafile's Results, each ``{'Task', 'Dataset', 'Metrics'}``.
    """
    name: str
    config: Path
    weights: Optional[str] = None
    sha256: Optional[str] = None
    packaged_weights: Optional[Path] = None
    metadata: Mapping = field(default_factory=dict)
    results: tuple = ()

    @property
    def filename(self) -> str:
        """The weight file's name: the URL's last part, else ``<name>.pth``."""
        return self.weights.rsplit('/', 1)[-1] if self.weights else f'{self.name}.pth'


def resource_root() -> Path:
    """The folder holding configs/, tools/, demo/ and model-index.yml: the wheel's
    ``video_swin_plugin/.mim``, else the checkout the package is imported from."""
    candidates = (PACKAGE_DIR / '.mim', PACKAGE_DIR.parent)
    for root in candidates:
        if (root / INDEX_FILE).is_file():
            return root
    raise FileNotFoundError(
        f'{INDEX_FILE} not found in {candidates[0]} (an installed wheel) nor in {candidates[1]} '
        '(a checkout); reinstall video_swin_plugin')


def _read_yaml(path: Path):
    import yaml
    try:
        with open(path, encoding='utf-8') as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f'{path}: not valid YAML: {e}') from e


def _field(model: Mapping, key: str, metafile: Path, name: str):
    value = model.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f'{metafile}: model {name!r} needs a {key} (a non-empty string)')
    return value


def _entry(model: Mapping, metafile: Path, root: Path) -> ModelEntry:
    name = _field(model, 'Name', metafile, model.get('Name', '?'))
    config = root / _field(model, 'Config', metafile, name)
    if not config.is_file():
        raise ConfigError(f'{metafile}: model {name!r}: Config {config} does not exist')
    if config.stem != name:
        raise ConfigError(f'{metafile}: model {name!r}: Name must be the Config file stem '
                          f'({config.stem!r}), so that the config resolves by name')
    sha256 = model.get('SHA256')
    if sha256 is not None:
        sha256 = str(sha256).lower()
        if len(sha256) != SHA256_HEX_LEN or any(c not in '0123456789abcdef' for c in sha256):
            raise ConfigError(f'{metafile}: model {name!r}: SHA256 must be 64 hex digits, '
                              f'got {model["SHA256"]!r}')
    packaged = model.get('Packaged Weights')
    return ModelEntry(name=name, config=config, weights=model.get('Weights'), sha256=sha256,
                      packaged_weights=root / packaged if packaged else None,
                      metadata=dict(model.get('Metadata') or {}),
                      results=tuple(model.get('Results') or ()))


def load_index(index_file: Optional[Union[str, os.PathLike]] = None) -> Dict[str, ModelEntry]:
    """Every model of ``index_file`` (default: the package's model-index.yml) by name. Paths in
    the index and its metafiles are relative to the index file's folder."""
    index_file = Path(index_file) if index_file else resource_root() / INDEX_FILE
    root = index_file.parent
    index = _read_yaml(index_file)
    imports = index.get('Import') if isinstance(index, dict) else None
    if not isinstance(imports, list) or not imports:
        raise ConfigError(f'{index_file}: needs an Import list of metafile paths')
    entries: Dict[str, ModelEntry] = {}
    for rel in imports:
        metafile = root / rel
        if not metafile.is_file():
            raise ConfigError(f'{index_file}: imports {rel}, which does not exist')
        meta = _read_yaml(metafile)
        models = meta.get('Models') if isinstance(meta, dict) else None
        if not isinstance(models, list):
            raise ConfigError(f'{metafile}: needs a Models list')
        for model in models:
            entry = _entry(model, metafile, root)
            if entry.name in entries:
                raise ConfigError(f'{metafile}: model {entry.name!r} is listed twice in '
                                  f'{index_file}')
            entries[entry.name] = entry
    return entries


def list_models() -> List[str]:
    """Names of the models in the package's index."""
    return list(load_index())


def _unknown(kind: str, name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f'; did you mean {", ".join(close)}?' if close else ''
    return f'unknown {kind} {name!r}{hint} (known: {", ".join(sorted(known))})'


def get_model(name: str, index_file: Optional[Union[str, os.PathLike]] = None) -> ModelEntry:
    """The index entry called ``name``; :class:`UsageError` naming close names if none is."""
    entries = load_index(index_file)
    if name not in entries:
        raise UsageError(_unknown('model', name, entries))
    return entries[name]


def config_files(root: Optional[Path] = None) -> Dict[str, Tuple[Path, ...]]:
    """Config files by stem under configs/ and demo/ (not ``_base_`` parts); a stem found
    twice maps to both files."""
    root = resource_root() if root is None else root
    found: Dict[str, Tuple[Path, ...]] = {}
    for folder in CONFIG_FOLDERS:
        for path in sorted((root / folder).rglob('*.py')):
            if '_base_' in path.relative_to(root).parts:
                continue
            found[path.stem] = found.get(path.stem, ()) + (path,)
    return found


def resolve_config(config: Union[str, os.PathLike]) -> str:
    """The config file meant by ``config``: a path to an existing file, as given; else a config
    name (``swin_tiny_patch244_window877_kinetics400_1k``, with or without ``.py``) under the
    package's configs/ or demo/; else a path relative to the folder that holds them
    (``configs/recognition/swin/...py`` from any directory after ``pip install``)."""
    path = Path(config)
    if path.is_file():
        return str(config)
    try:
        root = resource_root()
    except FileNotFoundError as e:
        raise FileNotFoundError(f'config file not found: {config} ({e})') from None
    if len(path.parts) == 1:
        stem = path.name[:-3] if path.name.endswith('.py') else path.name
        files = config_files(root)
        matches = files.get(stem, ())
        if len(matches) == 1:
            return str(matches[0])
        if len(matches) > 1:
            raise ConfigError(f'config name {stem!r} is ambiguous: '
                              f'{", ".join(map(str, matches))}; give the path')
        raise FileNotFoundError(f'config file not found: {config} (nor is it a config name: '
                                f'{_unknown("config", stem, files)})')
    if not path.is_absolute() and (root / path).is_file():
        return str(root / path)
    raise FileNotFoundError(f'config file not found: {config} (also looked in {root})')


def file_sha256(path: Union[str, os.PathLike], chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, lower-case hex."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checkpoint(path: Union[str, os.PathLike], config: Union[str, os.PathLike],
                      sha256: Optional[str] = None) -> None:
    """Raise unless the weight file at ``path`` has SHA-256 ``sha256`` (when given) and loads
    strictly into the model ``config`` builds: every key present, none extra, every shape
    equal. :class:`CheckpointMismatchError` (or ``ValueError`` for an unreadable file) names
    the file and what is wrong."""
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise CheckpointMismatchError(f'{path}: SHA-256 is {actual}, expected {sha256}')
    from .apis.inference import init_recognizer
    init_recognizer(resolve_config(config), str(path))
