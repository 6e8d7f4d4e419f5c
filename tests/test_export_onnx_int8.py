"""tools/export_onnx.py --int8: onnxruntime's dynamic int8 quantization of the exported graph,
checked against PyTorch fp32 and timed."""
import numpy as np
import onnx
import onnxruntime as ort
import torch

from .helpers import load_tool


def test_int8_graph_close_to_fp32(tmp_path, capsys, tiny_recognizer):
    tool = load_tool('export_onnx')
    config, checkpoint, model = tiny_recognizer
    out = tmp_path / 'tiny.onnx'
    argv = [str(config), str(checkpoint), '--out', str(out), '--shape', '2', '3', '16', '56',
            '56', '--output', 'scores', '--int8', '--repeats', '1']
    assert tool.main(argv) == 0
    printed = capsys.readouterr().out
    assert 'int8 onnxruntime vs PyTorch fp32: relative error' in printed and '(ok,' in printed
    int8 = tmp_path / 'tiny.int8.onnx'
    ops = [node.op_type for node in onnx.load(str(int8)).graph.node]
    # every Linear of the backbone (4 stages x 2 blocks x qkv, proj, fc1, fc2, and 3 patch
    # mergings) is quantized, its weight transpose folded first
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.backbone.modules())
    assert linears == 35
    assert sum(op in ('DynamicQuantizeMatMul', 'MatMulInteger') for op in ops) >= linears, ops
    quantized = sum(op in ('DynamicQuantizeMatMul', 'MatMulInteger', 'ConvInteger') for op in ops)
    assert f'({quantized} weight products (MatMul, Gemm, Conv) in 8 bit' in printed
    assert 'MatMul' in ops  # the attention's activation x activation products stay fp32
    x = torch.rand(2, 3, 16, 56, 56, generator=torch.Generator().manual_seed(3)) * 255
    session = ort.InferenceSession(str(int8), providers=['CPUExecutionProvider'])
    got = session.run(None, {'video': x.numpy()})[0]
    module = tool.ExportableRecognizer(model, normalize=True, softmax=False).eval()
    with torch.no_grad():
        expected = module(x).numpy()
    rel = np.linalg.norm(got - expected) / np.linalg.norm(expected)
    assert 0 < rel < 0.1, rel
    # a tolerance it cannot meet fails the run (exit status 1) and says so
    small = argv[:4] + ['--shape', '1', '3', '8', '32', '32'] + argv[10:]
    assert tool.main(small + ['--int8-tolerance', '0']) == 1
    assert 'FAILED, tolerance 0)' in capsys.readouterr().out
