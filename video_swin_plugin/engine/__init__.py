"""Runner machinery of the plugin: optimizer constructors, hooks (plugin scope)."""
from .optim_constructor import VideoSwinOptimWrapperConstructor, matching_keys
from .optim_wrapper import AmpIfCudaOptimWrapper
from .precision_hook import InferencePrecisionHook

__all__ = ['VideoSwinOptimWrapperConstructor', 'matching_keys', 'AmpIfCudaOptimWrapper',
           'InferencePrecisionHook']
