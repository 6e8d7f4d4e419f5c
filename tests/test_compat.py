"""The pinned stack's fixes (compat.py): Runner checkpoints read with weights_only=True (the
allow-list refuses any other getattr), and distributed runs without CUDA: gloo instead of
mmengine's init_dist (which calls torch.cuda.set_device), and a DDP wrapper with
device_ids=None."""
import datetime
import pickle

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from video_swin_plugin import compat
from video_swin_plugin.errors import UsageError


def test_cpu_wrapper_is_mmengines_default_without_the_device():
    wrapper = compat.cpu_model_wrapper_cfg(Config(dict(launcher='pytorch')))
    assert wrapper == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                           find_unused_parameters=False, device_ids=None)
    own = compat.cpu_model_wrapper_cfg(Config(dict(
        find_unused_parameters=True,
        model_wrapper_cfg=dict(type='MMDistributedDataParallel', broadcast_buffers=True))))
    assert own == dict(type='MMDistributedDataParallel', broadcast_buffers=True, device_ids=None)
    # a wrapper that is no DistributedDataParallel takes no device_ids
    data_parallel = compat.cpu_model_wrapper_cfg(Config(dict(
        model_wrapper_cfg=dict(type='DataParallel'))))
    assert data_parallel == dict(type='DataParallel')


def test_prepare_does_nothing_without_launcher_or_with_cuda(monkeypatch):
    cfg = Config(dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert compat.prepare_distributed(cfg) is False
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg.launcher = 'pytorch'
    assert compat.prepare_distributed(cfg) is False  # mmengine's nccl path, as before
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg
    assert not dist.is_initialized()


def test_other_launchers_or_no_torchrun_without_cuda_are_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(UsageError, match='--launcher slurm needs CUDA.*dist_train.sh'):
        compat.prepare_distributed(Config(dict(launcher='slurm')))
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(UsageError, match='environment torchrun sets.*RANK.*dist_train.sh'):
        compat.prepare_distributed(Config(dict(launcher='pytorch')))


def test_prepare_starts_gloo_and_the_wrapper_trains_on_cpu(monkeypatch):
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    calls = []
    init = dist.init_process_group
    monkeypatch.setattr(dist, 'init_process_group',
                        lambda *args, **kwargs: calls.append((args, kwargs)) or init(*args,
                                                                                    **kwargs))
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl',
                                                                     timeout=60))))
    assert compat.prepare_distributed(cfg) is True
    try:
        assert dist.get_backend() == 'gloo' and cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert calls == [(('gloo',), dict(rank=0, world_size=1,
                                          timeout=datetime.timedelta(seconds=60)))]
        # what the Runner builds from the config: mmengine's wrapper, CPU module
        model = MODEL_WRAPPERS.build(cfg.model_wrapper_cfg,
                                     default_args=dict(module=torch.nn.Linear(3, 2),
                                                       device_ids=[0]))
        assert isinstance(model, MMDistributedDataParallel) and model.device_ids is None
        loss = model(torch.ones(4, 3)).sum()
        loss.backward()
        assert model.module.weight.grad is not None
        assert compat.prepare_distributed(cfg) is False  # a group exists: nothing to do
    finally:
        dist.destroy_process_group()


def test_runner_checkpoint_reads_with_weights_only(tmp_path):
    import video_swin_plugin.compat  # noqa: F401
    hub = MessageHub.get_instance('test_runner_checkpoint')
    hub.update_scalar('train/loss', 0.5)
    path = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {'epoch': 1}, 'message_hub': hub.state_dict(),
                'state_dict': {'w': torch.ones(2)}}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 0.5


def test_runner_checkpoint_allowlist_refuses_other_getattr(tmp_path):
    import video_swin_plugin.compat  # noqa: F401
    from mmengine.logging.history_buffer import HistoryBuffer

    class Sneaky:
        # what a malicious file could ask for: a lookup that is not a statistics method
        def __reduce__(self):
            return getattr, (HistoryBuffer, '__init__')

    path = tmp_path / 'sneaky.pth'
    torch.save({'x': Sneaky()}, path)
    with pytest.raises(pickle.UnpicklingError, match="getattr.*'__init__'"):
        torch.load(path, weights_only=True)
