"""Print the max abs difference between our SwinTransformer3D and mmaction2's, same weights.

    .venv/bin/python benchmarks/parity.py [--arch tiny] [--shapes 1x3x32x224x224 1x3x10x100x76 ...]

Our default computes the correct relative-position bias where a stage is smaller than the window
in H or W; there it differs from the original on purpose, and ``official_shrunk_bias=True``
reproduces it. Both are printed, with the explicit (non-fused) path's exactness.
"""
import argparse

import torch
from mmaction.models.backbones.swin import SwinTransformer3D as MMSwin

from video_swin_plugin.models import SwinTransformer3D
from video_swin_plugin.models.convert import from_mmaction2

DEFAULT_SHAPES = ['1x3x32x224x224', '1x3x16x250x230', '1x3x10x100x76', '2x3x9x83x110', '1x3x4x32x32', '1x3x2x8x8']


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='tiny', choices=['tiny', 'small', 'base', 'large'])
    p.add_argument('--shapes', nargs='+', default=DEFAULT_SHAPES, help='BxCxTxHxW')
    args = p.parse_args()
    torch.manual_seed(0)
    kw = dict(patch_size=(2, 4, 4), window_size=(8, 7, 7), drop_path_rate=0.0, patch_norm=True)
    mm = MMSwin(arch=args.arch, pretrained=None, **kw)
    mm.eval()  # mmaction2's train() returns None
    state = from_mmaction2(mm.state_dict())
    models = {}
    for name, extra in [('ours', {}), ('ours official_shrunk_bias', dict(official_shrunk_bias=True)),
                        ('ours explicit + official_shrunk_bias',
                         dict(official_shrunk_bias=True, fused_attention=False))]:
        models[name] = SwinTransformer3D(arch=args.arch, **kw, **extra).eval()
        models[name].load_state_dict(state, strict=True)
    print(f'arch {args.arch}, fp32, max abs difference to mmaction2 {mm.__class__.__name__}')
    for shape in args.shapes:
        x = torch.randn([int(s) for s in shape.split('x')])
        with torch.no_grad():
            ref = mm(x)
            diffs = {n: (m(x) - ref).abs().max().item() for n, m in models.items()}
        print(f'{shape:>16}  out {tuple(ref.shape)}  ' +
              '  '.join(f'{n}: {d:.2e}' for n, d in diffs.items()))


if __name__ == '__main__':
    main()
