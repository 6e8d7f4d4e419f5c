"""Classify one video: print its top-k classes with probabilities.

    python tools/classify.py CONFIG CHECKPOINT VIDEO [--label-map FILE] [--top-k 5] [--device cpu]

The video goes through the config's test pipeline (the published views). Class names come from
--label-map, else from the config's ``label_map`` (the Kinetics-400 configs name the 400 K400
classes shipped with the plugin), else indices are printed.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin.apis.inference import classify_video, init_recognizer  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Classify a video with a recognizer')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (official, converted or Runner)')
    parser.add_argument('video', help='video file')
    parser.add_argument('--label-map', help='class names, one a line (default: the config\'s)')
    parser.add_argument('--top-k', type=int, default=5, help='classes to print (default 5)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0 (default cpu)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='override config settings, key=value; an unknown key path is an '
                        'error')
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f'--top-k must be at least 1, got {args.top_k}')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    model = init_recognizer(args.config, args.checkpoint, args.device, args.cfg_options)
    top = classify_video(model, args.video, args.top_k, args.label_map)
    width = max(len(name) for name in top)
    print(f'top-{len(top)} for {args.video}:')
    for name, prob in top.items():
        print(f'  {name:<{width}}  {prob:.4f}')
    return top


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, KeyError) as e:  # bad input: the message names it
        sys.exit(f'error: {type(e).__name__}: {e}')
