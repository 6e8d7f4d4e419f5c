"""ONNX export of backbone + head at a fixed shape, checked against PyTorch with onnxruntime."""
import numpy as np
import onnx  # noqa: F401  (pinned in requirements-test.txt: a missing one must fail, not skip)
import onnxruntime as ort
import pytest
import torch

from .helpers import cfg_options_argv, jitter, load_tool

FIVE_CLASSES = {'model.cls_head.num_classes': 5}  # the tiny recognizer with a 5-class head


@pytest.fixture(scope='module')
def tool():
    return load_tool('export_onnx')


def _randomized(config):
    from video_swin_plugin.apis.inference import init_recognizer
    return jitter(init_recognizer(config, cfg_options=FIVE_CLASSES))


def test_onnxruntime_matches_pytorch_to_1e_4(tool, tiny_recognizer, tmp_path, capsys):
    model = _randomized(tiny_recognizer.config)
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    out = tmp_path / 'tiny.onnx'
    # 16 frames -> 8 temporal tokens (> Wd 4: temporal shift); 56 px -> 14, padded to windows
    rc = tool.main([tiny_recognizer.config, str(checkpoint), '--out', str(out), '--shape', '2',
                    '3', '16', '56', '56', '--output', 'scores']
                   + cfg_options_argv(FIVE_CLASSES))
    assert rc == 0 and 'ok' in capsys.readouterr().out
    module = tool.ExportableRecognizer(model, normalize=True, softmax=False).eval()
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    assert [i.shape for i in session.get_inputs()] == [[2, 3, 16, 56, 56]]
    x = torch.rand(2, 3, 16, 56, 56) * 255
    got = session.run(None, {'video': x.numpy()})[0]
    with torch.no_grad():
        expected = module(x)
        # the graph is the recognizer's own test path: preprocessor, backbone, head
        data = model.data_preprocessor(dict(inputs=list(x[:, None]), data_samples=None), False)
        scores = model.cls_head(model.backbone(data['inputs'].flatten(0, 1)))
    torch.testing.assert_close(expected, scores, atol=1e-5, rtol=1e-5)
    assert got.shape == (2, 5)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)
    assert np.abs(got[0] - got[1]).max() > 1e-3  # two different inputs, two different answers


def test_probabilities_without_normalization(tool, tiny_recognizer, tmp_path):
    model = _randomized(tiny_recognizer.config)
    module = tool.ExportableRecognizer(model, normalize=False, softmax=True).eval()
    out = str(tmp_path / 'probs.onnx')
    tool.export(module, (1, 3, 8, 32, 32), out)
    diff, _, _ = tool.check_with_onnxruntime(module, out, (1, 3, 8, 32, 32))
    assert diff < 1e-4
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    assert session.get_outputs()[0].name == 'probs'
    probs = session.run(None, {'video': np.random.rand(1, 3, 8, 32, 32).astype(np.float32)})[0]
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)


def test_models_with_a_neck_are_refused(tool):
    class WithNeck(torch.nn.Module):
        with_neck = True

    with pytest.raises(ValueError, match='has a neck'):
        tool.ExportableRecognizer(WithNeck())
