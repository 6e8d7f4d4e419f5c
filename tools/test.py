"""Test a recognizer checkpoint on a config's test set (mmaction2's tools/test.py shape).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump results.pkl] [--cfg-options ...]
    [--dtype fp32|auto|bf16|fp16|int8]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]   (torchrun)

Prints the test metrics (top-1/top-5 accuracy for the Swin configs), over all ranks' samples
when distributed (rank 0 prints). Official Video Swin files load as they are; every flag only
edits the config. Distributed runs use the config's ``dist_cfg`` (nccl) on GPUs; without CUDA,
gloo and a CPU DDP (``compat.prepare_distributed``). Exit status 0, or 2 with one ``error:``
line for bad input. Like mmaction2's tool, no ``--device``: the Runner places the model.
``--dtype`` runs the backbone in another precision (an ``InferencePrecisionHook`` casts the model
once the checkpoint is loaded); it defaults to fp32 here, so the metrics are the trained
model's unless a reduced precision is asked for (to measure what it costs).
A ``CollapseWarningHook`` warns (log and stderr) when the predictions look collapsed: one
label for >= 99% of the clips, or class probabilities that hardly vary; the exit status is
unchanged.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
import video_swin_plugin.registry  # noqa: E402,F401  (registers the plugin scope; compat fixes)
from video_swin_plugin import cli, compat  # noqa: E402
from video_swin_plugin.engine import (CollapseWarningHook, InferencePrecisionHook,  # noqa: E402
                                      with_collapse_warning)
from video_swin_plugin.engine.config_check import merge_cfg_options  # noqa: E402
from video_swin_plugin.errors import UsageError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a video recognizer')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (Runner, official or converted)')
    parser.add_argument('--work-dir', help='where the metrics log goes '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--dump', help='also save the predictions to this .pkl file')
    cli.add_cfg_options_arg(parser)
    cli.add_dtype_arg(parser, default='fp32')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (dist_test.sh: pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line flags to ``cfg``; nothing else is changed."""
    merge_cfg_options(cfg, args.cfg_options, set_by={
        'launcher': '--launcher', 'load_from': 'the CHECKPOINT argument',
        'resume': 'tools/train.py --resume (tools/test.py loads CHECKPOINT)'})
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint
    cfg.custom_hooks = with_collapse_warning(cfg.get('custom_hooks', None)) + [
        dict(type='InferencePrecisionHook', dtype=args.dtype)]
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise UsageError(f'--dump must name a .pkl file, got {args.dump}')
        evaluators = cfg.test_evaluator
        evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
        cfg.test_evaluator = evaluators + [dict(type='DumpResults', out_file_path=args.dump)]
    return cfg


def test_metrics(args: argparse.Namespace) -> dict:
    """Test the checkpoint; print and return the metrics (``{'acc/top1': ..., ...}``)."""
    args.config = cli.config_file(args.config)
    cfg = merge_args(Config.fromfile(args.config), args)
    compat.prepare_distributed(cfg)  # torchrun without CUDA: gloo, CPU DDP
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if is_main_process():  # every rank has the metrics of all; one prints them
        precision = next(h.precision for h in runner.hooks
                         if isinstance(h, InferencePrecisionHook))
        print(f'precision: {precision}', file=sys.stderr)
        for hook in runner.hooks:  # also logged; here too, for a stderr read on its own
            if isinstance(hook, CollapseWarningHook) and hook.message:
                print(f'warning: {hook.message}', file=sys.stderr)
        print('test metrics: ' + ', '.join(f'{k}={v:.4f}' if isinstance(v, float) else
                                           f'{k}={v}' for k, v in metrics.items()))
    return metrics


def main(argv=None) -> int:
    test_metrics(parse_args(argv))
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
