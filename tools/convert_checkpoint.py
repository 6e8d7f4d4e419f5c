"""Convert a Video Swin checkpoint to the plugin's layout (the official one).

    python tools/convert_checkpoint.py SRC DST [--config CONFIG] [--cfg-options k=v ...]

SRC: an official Video Swin file (already our layout: copied through, unwrapped) or an
mmaction2 1.x Swin file (final norm ``backbone.norm3`` renamed ``backbone.norm``), a recognizer
or a bare backbone, saved bare or under ``state_dict``/``model``/``module.``. DST is written as
``{'state_dict': ..., 'meta': {...}}`` of plain tensors (loads with ``weights_only=True``).
With --config, DST must fit the config's recognizer (or its backbone, for a backbone file)
strictly, and every missing, unexpected or misshaped key is named.

Also read (issue 7): a torchvision ``swin3d_{t,s,b}`` state dict (``features.*`` keys), and an
ImageNet 2D Swin (original release or timm; 4-D ``patch_embed.proj.weight``), which is inflated
into the backbone of --config (required then) and written as a bare backbone state dict, for
``backbone.pretrained=DST, pretrained2d=False`` (or give the 2D file itself to the backbone with
``pretrained2d=True``). ``--to torchvision`` writes torchvision's layout instead of ours.

The model of --config only gives names and shapes (it never runs), so it is built on the CPU and
the tool takes no --device. Exit status 0, or 2 with one ``error:`` line for bad input.

    python tools/convert_checkpoint.py swin_tiny_patch4_window7_224.pth swin_t_inflated.pth \
        --config configs/recognition/swin/swin_tiny_patch244_window877_kinetics400_1k.py
    python tools/convert_checkpoint.py swin3d_t-7615ae03.pth swin3d_t_ours.pth
    python tools/convert_checkpoint.py ours.pth swin3d_t_tv.pth --to torchvision
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402
from video_swin_plugin.checkpoint import check_state_dict, load_weights  # noqa: E402
from video_swin_plugin.errors import CheckpointMismatchError, UsageError  # noqa: E402
from video_swin_plugin.models.convert import (from_mmaction2, from_torchvision,  # noqa: E402
                                              inflate_2d_swin, to_torchvision)


def detect_layout(state_dict: dict, source: str) -> str:
    """'mmaction2' (final norm ``norm3``), 'torchvision' (``features.*``), 'swin2d' (ImageNet
    2D Swin: 4-D patch embedding) or 'official'; anything else is an error."""
    if not any(k.endswith('patch_embed.proj.weight') for k in state_dict):
        some = ', '.join(sorted(state_dict)[:5])
        raise CheckpointMismatchError(f'{source} does not look like a Video Swin checkpoint: no '
                         f'patch_embed.proj.weight key (first keys: {some or "none"})')
    if any(k.startswith('features.') for k in state_dict):
        return 'torchvision'
    if getattr(state_dict.get('patch_embed.proj.weight'), 'ndim', 5) == 4:
        return 'swin2d'
    if any(k in ('norm3.weight', 'backbone.norm3.weight') for k in state_dict):
        return 'mmaction2'
    return 'official'


def convert(src: str, config: str = None, cfg_options=None) -> tuple:
    """``(state_dict in our layout, the source layout)`` of the file ``src``; a 2D Swin is
    inflated into the backbone of ``config``."""
    state_dict = load_weights(src)
    layout = detect_layout(state_dict, src)
    if layout == 'mmaction2':
        return from_mmaction2(state_dict), layout
    if layout == 'torchvision':
        return from_torchvision(state_dict), layout
    if layout == 'swin2d':
        if not config:
            raise UsageError(f'{src} is a 2D (ImageNet) Swin; inflating it needs --config, '
                             'whose backbone gives the 3D shapes')
        from video_swin_plugin.apis.inference import init_recognizer
        model = init_recognizer(config, cfg_options=cfg_options)
        return inflate_2d_swin(state_dict, model.backbone), layout
    return state_dict, layout


def check_against_config(state_dict: dict, config: str, cfg_options=None, source: str = '') -> None:
    from video_swin_plugin.apis.inference import init_recognizer
    model = init_recognizer(config, cfg_options=cfg_options)
    is_recognizer = any(k.startswith('backbone.') for k in state_dict)
    check_state_dict(model if is_recognizer else model.backbone, state_dict, strict=True,
                     source=source)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert a Video Swin checkpoint to our layout')
    parser.add_argument('src', help='official or mmaction2 1.x Swin checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--config', help='check the result strictly against this config\'s model')
    cli.add_cfg_options_arg(parser)
    parser.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    parser.add_argument('--to', choices=['ours', 'torchvision'], default='ours',
                        help='layout of DST: ours (official Video Swin) or torchvision swin3d')
    return parser.parse_args(argv)


def convert_file(args: argparse.Namespace) -> str:
    """Convert ``args.src`` to ``args.dst``, print what was done, return the source layout."""
    if osp.abspath(args.src) == osp.abspath(args.dst):
        raise UsageError(f'source and destination are the same file: {args.src}')
    if osp.exists(args.dst) and not args.force:
        raise FileExistsError(f'{args.dst} exists; pass --force to overwrite it')
    if args.cfg_options and not args.config:
        raise UsageError('--cfg-options edits the model of --config; give --config too')
    cli.existing_file(args.src, 'checkpoint file')
    args.config = cli.config_file(args.config) if args.config else None
    state_dict, layout = convert(args.src, args.config, args.cfg_options)
    if args.config:
        check_against_config(state_dict, args.config, args.cfg_options,
                             source=f'{args.src} (converted)')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    if args.to == 'torchvision':  # a bare state dict, as torchvision publishes its weights
        state_dict = to_torchvision(state_dict)
        torch.save(state_dict, args.dst)
    else:
        torch.save({'state_dict': state_dict,
                    'meta': {'converted_from': osp.basename(args.src), 'source_layout': layout}},
                   args.dst)
    print(f'{args.src} ({layout} layout, {len(state_dict)} tensors) -> {args.dst}'
          + (' (torchvision layout)' if args.to == 'torchvision' else '')
          + (f', fits {args.config} strictly' if args.config else ''))
    return layout


def main(argv=None) -> int:
    convert_file(parse_args(argv))
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
