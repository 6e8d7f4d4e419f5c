"""Checking ``--cfg-options`` key paths before they are merged into a config.

mmengine merges ``--cfg-options a.b.c=v`` silently, so a typo (``model.backbone.embed_dims``,
``lod_from``) either is ignored or fails far from its cause. :func:`check_cfg_options` raises
:class:`UnknownConfigKeyError` naming the key unless the path is one the config can take:

- every component exists in the config (a dict key, or a list index in range); or
- at the first missing component, the key is an argument the object there accepts: a top-level
  key of mmengine's ``Runner``, or an ``__init__`` argument of the class named by the dict's
  ``type`` (looked up in the plugin's registries); dicts without ``type`` (e.g. ``env_cfg``)
  take any new key.

:func:`merge_cfg_options` then merges them, making each top-level key the tools accept do what it
says: ``max_epochs`` becomes ``train_cfg.max_epochs`` and stretches the schedulers that ended
with training, and a key the calling tool sets from its own arguments (``launcher`` from
``--launcher``, ``load_from`` from tools/test.py's CHECKPOINT) is rejected, naming what to use.
"""
import inspect
from typing import Any, Mapping, Optional

from mmengine.runner import Runner

from ..errors import UnknownConfigKeyError

# ``cfg`` is no key a config can set: Runner.from_cfg passes the config itself as it
RUNNER_KEYS = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
# top-level keys the plugin reads besides Runner's: label_map (class names: apis.inference,
# the collapse warning), max_epochs (see merge_cfg_options)
EXTRA_TOP_LEVEL_KEYS = {'label_map', 'max_epochs'}
# what a model built outside the Runner (apis.inference.init_recognizer: classify,
# stream_infer, extract_feat, export_onnx, ...) would silently ignore
INFERENCE_SET_BY = {'launcher': 'tools/train.py or tools/test.py --launcher',
                    'resume': 'tools/train.py --resume',
                    'load_from': 'the checkpoint argument',
                    'work_dir': "the tool's output options"}


def _registries() -> list:
    from .. import registry as R
    return [R.MODELS, R.DATASETS, R.TRANSFORMS, R.OPTIM_WRAPPERS, R.OPTIMIZERS,
            R.OPTIM_WRAPPER_CONSTRUCTORS, R.PARAM_SCHEDULERS, R.METRICS, R.EVALUATOR, R.HOOKS,
            R.DATA_SAMPLERS, R.LOOPS, R.VISUALIZERS, R.VISBACKENDS, R.LOG_PROCESSORS]


def _lookup(type_name: Any) -> Optional[Any]:
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    for reg in _registries():
        try:
            obj = reg.get(type_name)
        except Exception:  # noqa: BLE001  (a registry that cannot import: not ours to judge)
            obj = None
        if obj is not None:
            return obj
    return None


def accepted_arguments(obj: Any) -> Optional[set]:
    """``__init__`` arguments of ``obj`` (a class or function) and, while they pass ``**kwargs``
    on, of its base classes; None when anything goes (``**kwargs`` to the end, or unknown)."""
    names = set()
    targets = list(inspect.getmro(obj)) if inspect.isclass(obj) else [obj]
    for target in targets:
        fn = target.__init__ if inspect.isclass(obj) else target
        if inspect.isclass(obj) and '__init__' not in vars(target):
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return None
        names |= {n for n, p in params.items()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n != 'self'}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return names
        if not inspect.isclass(obj) or target is object:
            return None
    return None


def _may_add(parent: Mapping, key: str, path: str) -> Optional[str]:
    """None if ``key`` may be added to ``parent`` (at ``path``), else why not."""
    if path == '':
        if key in RUNNER_KEYS or key in EXTRA_TOP_LEVEL_KEYS:
            return None
        return 'not a key of this config nor a Runner argument'
    if 'type' not in parent:
        return None
    obj = _lookup(parent['type'])
    if obj is None:
        return None
    accepted = accepted_arguments(obj)
    if accepted is None or key in accepted:
        return None
    name = getattr(obj, '__name__', str(obj))
    return f'{name} takes no argument {key!r} (it takes: {", ".join(sorted(accepted))})'


def check_cfg_options(cfg: Mapping, options: Optional[Mapping[str, Any]]) -> None:
    """Raise :class:`UnknownConfigKeyError` for the first key path in ``options`` (as parsed by
    mmengine's ``DictAction``) that ``cfg`` has no place for."""
    cfg = getattr(cfg, '_cfg_dict', cfg)  # an mmengine Config holds its ConfigDict there
    for full_key in (options or {}):
        node, path = cfg, ''
        for part in full_key.split('.'):
            if isinstance(node, (list, tuple)):
                if not part.isdigit() or int(part) >= len(node):
                    raise UnknownConfigKeyError(
                        f'unknown key path {full_key!r} in --cfg-options: {path!r} is a list of '
                        f'{len(node)} items, {part!r} is no index of it')
                node, path = node[int(part)], f'{path}.{part}'.lstrip('.')
                continue
            if not isinstance(node, Mapping):
                raise UnknownConfigKeyError(
                    f'unknown key path {full_key!r} in --cfg-options: {path!r} is a '
                    f'{type(node).__name__}, not a dict')
            if part not in node:
                why = _may_add(node, part, path)
                if why is not None:
                    near = ', '.join(sorted(map(str, node))[:30])
                    raise UnknownConfigKeyError(
                        f'unknown key path {full_key!r} in --cfg-options: {part!r} under '
                        f'{path or "the top level"}: {why}. Keys there: {near}')
                break  # a new branch; mmengine creates it
            node, path = node[part], f'{path}.{part}'.lstrip('.')


def _stretch_schedulers(cfg, old: Any, new: Any) -> None:
    """Schedulers written to end with training (``end`` or ``T_max`` equal to the old
    ``train_cfg.max_epochs``) end with the new one; warm-ups and the like keep their length.
    Schedulers without ``end`` already follow ``train_cfg`` (mmengine fills it in)."""
    schedulers = cfg.get('param_scheduler', None)
    if schedulers is None or old is None or old == new:
        return
    for sched in schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]:
        if not isinstance(sched, Mapping) or not sched.get('by_epoch', True):
            continue
        for key in ('end', 'T_max'):
            if sched.get(key, None) == old:
                sched[key] = new


def merge_cfg_options(cfg, options: Optional[Mapping[str, Any]],
                      set_by: Optional[Mapping[str, str]] = None) -> None:
    """:func:`check_cfg_options` then ``cfg.merge_from_dict(options)``.

    ``max_epochs`` at the top level is the length of the schedule: a config's top-level
    variable is resolved when the file is read (setting it later would change nothing), so it
    becomes ``train_cfg.max_epochs``, and every epoch-based scheduler that ended with the old
    ``train_cfg.max_epochs`` (``end`` or ``T_max``) ends with the new one. A dotted
    ``train_cfg.max_epochs`` is merged as it is, as mmengine does: the loop stops there and the
    schedulers keep their length (a run cut short, to be resumed). Both given is an error
    naming both.

    Args:
        set_by (Mapping[str, str], optional): top-level keys the caller sets itself (from its
            own arguments, after this merge), each mapped to what sets it; an option under one
            of them would be overwritten, so it is an error naming that instead.
    """
    if not options:
        return
    options = dict(options)
    for key in options:
        top = key.split('.')[0]
        if set_by and top in set_by:
            raise UnknownConfigKeyError(f'--cfg-options {key}: {top!r} is set by '
                                        f'{set_by[top]}, not by the config; use that instead')
    schedule = 'max_epochs' in options
    if schedule:
        if 'train_cfg.max_epochs' in options:
            raise UnknownConfigKeyError(
                '--cfg-options: max_epochs and train_cfg.max_epochs both given; give one '
                '(max_epochs: the schedule\'s length, schedulers included; '
                'train_cfg.max_epochs: where the loop stops)')
        options['train_cfg.max_epochs'] = options.pop('max_epochs')
    check_cfg_options(cfg, options)
    old = (cfg.get('train_cfg', None) or {}).get('max_epochs', None)
    cfg.merge_from_dict(options)
    if schedule:
        new = options['train_cfg.max_epochs']
        _stretch_schedulers(cfg, old, new)
        if cfg.get('max_epochs', None) is not None:
            cfg.max_epochs = new  # the config's own variable, for anything that reads it later
