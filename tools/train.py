"""Train a recognizer from a config (mmaction2's tools/train.py shape, for the plugin's scope).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG GPUS [same options]   (torchrun; NNODES, NODE_RANK, ...)

Every flag only edits the config; the Runner does the rest. The plugin is imported here, so any
config with ``default_scope='video_swin_plugin'`` (or ``type='video_swin_plugin.X'``) builds.
Distributed runs use the config's ``dist_cfg`` (nccl) on GPUs; without CUDA, gloo and a CPU DDP
(``compat.prepare_distributed``). Exit status 0, or 2 with one ``error:`` line for bad input.
Like mmaction2's tool, no ``--device``: the Runner places the model. Validation warns when the
predictions look collapsed (``CollapseWarningHook``).
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
import video_swin_plugin.registry  # noqa: E402,F401  (registers the plugin scope; compat fixes)
from video_swin_plugin import cli, compat  # noqa: E402
from video_swin_plugin.engine import with_collapse_warning  # noqa: E402
from video_swin_plugin.engine.config_check import merge_cfg_options  # noqa: E402
from video_swin_plugin.errors import UsageError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a video recognizer')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CHECKPOINT, or with no value from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (AmpOptimWrapper); ignored, with a warning, '
                        'without CUDA')
    parser.add_argument('--no-validate', action='store_true', help='no validation in training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual over the config\'s base batch size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic cuDNN settings')
    cli.add_cfg_options_arg(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (dist_train.sh: pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line flags to ``cfg``; nothing else is changed."""
    merge_cfg_options(cfg, args.cfg_options, set_by={'launcher': '--launcher'})
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.custom_hooks = with_collapse_warning(cfg.get('custom_hooks', None))  # at validation
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if args.amp:
        if not torch.cuda.is_available():
            print_log('--amp ignored: no CUDA device, training in fp32', logger='current',
                      level=30)
        elif wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'AmpIfCudaOptimWrapper'):
            raise UsageError(f'--amp cannot replace the custom optim_wrapper type {wrapper!r}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif wrapper == 'AmpOptimWrapper' and not torch.cuda.is_available():
        # mmengine's AmpOptimWrapper refuses to run on CPU; the same config trains there in fp32
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype'):
            cfg.optim_wrapper.pop(key, None)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint not found: {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if cfg.get('randomness') is None:
        cfg.randomness = dict(seed=args.seed, deterministic=args.deterministic)
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = cli.config_file(args.config)
    cfg = merge_args(Config.fromfile(args.config), args)
    compat.prepare_distributed(cfg)  # torchrun without CUDA: gloo, CPU DDP
    Runner.from_cfg(cfg).train()
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
