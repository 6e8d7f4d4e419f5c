"""Compute precision (video_swin_plugin.precision): the 'auto' choice from the device's flags,
casting a recognizer (backbone reduced, memory and head fp32), predict_clip in half precision,
NaN/Inf clips refused with the memory left as it was, and the reduced-precision staging paths
agreeing with fp32."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from video_swin_plugin.apis.inference import init_recognizer
from video_swin_plugin.apis.streaming import StreamingClassifier
from video_swin_plugin.clip_grid import ClipSchedule
from video_swin_plugin.errors import NonFiniteClipError, UsageError
from video_swin_plugin.models.necks.recurrent import FAMMemory
from video_swin_plugin.precision import (DTYPES, Precision, cast_for_inference, choose_precision,
                                         cpu_flags, model_precision, value_bytes)
from video_swin_plugin.video_reader import DecodedClip

from .helpers import STAGE_NAMES as CLASSES, tiny_stream_config as tiny_config

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / 'demo' / 'sowsleep_synthetic_tiny.py'
DEMO_CHECKPOINT = REPO / 'demo' / 'sowsleep_synthetic_tiny.pth'
REDUCED = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def tiny_model():
    """The streaming tests' Swin + FAM, random weights, fp32, eval."""
    torch.manual_seed(0)
    return init_recognizer(tiny_config())


def clips(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` raw RGB clips, Tensor[n, 3, 4, 32, 32], 0-255."""
    return torch.rand(n, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed)) * 255


# ---- the choice ------------------------------------------------------------------------------

@pytest.mark.parametrize('flags, expected', [
    ({'fma', 'avx', 'avx2', 'f16c'}, 'fp32'),  # an AVX2-only CPU (EPYC Zen 1): bf16 is slow
    ({'avx2', 'avx512f', 'avx512bw', 'avx512_vnni'}, 'fp32'),  # AVX-512 without bf16
    ({'avx2', 'avx512f', 'avx512_bf16'}, 'bf16'),  # Cooper Lake, Zen 4
    ({'avx2', 'avx512f', 'amx_tile', 'amx_bf16', 'amx_int8'}, 'bf16'),  # Sapphire Rapids
    (set(), 'fp32'),  # flags unknown
])
def test_auto_on_cpu_follows_the_bf16_flags(flags, expected):
    choice = choose_precision('auto', 'cpu', flags=flags)
    assert choice.name == expected and choice.requested == 'auto'
    if expected == 'bf16':
        assert any(f in choice.reason for f in ('avx512_bf16', 'amx_bf16'))
    else:
        assert 'no avx512_bf16 or amx_bf16' in choice.reason


def test_auto_on_cuda_is_bf16_where_supported_else_fp16():
    assert choose_precision('auto', 'cuda', cuda_bf16=True).name == 'bf16'
    assert choose_precision('auto', 'cuda:1', cuda_bf16=False).name == 'fp16'
    assert choose_precision('bf16', 'cuda', cuda_bf16=True).name == 'bf16'
    with pytest.raises(UsageError, match='cuda has no bf16'):
        choose_precision('bf16', 'cuda', cuda_bf16=False)


def test_explicit_choices_and_bad_names():
    for name in ('fp32', 'bf16', 'fp16', 'int8'):
        assert choose_precision(name, 'cpu', flags=set()) == Precision(name, name)
    with pytest.raises(UsageError, match='int8 runs on the CPU only'):
        choose_precision('int8', 'cuda', cuda_bf16=True)
    with pytest.raises(UsageError, match=r"--dtype must be one of .*int8, got 'fp64'"):
        choose_precision('fp64', 'cpu')
    assert DTYPES == ('auto', 'fp32', 'bf16', 'fp16', 'int8')


def test_cpu_flags_are_read_here():
    if not Path('/proc/cpuinfo').is_file():
        pytest.skip('no /proc/cpuinfo on this OS: auto falls back to fp32')
    flags = cpu_flags()
    assert flags and ({'fpu', 'sse2'} <= flags or 'fp' in flags)  # x86 or ARM names
    assert choose_precision('auto', 'cpu') == choose_precision('auto', 'cpu', flags=flags)


# ---- predict_clip in half precision (model.to) ----------------------------------------------

@pytest.mark.parametrize('name', ['bf16', 'fp16'])
def test_predict_clip_after_model_to_half(name):
    model = tiny_model()
    x, memory = clips(2), model.init_memory(2)
    expected, expected_memory = model.predict_clip(x, memory)
    half = copy.deepcopy(model).to(REDUCED[name])
    assert model_precision(half) == name
    scores, new = half.predict_clip(x, half.init_memory(2))  # its own memory: half precision
    assert scores.dtype == torch.float32 and new.tokens.dtype == REDUCED[name]
    assert (scores - expected).abs().max() < 0.05
    scores, new = half.predict_clip(x, memory)  # an fp32 memory goes back fp32
    assert new.tokens.dtype == torch.float32 and new.fresh.dtype == torch.float32
    assert (scores - expected).abs().max() < 0.05
    assert (new.tokens - expected_memory.tokens).abs().max() < 0.1


# ---- NaN / Inf clips -------------------------------------------------------------------------

@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_clip_refused_and_memory_unchanged(bad):
    model = tiny_model()
    _, memory = model.predict_clip(clips(2, seed=1), model.init_memory(2))  # a used memory
    before = FAMMemory(memory.tokens.clone(), memory.fresh.clone())
    x = clips(2)
    x[1, 0, 2, 5, 7] = bad
    x[1, 2, 0, 0, 0] = bad
    with pytest.raises(NonFiniteClipError, match=r'clip 1 of the batch \(2 of 12288 values\)'):
        model.predict_clip(x, memory)
    assert torch.equal(memory.tokens, before.tokens) and torch.equal(memory.fresh, before.fresh)
    scores, after = model.predict_clip(clips(2), memory)  # and it goes on from there
    assert torch.isfinite(scores).all() and torch.isfinite(after.tokens).all()
    assert not isinstance(NonFiniteClipError('x'), KeyError)
    assert isinstance(NonFiniteClipError('x'), ValueError)


def _decoded(frames: torch.Tensor):
    """One DecodedClip per clip of ``frames (Tensor[n, 3, 4, 32, 32])``, one a second."""
    return [DecodedClip(k, float(k), k + 1.0, frames[k]) for k in range(len(frames))]


def test_streaming_reports_a_nan_clip_as_unreadable_and_goes_on():
    model = tiny_model()
    clf = StreamingClassifier.from_model(model, CLASSES, ClipSchedule(4, 2, 1.0))
    frames = clips(5)
    poisoned = frames.clone()
    poisoned[2, 1, 3, 10, 10] = float('nan')
    results = list(clf.run('night.mp4', reader=_decoded(poisoned)))
    assert [r.clip for r in results] == [0, 1, 2, 3, 4]
    bad = results[2]
    assert bad.scores is None and bad.label is None and bad.skipped == 'NaN or Inf pixel values'
    assert bad.memory is results[1].memory  # the memory passed in, unchanged
    # the clips after it are scored as if the poisoned clip had been missing from the video
    gap = list(clf.run('night.mp4', reader=[c for c in _decoded(frames) if c.index != 2]))
    for got, want in zip(results[3:], gap[2:]):
        assert got.clip == want.clip and np.array_equal(got.scores, want.scores)
        assert torch.equal(got.memory.tokens, want.memory.tokens)


# ---- cast_for_inference ----------------------------------------------------------------------

@pytest.mark.parametrize('name', ['bf16', 'fp16', 'int8'])
def test_cast_keeps_neck_head_and_memory_fp32(name):
    reference = tiny_model()
    model = copy.deepcopy(reference)
    assert cast_for_inference(model, name) == Precision(name, name)
    assert model_precision(model) == name
    for part in (model.neck, model.cls_head):
        assert all(p.dtype == torch.float32 for p in part.parameters())
    if name in REDUCED:
        assert all(p.dtype == REDUCED[name] for p in model.backbone.parameters())
    memory, ref_memory = model.init_memory(1), reference.init_memory(1)
    for k in range(6):
        x = clips(1, seed=k)
        scores, new = model.predict_clip(x, memory)
        assert scores.dtype == torch.float32
        assert new.tokens.dtype == torch.float32 and new.fresh.dtype == torch.float32
        # the neck runs in fp32 on the (reduced-precision) backbone's features: exactly what
        # the fp32 neck gives on those features from the same memory
        feats = model.backbone(model.normalize_clip(x))
        assert feats.dtype == torch.float32
        _, want = reference.neck.step(feats, memory)
        assert torch.equal(new.tokens, want.tokens)
        memory = new
        _, ref_memory = reference.predict_clip(x, ref_memory)
    assert (memory.tokens - ref_memory.tokens).abs().max() < 0.1  # still close to fp32's


def test_cast_through_the_data_preprocessor_path():
    """mmaction2's path (test_step: data preprocessor -> extract_feat -> head) in bf16."""
    from mmaction.structures import ActionDataSample
    model = tiny_model()
    reference = copy.deepcopy(model)
    cast_for_inference(model, 'bf16')
    frames = clips(2).unsqueeze(1).to(torch.uint8)  # N, K=1, C, T, H, W
    batch = dict(inputs=list(frames), data_samples=[
        ActionDataSample().set_gt_labels(torch.tensor([0])) for _ in range(2)])
    inputs = model.data_preprocessor(copy.deepcopy(batch), False)['inputs']
    assert inputs.dtype == torch.bfloat16  # the preprocessor follows the backbone
    got = model.test_step(copy.deepcopy(batch))
    want = reference.test_step(copy.deepcopy(batch))
    for g, w in zip(got, want):
        assert (g.pred_scores.item - w.pred_scores.item).abs().max() < 0.05


def test_cast_twice_and_model_without_backbone():
    model = tiny_model()
    cast_for_inference(model, 'int8')
    assert cast_for_inference(model, 'int8').name == 'int8'  # already there: nothing to do
    with pytest.raises(UsageError, match='already in int8'):
        cast_for_inference(model, 'bf16')
    plain = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert cast_for_inference(plain, 'fp32').name == 'fp32'
    with pytest.raises(UsageError, match='no backbone'):
        cast_for_inference(plain, 'bf16')


def test_value_bytes_for_every_precision():
    w = torch.randn(3, 4)
    assert value_bytes(w) == w.numpy().tobytes()  # fp32 as before (fingerprints unchanged)
    assert value_bytes(w.bfloat16()) != value_bytes((w * 1.01).bfloat16())
    q = torch.quantize_per_channel(w, torch.tensor([0.1, 0.2, 0.3]), torch.zeros(3).long(), 0,
                                   torch.qint8)
    q2 = torch.quantize_per_channel(w, torch.tensor([0.1, 0.2, 0.4]), torch.zeros(3).long(), 0,
                                    torch.qint8)
    assert value_bytes((q, None)) != value_bytes((q2, None))  # the scales count
    assert value_bytes(torch.qint8) == b'torch.qint8'


def test_classifier_records_precision_and_fingerprints_differ(tmp_path):
    cfg = tmp_path / 'tiny.py'
    tiny_config().dump(str(cfg))
    torch.manual_seed(0)
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': init_recognizer(tiny_config()).state_dict()}, ckpt)
    fingerprints = {}
    for name in ('fp32', 'bf16', 'fp16', 'int8'):
        clf = StreamingClassifier(cfg, ckpt, dtype=name)
        assert clf.dtype == name and clf.precision.name == name
        fingerprints[name] = clf.fingerprint()
    assert len(set(fingerprints.values())) == 4  # a resume never mixes precisions
    # fp32 fingerprints are what they were before precision existed: weights, classes, grid
    clf = StreamingClassifier(cfg, ckpt)
    assert clf.dtype == 'fp32' and clf.fingerprint() == fingerprints['fp32']
    wrapped = StreamingClassifier.from_model(clf.model, CLASSES, clf.schedule)
    assert wrapped.dtype == 'fp32'
    auto = StreamingClassifier(cfg, ckpt, dtype='auto')
    assert auto.dtype == choose_precision('auto', 'cpu').name and 'auto' in str(auto.precision)


# ---- agreement with fp32 on a generated recording --------------------------------------------

# Stated thresholds (the goals): over the clips of a generated 90-s recording staged by
# the trained demo model, the share of clips whose label equals fp32's, and the largest
# difference of any class probability. Measured here: 100% for every precision, max
# probability differences 2.7e-5 (bf16), 4.1e-6 (fp16), 1.1e-4 (int8).
AGREEMENT = {'bf16': (0.99, 0.01), 'fp16': (0.99, 0.01), 'int8': (0.98, 0.02)}


@pytest.fixture(scope='module')
def recording(tmp_path_factory) -> str:
    from video_swin_plugin.datasets.synthetic import write_recordings
    root = tmp_path_factory.mktemp('night')
    write_recordings(root, num_recordings=1, duration_sec=90, epoch_sec=10.0, fps=8, size=32,
                     seed=7)
    return str(next((root / 'videos').glob('*.mp4')))


@pytest.fixture(scope='module')
def fp32_scores(recording) -> np.ndarray:
    clf = StreamingClassifier(DEMO_CONFIG, DEMO_CHECKPOINT, dtype='fp32')
    return np.stack([r.scores for r in clf.run(recording)])


@pytest.mark.parametrize('name', ['bf16', 'fp16', 'int8'])
def test_staging_in_reduced_precision_agrees_with_fp32(name, recording, fp32_scores):
    clf = StreamingClassifier(DEMO_CONFIG, DEMO_CHECKPOINT, dtype=name)
    results = list(clf.run(recording))
    assert all(r.memory.tokens.dtype == torch.float32 for r in results)
    scores = np.stack([r.scores for r in results])
    assert scores.shape == fp32_scores.shape == (90, 3)
    agreement = (scores.argmax(1) == fp32_scores.argmax(1)).mean()
    max_diff = np.abs(scores - fp32_scores).max()
    min_agreement, max_prob_diff = AGREEMENT[name]
    print(f'{name}: label agreement with fp32 {agreement:.3f}, max probability difference '
          f'{max_diff:.2e}')
    assert agreement >= min_agreement and max_diff <= max_prob_diff
    assert max_diff > 0  # it did run in another precision
