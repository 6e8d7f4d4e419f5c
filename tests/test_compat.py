"""The pinned stack's fixes (compat.py): Runner checkpoints read with weights_only=True, and the
allow-list refuses any other getattr."""
import pickle

import pytest
import torch
from mmengine.logging import MessageHub


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
