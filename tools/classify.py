"""Classify one video: print its top-k classes with probabilities.

    python tools/classify.py CONFIG CHECKPOINT VIDEO [--label-map FILE] [--top-k 5] [--device cpu]
        [--dtype auto|fp32|bf16|fp16|int8] [--cfg-options k=v ...]

The video goes through the config's test pipeline (the published views). Class names come from
--label-map, else from the config's ``label_map`` (the Kinetics-400 configs name the 400 K400
classes shipped with the plugin), else indices are printed. Exit status 0, or 2 with one
``error:`` line for bad input.
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402
from video_swin_plugin.apis.inference import classify_video, init_recognizer  # noqa: E402
from video_swin_plugin.precision import choose_precision  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Classify a video with a recognizer')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (official, converted or Runner)')
    parser.add_argument('video', help='video file')
    parser.add_argument('--label-map', help='class names, one a line (default: the config\'s)')
    parser.add_argument('--top-k', type=int, default=5, help='classes to print (default 5)')
    cli.add_device_arg(parser)
    cli.add_dtype_arg(parser)
    cli.add_cfg_options_arg(parser)
    args = parser.parse_args(argv)
    cli.at_least('--top-k', args.top_k, 1)
    cli.check_device(args.device)
    args.precision = choose_precision(args.dtype, args.device)
    return args


def classify(args: argparse.Namespace) -> 'OrderedDict[str, float]':
    """Print and return the ``--top-k`` classes of the video, best first."""
    args.config = cli.config_file(args.config)
    cli.existing_file(args.checkpoint, 'checkpoint file')
    cli.existing_file(args.video, 'video')
    model = init_recognizer(args.config, args.checkpoint, args.device, args.cfg_options,
                            dtype=args.precision)
    print(f'precision: {model.precision}', file=sys.stderr)
    top = classify_video(model, args.video, args.top_k, args.label_map)
    width = max(len(name) for name in top)
    print(f'top-{len(top)} for {args.video}:')
    for name, prob in top.items():
        print(f'  {name:<{width}}  {prob:.4f}')
    return top


def main(argv=None) -> int:
    classify(parse_args(argv))
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
