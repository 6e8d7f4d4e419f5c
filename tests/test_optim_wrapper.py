"""AmpIfCudaOptimWrapper (engine/optim_wrapper.py): AMP on a GPU, the plain wrapper on CPU."""
import torch
from mmengine.registry import init_default_scope

import video_swin_plugin.registry as R


def test_amp_if_cuda_wrapper_is_plain_on_cpu():
    init_default_scope('video_swin_plugin')
    model = torch.nn.Linear(2, 2)
    wrapper = R.OPTIM_WRAPPERS.build(dict(
        type='AmpIfCudaOptimWrapper', loss_scale='dynamic',
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    expected = 'AmpOptimWrapper' if torch.cuda.is_available() else 'OptimWrapper'
    assert type(wrapper).__name__ == expected
