"""Child registries of mmaction2's, under the scope ``video_swin_plugin``.

Each keeps its own table, so our ``SwinTransformer3D`` never replaces mmaction2's: a stock
mmaction2 config (``default_scope='mmaction'``) still builds mmaction2's class, while our
configs (``default_scope='video_swin_plugin'``) or ``type='video_swin_plugin.SwinTransformer3D'``
build ours. Names we do not register fall through to mmaction2 and mmengine. This follows
the pattern mmaction2 itself uses under mmengine.
"""
import warnings

# mmcv-lite has no compiled ops; recognition never needs them, so this import-time notice of
# mmcv's only says what we know (it would otherwise precede every tool's output)
warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from mmaction import registry as mm  # noqa: E402
from mmaction.utils import register_all_modules  # noqa: E402
from mmengine.registry import Registry  # noqa: E402

from . import compat  # noqa: F401  (fixes the pinned stack needs, see compat.py)

SCOPE = 'video_swin_plugin'


def _child(parent: Registry, locations=()) -> Registry:
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=list(locations))


# Every kind mmengine's Runner builds from, so a bare name resolves under our default scope.
RUNNERS = _child(mm.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mm.RUNNER_CONSTRUCTORS)
LOOPS = _child(mm.LOOPS)
HOOKS = _child(mm.HOOKS, ['video_swin_plugin.engine'])
DATASETS = _child(mm.DATASETS, ['video_swin_plugin.datasets'])
DATA_SAMPLERS = _child(mm.DATA_SAMPLERS)
TRANSFORMS = _child(mm.TRANSFORMS, ['video_swin_plugin.datasets'])
MODELS = _child(mm.MODELS, ['video_swin_plugin.models.registered',
                          'video_swin_plugin.models.recognizers'])
MODEL_WRAPPERS = _child(mm.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(mm.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child(mm.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mm.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(mm.OPTIM_WRAPPER_CONSTRUCTORS, ['video_swin_plugin.engine'])
PARAM_SCHEDULERS = _child(mm.PARAM_SCHEDULERS)
METRICS = _child(mm.METRICS, ['video_swin_plugin.evaluation'])
EVALUATOR = _child(mm.EVALUATOR)
TASK_UTILS = _child(mm.TASK_UTILS)
VISUALIZERS = _child(mm.VISUALIZERS)
VISBACKENDS = _child(mm.VISBACKENDS)
LOG_PROCESSORS = _child(mm.LOG_PROCESSORS)
INFERENCERS = _child(mm.INFERENCERS)
FUNCTIONS = _child(mm.FUNCTION)

# mmaction2's own modules must be registered before a name can fall through to them.
register_all_modules(init_default_scope=False)
