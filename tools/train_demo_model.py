"""Train the demo's tiny sleep-staging model on SYNTHETIC recordings and save its weights.

    python tools/train_demo_model.py [--out demo/sowsleep_synthetic_tiny.pth] [--epochs 4]

Writes synthetic overnight-like recordings (video_swin_plugin.datasets.synthetic: awake = a
bright block wandering, NREM = dim and still, REM = mid-grey with twitches), trains
demo/sowsleep_synthetic_tiny.py on them with the project's Runner recipe (LongVideoDataset, K
consecutive clips, FAM memory carried through them), scores held-out recordings, and saves the
weights as plain tensors (a file loadable with ``weights_only=True``), with a note of what it
was trained on. The model has seen nothing but these synthetic videos. Exit status 0, or 2 with
one ``error:`` line for a bad option value. Like tools/train.py, no ``--device``: the Runner
places the model.
"""
import argparse
import os
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'demo', 'sowsleep_synthetic_tiny.py')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=osp.join(REPO, 'demo', 'sowsleep_synthetic_tiny.pth'))
    p.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo_model'))
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--recordings', type=int, default=8, help='training recordings')
    p.add_argument('--minutes', type=float, default=5.0, help='length of each recording')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    for option in ('epochs', 'recordings', 'threads'):
        cli.at_least('--' + option, getattr(args, option), 1)
    cli.positive('--minutes', args.minutes)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from mmengine.config import Config
    from mmengine.runner import Runner

    import video_swin_plugin.engine  # noqa: F401
    import video_swin_plugin.registry  # noqa: F401
    from video_swin_plugin.datasets.synthetic import write_recordings

    data = osp.join(args.work_dir, 'data')
    started = time.time()
    # 10-s scored epochs with sticky stages: bouts of tens of seconds to minutes
    train_ann = write_recordings(data, num_recordings=args.recordings,
                                 duration_sec=args.minutes * 60, epoch_sec=10.0, fps=8, size=32,
                                 seed=args.seed, ann_name='train.csv', prefix='train')
    test_ann = write_recordings(data, num_recordings=2, duration_sec=args.minutes * 60,
                                epoch_sec=10.0, fps=8, size=32, seed=args.seed + 1000,
                                ann_name='test.csv', prefix='test')
    print(f'synthetic data written in {time.time() - started:.0f} s', flush=True)

    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed)
    for name, ann in (('train_dataloader', train_ann), ('val_dataloader', test_ann),
                      ('test_dataloader', test_ann)):
        cfg[name].dataset.ann_file = str(ann)
        cfg[name].dataset.data_prefix = dict(video=data)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=args.epochs, val_interval=args.epochs)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=args.epochs, eta_min=0,
                                by_epoch=True, begin=0, end=args.epochs)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=args.epochs,
                                        save_best=None)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    print(f'held-out synthetic recordings: {metrics}', flush=True)

    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    # weight matrices stored in half precision to keep the committed file under 2 MB (0.6 M
    # parameters); small tensors (biases, norms, the preprocessor's mean/std) stay float32. A
    # strict load copies them into the model's float32 parameters.
    state_dict = {k: (v.detach().cpu().half() if v.is_floating_point() and v.numel() >= 1024
                      else v.detach().cpu()) for k, v in model.state_dict().items()}
    note = (f'TRAINED ON SYNTHETIC DATA ONLY (video_swin_plugin.datasets.synthetic, '
            f'{args.recordings} recordings x {args.minutes:g} min, seed {args.seed}, '
            f'{args.epochs} epochs) by tools/train_demo_model.py for the streaming demo; '
            'not a model of real sows.')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(state_dict=state_dict,
                    meta=dict(note=note, config='demo/sowsleep_synthetic_tiny.py',
                              stored_as='float16 for tensors of >= 1024 elements',
                              held_out={k: float(v) for k, v in metrics.items()
                                        if isinstance(v, (int, float))})), args.out)
    size_kb = os.path.getsize(args.out) / 1024
    print(f'saved {args.out} ({size_kb:.0f} KiB) in {time.time() - started:.0f} s total')
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
