"""Classifying a long recording clip by clip, with the recurrent memory carried along.

:class:`StreamingClassifier` is a model plus its clip grid and frame transforms. ``run(video)``
yields one :class:`ClipResult` per clip of the grid, in order, and owns nothing between calls:
the memory comes in as an argument and goes out with every result (nanoGPT's ``generate`` loop
is the model). Decoding (PyAV, packet by packet) runs in a background thread behind a bounded
queue, so host memory is bounded by a few clips whatever the recording's length.

The resumable job that stages whole folders of recordings into files is
:mod:`video_swin_plugin.staging`.
"""
import hashlib
import json
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..clip_grid import ClipSchedule, schedule_from_config
from ..errors import ConfigError
from ..models.necks.recurrent import FAMMemory, StreamingRecognizer
from ..precision import Precision, model_precision, value_bytes
from ..video_reader import ClipReader, prefetch
from .frames import FrameTransform
from .inference import class_names, init_recognizer


def build_model(config, checkpoint: Optional[str] = None, device: str = 'cpu',
                cfg_options: Optional[Dict] = None, dtype: Union[str, Precision] = 'fp32'):
    """The project's ``init_recognizer`` (strict load, mismatched keys named), in eval mode,
    its backbone in ``dtype`` (see :func:`video_swin_plugin.precision.cast_for_inference`; the
    choice is ``model.precision``); the recognizer must be able to stream
    (``init_memory``/``predict_clip``)."""
    model = init_recognizer(config, checkpoint, device, cfg_options, dtype=dtype)
    if not isinstance(model, StreamingRecognizer):
        raise ConfigError(f'{type(model).__name__} has no init_memory/predict_clip; streaming '
                          'needs a recognizer like SequenceRecognizer3D')
    return model


NON_FINITE = 'NaN or Inf pixel values'  # why such a clip is reported unreadable


@dataclass
class ClipResult:
    """One clip of the grid. ``scores`` (softmax, ``[num_classes]``) and ``label`` are None
    when the clip could not be read (``skipped`` says why). ``memory`` is the state after
    this clip: pass it as ``memory`` to continue, or save it to resume."""
    video: str
    clip: int
    start: float
    end: float
    scores: Optional[np.ndarray]
    label: Optional[int]
    memory: Optional[FAMMemory]
    skipped: Optional[str] = None


class StreamingClassifier:
    """Classifies the clips of long videos one after another, carrying the model's memory.

    Args:
        config (str | Config): a config with a streaming recognizer (``init_memory`` and
            ``predict_clip``, e.g. ``SequenceRecognizer3D``), a clip grid and a test pipeline.
        checkpoint (str, optional): weights, loaded strictly.
        device (str): Defaults to ``'cpu'``.
        schedule (ClipSchedule, optional): overrides the config's clip grid.
        queue_size (int): decoded clips kept ready ahead of the model. Defaults to 4.
        cfg_options (dict, optional): config overrides, as ``--cfg-options``.
        dtype (str): the backbone's precision, one of
            :data:`video_swin_plugin.precision.DTYPES` (``'auto'``: what the device runs
            fastest); the memory is carried in fp32 whatever it is. The choice is
            :attr:`precision` (with its reason) and :attr:`dtype` (its name). Defaults to
            ``'fp32'``.

    Example::

        clf = StreamingClassifier('configs/.../tiny.py', 'demo/model.pth')
        for r in clf.run('night1.mp4'):
            print(r.start, clf.classes[r.label] if r.label is not None else r.skipped)
    """

    def __init__(self, config=None, checkpoint: Optional[str] = None, device: str = 'cpu',
                 schedule: Optional[ClipSchedule] = None, queue_size: int = 4, *,
                 cfg_options: Optional[Dict] = None,
                 dtype: Union[str, Precision] = 'fp32') -> None:
        model = build_model(config, checkpoint, device, cfg_options, dtype)
        cfg = model.cfg
        self._setup(model, class_names(cfg, model.cls_head.num_classes),
                    schedule or schedule_from_config(cfg), FrameTransform.from_config(cfg),
                    device, queue_size)

    def _setup(self, model, classes, schedule, transform, device, queue_size) -> None:
        self.model = model.eval()
        self.precision = getattr(model, 'precision', None) or Precision(
            model_precision(model), 'as built')
        self.device = torch.device(device)
        self.schedule = schedule
        self.transform = transform
        self.classes = list(classes)
        self.queue_size = queue_size

    @classmethod
    def from_model(cls, model: StreamingRecognizer, classes: Sequence[str],
                   schedule: ClipSchedule, transform: Optional[FrameTransform] = None,
                   device: str = 'cpu', queue_size: int = 4) -> 'StreamingClassifier':
        """Wrap a built model (anything with ``init_memory`` and ``predict_clip``)."""
        clf = cls.__new__(cls)
        clf._setup(model, classes, schedule, transform or FrameTransform(), device, queue_size)
        return clf

    @property
    def dtype(self) -> str:
        """The backbone's precision: ``'fp32'``, ``'bf16'``, ``'fp16'`` or ``'int8'``."""
        return self.precision.name

    def init_memory(self) -> Optional[FAMMemory]:
        """The state at the start of a recording (the model's learned initial memory)."""
        with torch.inference_mode():
            return self.model.init_memory(1)

    def reader(self, video: str, start_clip: int = 0,
               max_clips: Optional[int] = None) -> ClipReader:
        return ClipReader(video, self.schedule, self.transform, start_clip, max_clips)

    def run(self, video: str, memory: Optional[FAMMemory] = None, start_clip: int = 0,
            max_clips: Optional[int] = None,
            reader: Optional[ClipReader] = None) -> Iterator[ClipResult]:
        """Yield a :class:`ClipResult` for each clip of ``video`` from ``start_clip`` on, in
        order.

        Args:
            video (str): a video file.
            memory: the state to start from: None = reset (``init_memory``); the ``memory`` of
                a previous result to continue (resume, or carry across files of a session).
            start_clip (int): first clip; decoding seeks there. Defaults to 0.
            max_clips (int, optional): stop after this many clips.
            reader (ClipReader, optional): one made by :meth:`reader` (to read its ``info``
                and ``errors``).

        A clip with NaN or Inf pixel values is reported like an unreadable clip (``skipped``
        says so) and the memory goes on unchanged.

        Raises:
            VideoReadError: the file cannot be opened as a video (the message names it).
        """
        reader = reader or self.reader(video, start_clip, max_clips)
        if memory is None:
            memory = self.init_memory()
        for clip in prefetch(reader, self.queue_size):
            if clip.frames is None:
                yield ClipResult(str(video), clip.index, clip.start, clip.end, None, None,
                                 memory, clip.reason)
                continue
            (scores, memory), = self.step([clip.frames], [memory])
            yield ClipResult(str(video), clip.index, clip.start, clip.end, scores,
                             None if scores is None else int(scores.argmax()), memory,
                             None if scores is not None else NON_FINITE)

    def step(self, clips: Sequence[torch.Tensor], memories: Sequence[Optional[FAMMemory]]
             ) -> List[Tuple[np.ndarray, Optional[FAMMemory]]]:
        """One forward for one clip of each of several recordings (batched streaming).

        Args:
            clips: ``Tensor[3, T, H, W]`` (the frame transform's output) per recording.
            memories: each recording's memory (None for a memoryless model).

        Returns:
            ``(scores float64[num_classes], memory after the clip)`` per recording. Each
            recording's memory is its own: the batch is split again after the forward. A clip
            with NaN or Inf pixel values gets ``(None, its memory unchanged)``: one bad clip
            neither poisons the memory nor the clips batched with it.
        """
        out: List[Tuple[Optional[np.ndarray], Optional[FAMMemory]]] = list(zip(
            [None] * len(clips), memories))
        good = [i for i, c in enumerate(clips)
                if not c.is_floating_point() or bool(torch.isfinite(c).all())]
        if not good:
            return out
        inputs = torch.stack([clips[i] for i in good]).to(self.device)
        memory = FAMMemory.cat([memories[i].to(self.device) for i in good]) \
            if memories[0] is not None else None
        with torch.inference_mode():
            scores, memory = self.model.predict_clip(inputs, memory)
        scores = scores.float().cpu().numpy().astype(np.float64)
        for j, i in enumerate(good):
            out[i] = (scores[j], memory.select(j) if memory is not None else None)
        return out

    def fingerprint(self) -> str:
        """A hash of the weights, classes, clip grid, frame transforms and precision: what
        decides the per-clip outputs (a resumed run must have the same)."""
        h = hashlib.sha1()
        for key, value in sorted(self.model.state_dict().items()):
            h.update(key.encode())
            h.update(value_bytes(value))
        if self.dtype != 'fp32':  # fp32 runs keep the fingerprints they had before
            h.update(self.dtype.encode())
        h.update(json.dumps([self.classes, self.schedule.to_dict(),
                             getattr(self.transform, 'steps', repr(self.transform))],
                            sort_keys=True, default=str).encode())
        return h.hexdigest()
