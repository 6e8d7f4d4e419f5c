"""Export a recognizer (backbone + head) to ONNX at a fixed input shape, checked with onnxruntime.

    python tools/export_onnx.py CONFIG CHECKPOINT --out swin_t.onnx
        [--shape 1 3 32 224 224] [--output probs|scores] [--no-normalize] [--tolerance 1e-4]
        [--device cuda] [--cfg-options k=v ...] [--int8 [--int8-tolerance 0.1]]

The graph takes ``video``, float ``[B, 3, T, H, W]`` RGB, and returns ``probs`` (softmax, as the
configs' ``average_clips='prob'``) or ``scores`` ``[B, num_classes]``. By default the config's
normalization (mean/std of the data preprocessor) is inside the graph, so the input is raw
0-255 pixels; ``--no-normalize`` leaves it to the caller. Views (clips x crops) are a batch:
run them and average the outputs as the test protocol does.

After export the same random input goes through PyTorch (on ``--device``, TF32 off) and
onnxruntime (CPU); the tool fails (exit status 1) when they differ by more than ``--tolerance``;
bad input: exit status 2 with one ``error:`` line.

``--int8`` also writes ``OUT`` with ``.int8.onnx`` for ``.onnx``: the graph's weight matrix
products quantized by onnxruntime's dynamic quantization (8-bit weights per output channel,
activations quantized at run time; the attention's activation x activation products stay
fp32), the scheme of ``--dtype int8`` in PyTorch. It is checked against PyTorch fp32 on
the same input (relative error of the outputs, top-1 equal per batch element; exit status 1
above ``--int8-tolerance``) and timed against the fp32 graph in onnxruntime.

Exported with the TorchScript-based
exporter (``dynamo=False``), opset 17; the shift masks are built by one eager forward first
and enter the graph as constants, which is also why the shape is fixed. Swin-T at
1x3x32x224x224: a 132 MB file, exported in about a minute on 2 CPU cores.
"""
import argparse
import os
import os.path as osp
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # a checkout without install
from video_swin_plugin import cli  # noqa: E402
from video_swin_plugin.apis.inference import init_recognizer  # noqa: E402
from video_swin_plugin.errors import ConfigError  # noqa: E402


class ExportableRecognizer(nn.Module):
    """Backbone + head of a recognizer as one tensor-in, tensor-out module.

    Args:
        model: a Recognizer3D-like model (``backbone``, ``cls_head``, ``data_preprocessor``).
        normalize (bool): subtract the preprocessor's mean and divide by its std first.
        softmax (bool): return probabilities rather than class scores.
    """

    def __init__(self, model: nn.Module, normalize: bool = True, softmax: bool = True) -> None:
        super().__init__()
        if getattr(model, 'with_neck', False):
            raise ConfigError(f'{type(model).__name__} has a neck; only backbone + head models '
                             'are exported (a recurrent neck carries state between clips)')
        self.backbone = model.backbone
        self.cls_head = model.cls_head
        self.softmax = softmax
        self.normalize = normalize
        pre = model.data_preprocessor
        mean = getattr(pre, 'mean', None)
        if normalize and mean is None:
            raise ConfigError('--normalize asked for, but the data preprocessor has no mean/std')
        if normalize:
            self.register_buffer('mean', pre.mean.detach().reshape(1, -1, 1, 1, 1).clone())
            self.register_buffer('std', pre.std.detach().reshape(1, -1, 1, 1, 1).clone())

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video (Tensor[B, 3, T, H, W]) -> Tensor[B, num_classes]"""
        x = (video - self.mean) / self.std if self.normalize else video
        feats = self.backbone(x)
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        scores = self.cls_head(feats)
        return scores.softmax(dim=-1) if self.softmax else scores


def export(module: nn.Module, shape, path: str, opset: int = 17) -> None:
    """Write ``module`` as ONNX for inputs of ``shape``."""
    module.eval()
    example = torch.rand(*shape, device=_device(module)) * 255
    with torch.no_grad():
        module(example)  # builds and caches every stage's shift mask for this shape
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', message='Constant folding')
        # no constant folding: folded, every block's bias + shift mask became its own
        # [nW, nH, N, N] constant (Swin-T at 32x224: 407 MB file instead of 132 MB, same speed)
        torch.onnx.export(module, (example, ), path, dynamo=False, opset_version=opset,
                          do_constant_folding=False, input_names=['video'],
                          output_names=['probs' if getattr(module, 'softmax', False) else
                                        'scores'])


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def check_with_onnxruntime(module: nn.Module, path: str, shape, seed: int = 0):
    """Max absolute difference between PyTorch and onnxruntime on one random input, and the
    two run times (s)."""
    import onnxruntime as ort
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=generator) * 255
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    t = time.time()
    try:  # fp32 on a GPU too: TF32 (cuDNN's default for convolutions) keeps 10 mantissa bits
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        with torch.no_grad():
            expected = module(x.to(_device(module))).cpu().numpy()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    torch_s = time.time() - t
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    t = time.time()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    ort_s = time.time() - t
    return float(np.abs(got - expected).max()), torch_s, ort_s


def int8_path(path: str) -> str:
    """``swin_t.onnx`` -> ``swin_t.int8.onnx``."""
    stem, ext = osp.splitext(path)
    return f'{stem}.int8{ext or ".onnx"}'


def fold_weight_transposes(model) -> int:
    """Replace each ``Transpose(weight initializer)`` feeding MatMul/Gemm nodes, in place, by the
    transposed initializer; returns how many. Exported without constant folding (see
    :func:`export`), every Linear's weight reaches its MatMul through a Transpose, and
    onnxruntime's quantizer only quantizes a MatMul whose weight is an initializer."""
    from onnx import numpy_helper
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    users = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    folded = []
    for node in graph.node:
        if (node.op_type != 'Transpose' or node.input[0] not in inits
                or not all(u.op_type in ('MatMul', 'Gemm') for u in users.get(node.output[0], []))):
            continue
        perm = next((list(a.ints) for a in node.attribute if a.name == 'perm'), None)
        weight = numpy_helper.to_array(inits[node.input[0]])
        graph.initializer.append(numpy_helper.from_array(
            np.ascontiguousarray(weight.transpose(perm)), node.output[0]))
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
        if all(u in folded for u in users[node.input[0]]):  # the untransposed copy is unused
            graph.initializer.remove(inits[node.input[0]])
    return len(folded)


def quantize_int8(path: str, out: str) -> int:
    """onnxruntime dynamic quantization of ``path``'s weight MatMul/Gemm nodes into ``out``
    (their weight transposes folded first); returns the number of quantized weight nodes.

    Weights are uint8 per output channel: with int8 weights, CPUs without VNNI run a u8 x s8
    product whose int16 partial sums can saturate (onnxruntime's quantization notes); on the
    test model that gave 7.8% relative error against 2.9% with uint8 weights."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    model = onnx.load(path)
    fold_weight_transposes(model)
    folded = out + '.folded.onnx'
    onnx.save(model, folded)
    logging.disable(logging.WARNING)  # its advice to pre-process; the result is checked below
    try:
        quantize_dynamic(folded, out, per_channel=True, weight_type=QuantType.QUInt8,
                         extra_options={'MatMulConstBOnly': True})
    finally:
        logging.disable(logging.NOTSET)
        os.remove(folded)
    return sum(n.op_type in ('DynamicQuantizeMatMul', 'MatMulInteger', 'ConvInteger')
               for n in onnx.load(out).graph.node)


def _ort_run(path: str, x: np.ndarray, repeats: int):
    """(output, median seconds of ``repeats`` runs after one warm-up) in onnxruntime (CPU)."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    feed = {session.get_inputs()[0].name: x}
    out = session.run(None, feed)[0]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def check_int8(module: nn.Module, fp32_path: str, path: str, shape, repeats: int = 3,
               seed: int = 0) -> dict:
    """The int8 graph against PyTorch fp32 on one random input: relative error of the outputs,
    top-1 equal per batch element, and onnxruntime times of the fp32 and int8 graphs."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=generator) * 255
    with torch.no_grad():
        expected = module(x.to(_device(module))).float().cpu().numpy()
    fp32, fp32_s = _ort_run(fp32_path, x.numpy(), repeats)
    got, int8_s = _ort_run(path, x.numpy(), repeats)
    return dict(rel_error=float(np.linalg.norm(got - expected) / np.linalg.norm(expected)),
                max_abs_diff=float(np.abs(got - expected).max()),
                top1_equal=int((got.argmax(-1) == expected.argmax(-1)).sum()),
                batch=int(expected.shape[0]), fp32_s=fp32_s, int8_s=int8_s,
                fp32_mb=osp.getsize(fp32_path) / 2**20, int8_mb=osp.getsize(path) / 2**20)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export backbone + head to ONNX')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (omit for random weights)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=5, default=None, metavar=('B', 'C', 'T', 'H',
                                                                           'W'),
                        help='fixed input shape (default: 1 3 clip_len 224 224)')
    parser.add_argument('--output', choices=['probs', 'scores'], default='probs')
    parser.add_argument('--no-normalize', action='store_true',
                        help='input is already normalized (mean/std not in the graph)')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest accepted |onnxruntime - PyTorch| (default 1e-4)')
    parser.add_argument('--skip-check', action='store_true', help='do not run onnxruntime')
    parser.add_argument('--int8', action='store_true',
                        help='also write OUT.int8.onnx (onnxruntime dynamic int8 quantization), '
                        'checked and timed against fp32')
    parser.add_argument('--int8-tolerance', type=float, default=0.1,
                        help='largest accepted relative error of the int8 outputs against '
                        'PyTorch fp32 (default 0.1)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='onnxruntime runs timed per graph with --int8 (default 3)')
    cli.add_device_arg(parser)
    cli.add_cfg_options_arg(parser)
    args = parser.parse_args(argv)
    for name, size in zip('BCTHW', args.shape or ()):
        cli.at_least(f'--shape {name}', size, 1)
    cli.at_least('--tolerance', args.tolerance, 0)
    cli.at_least('--int8-tolerance', args.int8_tolerance, 0)
    cli.at_least('--repeats', args.repeats, 1)
    cli.check_device(args.device)
    return args


def _default_shape(cfg):
    from video_swin_plugin.apis.frames import pipeline_from_config
    clip_len = 32
    try:
        for step in pipeline_from_config(cfg):
            if 'clip_len' in step:
                clip_len = int(step['clip_len'])
    except KeyError:
        pass
    return [1, 3, clip_len, 224, 224]


def main(argv=None) -> int:
    args = parse_args(argv)
    args.config = cli.config_file(args.config)
    cli.existing_file(args.checkpoint, 'checkpoint file')
    model = init_recognizer(args.config, args.checkpoint, args.device, args.cfg_options)
    cfg = model.cfg
    shape = args.shape or _default_shape(cfg)
    module = ExportableRecognizer(model, normalize=not args.no_normalize,
                                  softmax=args.output == 'probs').eval()
    t = time.time()
    export(module, shape, args.out, args.opset)
    print(f'exported {args.out} for input {shape} in {time.time() - t:.1f} s')
    if args.int8:
        t = time.time()
        count = quantize_int8(args.out, int8_path(args.out))
        print(f'quantized {int8_path(args.out)} ({count} weight products (MatMul, Gemm, Conv) '
              f'in 8 bit, activations quantized at run time) in {time.time() - t:.1f} s')
    if args.skip_check:
        return 0
    diff, torch_s, ort_s = check_with_onnxruntime(module, args.out, shape)
    ok = diff <= args.tolerance
    print(f'onnxruntime vs PyTorch: max |diff| {diff:.2e} ({"ok" if ok else "FAILED"}, '
          f'tolerance {args.tolerance:g}); one forward: PyTorch {torch_s:.2f} s, '
          f'onnxruntime {ort_s:.2f} s')
    if args.int8:
        r = check_int8(module, args.out, int8_path(args.out), shape, args.repeats)
        int8_ok = r['rel_error'] <= args.int8_tolerance
        print(f"int8 onnxruntime vs PyTorch fp32: relative error {r['rel_error']:.2e} "
              f"({'ok' if int8_ok else 'FAILED'}, tolerance {args.int8_tolerance:g}), max "
              f"|diff| {r['max_abs_diff']:.2e}, top-1 equal {r['top1_equal']}/{r['batch']}; "
              f"onnxruntime forward (median of {args.repeats}): fp32 {r['fp32_s']:.3f} s, int8 "
              f"{r['int8_s']:.3f} s ({r['fp32_s'] / r['int8_s']:.2f}x); file "
              f"{r['fp32_mb']:.1f} -> {r['int8_mb']:.1f} MB")
        ok = ok and int8_ok
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(cli.run(main))
