"""Code the tests share: the tiny models, the one video writer, generated data, the tools' runners.

The tiny models, each defined once here (conftest.py builds and saves them as fixtures):

* ``TINY_SWIN``: SwinTransformer3D arguments, ~0.1 M parameters, 128 output channels.
* the Kinetics-style recognizer, ``tiny_recognizer_config()``: the Swin-T K400 config with
  TINY_SWIN as its backbone and light test views (``TINY_OPTIONS``, also usable as
  ``--cfg-options`` on the config given by name); ``synthetic_training_config()`` trains it on
  ``write_colour_dataset``'s clips.
* the FAM streaming model, ``tiny_stream_config()``: SequenceRecognizer3D (TINY_SWIN + FAMNeck)
  with its clip grid and test pipeline.
"""
import copy
import functools
import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import av
import numpy as np
import torch

from video_swin_plugin.models.backbones.swin3d import SwinTransformer3D

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data'
TOOLS = REPO / 'tools'

# ---- the package's configs -----------------------------------------------------------------

SWIN_T_K400 = REPO / 'configs/recognition/swin/swin_tiny_patch244_window877_kinetics400_1k.py'
FAM_SYNTHETIC_TINY = REPO / 'configs/recognition/swin_fam/swin_tiny_fam_sowsleep_synthetic_tiny.py'
# model-index.yml's models, in its order
SWIN_MODELS = [
    'swin_tiny_patch244_window877_kinetics400_1k',
    'swin_small_patch244_window877_kinetics400_1k',
    'swin_base_patch244_window877_kinetics400_1k',
    'swin_base_patch244_window877_kinetics400_22k',
    'swin_base_patch244_window877_kinetics600_22k',
    'swin_base_patch244_window1677_sthv2',
]
FAM_MODELS = ['swin_tiny_fam_patch244_window877_sowsleep', 'swin_tiny_fam_sowsleep_synthetic_tiny']
DEMO_MODEL = 'sowsleep_synthetic_tiny'
MEMORY_MODELS = ['swin_tiny_fam_memory_task', 'swin_tiny_fam_long_memory_task',  # the memory
                 'swin_tiny_clip_memory_task', 'swin_tiny_gru_memory_task']  # benchmark's

# ---- the tiny models ---------------------------------------------------------------------------

# A Swin small enough for CPU tests: 4 stages, shifted blocks everywhere, ~0.1 M parameters.
TINY_SWIN = dict(patch_size=(2, 4, 4), embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                 window_size=(4, 3, 3), patch_norm=True, drop_path_rate=0.0)
TINY_SWIN_CHANNELS = 128  # embed_dim * 2 ** 3: what a head on TINY_SWIN takes

# The Swin-T K400 config shrunk (dotted keys, as --cfg-options): TINY_SWIN, 400 classes, test
# views of 2 clips x 3 crops, 8 frames 2 apart at 64 px (test_pipeline is what the embedder and
# streaming reader read, the dataloader's what classify and tools/test.py read).
TINY_OPTIONS = {
    **{f'model.backbone.{key}': value for key, value in TINY_SWIN.items()},
    'model.cls_head.in_channels': TINY_SWIN_CHANNELS,
    **{f'{pipeline}.{step}': value
       for pipeline in ('test_pipeline', 'test_dataloader.dataset.pipeline')
       for step, value in (('1.clip_len', 8), ('1.num_clips', 2), ('3.scale', (-1, 64)),
                           ('4.crop_size', 64))},
}


def cfg_options_argv(options: dict) -> List[str]:
    """``{'a.b': (1, 2)}`` -> ``['--cfg-options', 'a.b=(1,2)']`` (mmengine's DictAction syntax)."""
    def fmt(value):
        if isinstance(value, (list, tuple)):
            inner = ','.join(map(str, value))
            return f'[{inner}]' if isinstance(value, list) else f'({inner})'
        return str(value)
    return ['--cfg-options'] + [f'{key}={fmt(value)}' for key, value in options.items()]


@functools.lru_cache(maxsize=None)
def _swin_t_k400():
    from mmengine.config import Config
    return Config.fromfile(str(SWIN_T_K400))


def tiny_recognizer_config(options: Optional[dict] = None):
    """The Kinetics-style tiny recognizer's config (a fresh ``Config``): Swin-T K400 with
    ``TINY_OPTIONS``, then ``options`` (dotted keys)."""
    cfg = copy.deepcopy(_swin_t_k400())
    cfg.merge_from_dict({**TINY_OPTIONS, **(options or {})})
    return cfg


def synthetic_training_config():
    """The tiny recognizer with the Swin-T recipe shrunk for a CPU run on
    ``write_colour_dataset``'s 4 classes of 32 px clips: 8-frame clips, 2 centre-cropped test
    clips, the recipe's parameter groups (backbone at 0.1x) with a higher lr for 10 epochs from
    scratch. Tests point the data paths at generated videos through --cfg-options."""
    cfg = tiny_recognizer_config({'model.cls_head.num_classes': 4,
                                  'model.test_cfg.max_testing_views': 1})
    train = [dict(type='DecordInit'),
             dict(type='SampleFrames', clip_len=8, frame_interval=1, num_clips=1),
             dict(type='DecordDecode'),
             dict(type='Flip', flip_ratio=0.5),
             dict(type='FormatShape', input_format='NCTHW'),
             dict(type='PackActionInputs')]
    test = [dict(type='DecordInit'),
            dict(type='SampleFrames', clip_len=8, frame_interval=1, num_clips=2, test_mode=True),
            dict(type='DecordDecode'),
            dict(type='CenterCrop', crop_size=32),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs')]
    data = dict(ann_file='data/synthetic/train.txt', data_prefix=dict(video='data/synthetic'))
    loader = dict(num_workers=0, persistent_workers=False)
    max_epochs = 10
    cfg.merge_from_dict(dict(
        label_map=None, max_epochs=max_epochs, train_pipeline=train, test_pipeline=test,
        train_dataloader=dict(loader, batch_size=4, dataset=dict(data, pipeline=train)),
        val_dataloader=dict(loader, batch_size=1, dataset=dict(data, pipeline=test)),
        test_dataloader=dict(loader, batch_size=1, dataset=dict(data, pipeline=test)),
        optim_wrapper=dict(optimizer=dict(lr=1e-2, weight_decay=0.02), accumulative_counts=1),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                 convert_to_iter_based=True),
            dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0,
                 end=max_epochs)],
        train_cfg=dict(max_epochs=max_epochs, val_interval=100),
        default_hooks=dict(logger=dict(interval=1), checkpoint=dict(save_best=None))))
    return cfg


STAGE_NAMES = ['awake', 'nrem', 'rem']

# A Swin + FAM small enough that a clip costs a few ms on one CPU thread.
TINY_STREAM_CFG = dict(
    default_scope='video_swin_plugin',
    classes=STAGE_NAMES,
    model=dict(
        type='SequenceRecognizer3D',
        backbone=dict(type='SwinTransformer3D', **TINY_SWIN),
        neck=dict(type='FAMNeck', in_channels=TINY_SWIN_CHANNELS, embed_dims=32,
                  num_mem_tokens=4, num_layers=1, num_heads=2, token_grid=(1, 2, 2)),
        cls_head=dict(type='I3DHead', num_classes=3, in_channels=32),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], format_shape='NCTHW')),
    clip_grid=dict(clip_len=4, frame_interval=2, clip_stride_sec=1.0),
    test_pipeline=[dict(type='Resize', scale=(-1, 32)), dict(type='CenterCrop', crop_size=32)])


def tiny_stream_config(**clip_grid):
    """The FAM streaming model's config (a fresh ``Config``), ``clip_grid`` keys changed."""
    from mmengine.config import Config
    cfg = Config(copy.deepcopy(TINY_STREAM_CFG))
    cfg.clip_grid.update(clip_grid)
    return cfg


def write_stream_config(path: Path, **clip_grid) -> Path:
    tiny_stream_config(**clip_grid).dump(str(path))
    return path


def jitter(model: torch.nn.Module, scale: float = 0.05) -> torch.nn.Module:
    """Move every parameter off its initial value (norms off identity, so a norm skipped or a
    tensor routed wrongly shows)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model


# ---- checkpoints as other codebases save them ------------------------------------------------

def swin2d(**overrides):
    """A 2D Swin as the original release saves it, made from a 3D model one frame deep
    (patch and window of temporal size 1 make our backbone a 2D Swin), plus its 2D model.

    Returns ``(state_dict, model)``; ``model`` applied to a one-frame clip is the 2D network.
    """
    cfg = dict(TINY_SWIN, patch_size=(1, 4, 4), window_size=(1, 3, 3))
    cfg.update(overrides)
    model = jitter(SwinTransformer3D(**cfg)).eval()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd['patch_embed.proj.weight'] = sd['patch_embed.proj.weight'].squeeze(2)  # C, 3, 4, 4
    for k in [k for k in sd if k.endswith('relative_position_index')]:
        wh, ww = cfg['window_size'][1:]
        sd[k] = torch.zeros(wh * ww, wh * ww, dtype=torch.long)  # 2D-shaped: must be dropped
    sd['layers.0.blocks.1.attn_mask'] = torch.zeros(16, 9, 9)  # original saves shift masks
    sd['head.weight'] = torch.randn(1000, model.num_features[-1])
    sd['head.bias'] = torch.randn(1000)
    return sd, model


def to_timm(sd):
    """The same weights as timm >= 0.9 saves them: merging at stage start, head.fc, no buffers."""
    out = {}
    for k, v in sd.items():
        if 'relative_position_index' in k or 'attn_mask' in k:
            continue
        if k.startswith('layers.') and '.downsample.' in k:
            i = int(k.split('.')[1])
            k = k.replace(f'layers.{i}.downsample.', f'layers.{i + 1}.downsample.')
        k = k.replace('head.', 'head.fc.')
        out[k] = v
    return out


def tv_state_dict(embed_dim, depths, num_heads, window=(8, 7, 7), patch=(2, 4, 4),
                  num_classes=400, device='cpu'):
    """Keys and shapes of torchvision's ``SwinTransformer3d``, written out from its source:
    stages and patch merging alternate in ``features``; MLP linears are ``mlp.0``/``mlp.3``."""
    def t(*shape):
        return torch.randn(*shape, device=device)

    wd, wh, ww = window
    n = wd * wh * ww
    sd = {'patch_embed.proj.weight': t(embed_dim, 3, *patch), 'patch_embed.proj.bias': t(embed_dim),
          'patch_embed.norm.weight': t(embed_dim), 'patch_embed.norm.bias': t(embed_dim)}
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        dim = embed_dim * 2**i
        for j in range(depth):
            p = f'features.{2 * i}.{j}.'
            sd.update({
                p + 'norm1.weight': t(dim), p + 'norm1.bias': t(dim),
                p + 'attn.relative_position_bias_table': t((2 * wd - 1) * (2 * wh - 1) *
                                                           (2 * ww - 1), heads),
                p + 'attn.relative_position_index': torch.randint(0, 9, (n, n), device=device),
                p + 'attn.qkv.weight': t(3 * dim, dim), p + 'attn.qkv.bias': t(3 * dim),
                p + 'attn.proj.weight': t(dim, dim), p + 'attn.proj.bias': t(dim),
                p + 'norm2.weight': t(dim), p + 'norm2.bias': t(dim),
                p + 'mlp.0.weight': t(4 * dim, dim), p + 'mlp.0.bias': t(4 * dim),
                p + 'mlp.3.weight': t(dim, 4 * dim), p + 'mlp.3.bias': t(dim)})
        if i < len(depths) - 1:
            p = f'features.{2 * i + 1}.'
            sd.update({p + 'reduction.weight': t(2 * dim, 4 * dim),
                       p + 'norm.weight': t(4 * dim), p + 'norm.bias': t(4 * dim)})
    dim = embed_dim * 2**(len(depths) - 1)
    sd.update({'norm.weight': t(dim), 'norm.bias': t(dim), 'head.weight': t(num_classes, dim),
               'head.bias': t(num_classes)})
    return sd


def tiny_tv():
    return tv_state_dict(TINY_SWIN['embed_dim'], TINY_SWIN['depths'], TINY_SWIN['num_heads'],
                         TINY_SWIN['window_size'], TINY_SWIN['patch_size'], num_classes=5)


# ---- videos ------------------------------------------------------------------------------------

def write_video(path: Path, frames: Iterable[np.ndarray], fps: int = 8,
                faststart: bool = False) -> Path:
    """RGB uint8 frames ([H, W, 3], taken one at a time, so a long video never sits in memory)
    -> an H.264 mp4 at ``path``: a keyframe every second, CRF 23, x264's fastest preset.
    ``faststart`` puts the index first, so a file cut short stays readable up to the cut."""
    frames = iter(frames)
    first = next(frames)
    options = {'g': str(fps), 'crf': '23', 'preset': 'ultrafast'}
    container_options = {'movflags': 'faststart'} if faststart else {}
    with av.open(str(path), mode='w', options=container_options) as container:
        stream = container.add_stream('libx264', rate=fps, options=options)
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = 'yuv420p'
        for frame in itertools.chain([first], frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(stream.encode())
    return path


def stage_frames(stages: Sequence[int], fps: int = 8, sec_per_stage: float = 1.0, size: int = 32,
                 seed: int = 0) -> Iterator[np.ndarray]:
    """``stages[i]`` shown for ``sec_per_stage`` seconds each: a square whose brightness and
    motion depend on the stage, over a noisy background."""
    rng = np.random.default_rng(seed)
    frames_per_stage = int(round(sec_per_stage * fps))
    x = size // 3
    for stage in stages:
        for _ in range(frames_per_stage):
            img = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
            x = (x + (3 if stage == 0 else 1 if stage == 2 else 0)) % (size - 8)
            img[8:16, x:x + 8] = (80 + 80 * stage, 200, 40 * stage)
            yield img


def write_stage_video(path: Path, stages: Sequence[int], fps: int = 8, sec_per_stage: float = 1.0,
                      size: int = 32, seed: int = 0, faststart: bool = False) -> Path:
    """A stand-in recording for the streaming tests: :func:`stage_frames` as an mp4."""
    return write_video(path, stage_frames(stages, fps, sec_per_stage, size, seed), fps,
                       faststart=faststart)


# Class k of the colour clips: a square of colour COLOURS[k] moving in a random direction over a
# noisy grey background; the class is readable from colour alone, in any frame.
COLOURS = [(230, 40, 40), (40, 200, 40), (40, 60, 230), (230, 220, 40)]


def colour_clip(label: int, rng: np.random.Generator, num_frames: int = 16, size: int = 32,
                square: int = 16) -> np.ndarray:
    """uint8 [num_frames, size, size, 3] of class ``label``."""
    frames = rng.integers(90, 150, (num_frames, size, size, 3)).astype(np.uint8)
    y, x = rng.integers(0, size - square, 2)
    dy, dx = rng.choice([-1, 1], 2)
    for t in range(num_frames):
        frames[t, y:y + square, x:x + square] = COLOURS[label]
        y, x = int(np.clip(y + dy, 0, size - square)), int(np.clip(x + dx, 0, size - square))
    return frames


def write_colour_dataset(root: Path, name: str, per_class: int,
                         seed: int) -> Tuple[Path, List[str]]:
    """``per_class`` colour clips per class under ``root/name`` and ``root/name.txt`` with
    ``path label`` lines (paths relative to ``root``)."""
    rng = np.random.default_rng(seed)
    (root / name).mkdir(parents=True, exist_ok=True)
    lines = []
    for label in range(len(COLOURS)):
        for i in range(per_class):
            rel = f'{name}/c{label}_{i}.mp4'
            write_video(root / rel, colour_clip(label, rng))
            lines.append(f'{rel} {label}')
    ann = root / f'{name}.txt'
    ann.write_text('\n'.join(lines) + '\n')
    return ann, lines


def corrupt_middle(src: Path, dst: Path, nbytes: int = 3000, seed: int = 0) -> Path:
    """A copy of ``src`` with random bytes over ``nbytes`` in the middle (a damaged stretch)."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + nbytes] = np.random.default_rng(seed).integers(0, 256, nbytes,
                                                                  dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


def corrupt_mp4(path: Path) -> Path:
    """An mp4 header followed by garbage: opens as nothing readable."""
    path.write_bytes(b'\x00\x00\x00\x18ftypmp42' + bytes(range(256)) * 8)
    return path


def read_outputs(out_dir: Path, stem: str, exts: Optional[Sequence[str]] = None) -> dict:
    """The staging outputs of one recording, ``{ext: bytes}``."""
    return {ext: (out_dir / f'{stem}.{ext}').read_bytes()
            for ext in (exts or ('csv', 'json', 'png'))}


# ---- the tools ---------------------------------------------------------------------------------
# ``load_tool('train')`` imports tools/train.py as a module; ``run_tool('train', [...])`` returns
# its ``main``'s exit status (bad input raises, as ``main`` does); ``call_tool('test',
# 'test_metrics', [...])`` returns what the tool's ``test_metrics(args)`` returns;
# ``run_command('train', [...])`` runs the script in a fresh Python and returns the finished
# process (text ``stdout``/``stderr``, ``returncode``).

def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name: str, argv: list) -> int:
    return load_tool(name).main([str(a) for a in argv])


def call_tool(name: str, function: str, argv: list):
    tool = load_tool(name)
    return getattr(tool, function)(tool.parse_args([str(a) for a in argv]))


def tool_command(name: str, argv: list) -> List[str]:
    """The command line that runs tools/``name``.py in a fresh Python."""
    return [sys.executable, str(TOOLS / f'{name}.py'), *map(str, argv)]


def run_command(name: str, argv: list, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(tool_command(name, argv), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def noisy_night(seed: int, noise: float):
    """Bouts of 25-80 clips over 3 stages, each clip's label replaced by a random other stage
    with probability ``noise``."""
    rng = np.random.default_rng(seed)
    truth, stage = [], 0
    while len(truth) < 1500:
        truth += [stage] * int(rng.integers(25, 80))
        stage = int(rng.choice([s for s in range(3) if s != stage]))
    truth = np.array(truth)
    flip = rng.random(truth.size) < noise
    noisy = truth.copy()
    noisy[flip] = (truth[flip] + rng.integers(1, 3, flip.sum())) % 3
    return truth, noisy


class CountingModel:
    """Wraps a recognizer to count ``predict_clip`` calls and raise ``RuntimeError(message)``
    at call ``fail_at`` (a crash mid-recording); everything else is the wrapped model's."""

    def __init__(self, model, fail_at: Optional[int] = None, message: str = 'injected failure'):
        self.model, self.calls, self.fail_at, self.message = model, 0, fail_at, message

    def __getattr__(self, name):
        return getattr(self.model, name)

    def eval(self):
        return self

    def predict_clip(self, inputs, memory):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError(self.message)
        return self.model.predict_clip(inputs, memory)
