"""``InferencePrecisionHook``: the Runner's test loop in a chosen compute precision.

Added by ``tools/test.py --dtype``. The checkpoint must be loaded in fp32 first (an int8
model cannot take fp32 weights), and the Runner loads it just before the test loop starts;
``before_test`` is the first moment after that, so the cast happens there, through the same
:func:`video_swin_plugin.precision.cast_for_inference` as every other tool (backbone in the
chosen precision, data preprocessor output following it, neck and head in fp32).
"""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..errors import UsageError
from ..precision import DTYPES, Precision, cast_for_inference
from ..registry import HOOKS


@HOOKS.register_module()
class InferencePrecisionHook(Hook):
    """Cast the model for the test loop; the choice is logged and kept as :attr:`precision`.

    Args:
        dtype (str): one of :data:`video_swin_plugin.precision.DTYPES`. Defaults to 'fp32'.
    """
    priority = 'VERY_HIGH'  # before any other hook's before_test sees the model

    def __init__(self, dtype: str = 'fp32') -> None:
        if dtype not in DTYPES:
            raise UsageError(f'InferencePrecisionHook dtype must be one of {", ".join(DTYPES)}, '
                             f'got {dtype!r}')
        self.dtype = dtype
        self.precision: Optional[Precision] = None

    def before_test(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.precision = cast_for_inference(model, self.dtype)
        runner.logger.info(f'precision: {self.precision}')
