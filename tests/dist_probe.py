"""A hook for the distributed tests: which dataset items each rank loaded in training, and
which rank saved checkpoints. Imported by the probe configs (tests/configs/dist_probe_*.py)
through ``custom_imports``; it writes ``probe_<run timestamp>_rank<r>.json`` into the work dir:
``{"rank", "world_size", "loaded": [[epoch, dataset index], ...], "saved": [epoch, ...]}``."""
import json
import os.path as osp

from mmengine.hooks import Hook

from video_swin_plugin.registry import HOOKS


@HOOKS.register_module()
class LoadedSamplesHook(Hook):
    """Records every training item a rank's dataloader fetches (by wrapping the dataset's
    ``prepare_data``, which needs ``num_workers=0``) and every checkpoint the rank saves."""

    def before_train(self, runner) -> None:
        self.loaded, self.saved = [], []
        dataset = runner.train_dataloader.dataset
        prepare = dataset.prepare_data

        def recorded(idx):
            self.loaded.append([runner.epoch, int(idx)])
            return prepare(idx)

        dataset.prepare_data = recorded

    def after_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.saved.append(runner.epoch)

    def after_train(self, runner) -> None:
        path = osp.join(runner.work_dir, f'probe_{runner.timestamp}_rank{runner.rank}.json')
        with open(path, 'w') as f:
            json.dump(dict(rank=runner.rank, world_size=runner.world_size, loaded=self.loaded,
                           saved=self.saved), f)
