"""Runner machinery of the plugin: optimizer constructors, hooks (plugin scope)."""
from .collapse_hook import CollapseWarningHook, with_collapse_warning
from .optim_constructor import VideoSwinOptimWrapperConstructor, matching_keys
from .optim_wrapper import AmpIfCudaOptimWrapper
from .precision_hook import InferencePrecisionHook

__all__ = ['VideoSwinOptimWrapperConstructor', 'matching_keys', 'AmpIfCudaOptimWrapper',
           'InferencePrecisionHook', 'CollapseWarningHook', 'with_collapse_warning']
