"""A hook for the distributed tests: which dataset items each rank loaded in training, and
which rank saved checkpoints. Imported by the probe configs test_distributed writes
through ``custom_imports``; it writes ``probe_<run timestamp>_rank<r>.json`` into the work dir:
``{"rank", "world_size", "loaded": [[epoch, dataset index], ...], "saved": [epoch, ...],
"resumed": [epoch, ...]}`` (epochs counted from 0 as ``runner.epoch``; ``resumed`` holds the
epoch number stored in each checkpoint the rank loaded)."""
import json
import os.path as osp

from mmengine.hooks import Hook

from video_swin_plugin.registry import HOOKS


@HOOKS.register_module()
class LoadedSamplesHook(Hook):
    """Records every training item a rank's dataloader fetches (by wrapping the dataset's
    ``prepare_data``, which needs ``num_workers=0``) and every checkpoint the rank saves or
    loads."""

    def __init__(self) -> None:
        self.loaded, self.saved, self.resumed = [], [], []

    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        prepare = dataset.prepare_data

        def recorded(idx):
            self.loaded.append([runner.epoch, int(idx)])
            return prepare(idx)

        dataset.prepare_data = recorded

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.saved.append(runner.epoch)  # mmengine calls it from the saving rank only

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self.resumed.append(checkpoint['meta']['epoch'])

    def after_train(self, runner) -> None:
        path = osp.join(runner.work_dir, f'probe_{runner.timestamp}_rank{runner.rank}.json')
        with open(path, 'w') as f:
            json.dump(dict(rank=runner.rank, world_size=runner.world_size, loaded=self.loaded,
                           saved=self.saved, resumed=self.resumed), f)
