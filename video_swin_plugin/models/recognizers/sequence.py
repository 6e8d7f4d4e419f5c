"""SequenceRecognizer3D: K consecutive clips per sample, memory carried through them."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmaction.models.recognizers.base import BaseRecognizer
from mmaction.structures import ActionDataSample
from mmengine.structures import LabelData

from ...errors import NonFiniteClipError
from ...precision import floating_dtype as _floating_dtype
from ...registry import MODELS
from ..necks.recurrent import FAMMemory, RecurrentNeck


@MODELS.register_module()
class SequenceRecognizer3D(BaseRecognizer):
    """A 3D recognizer for sequences of consecutive clips, with a recurrent neck (FAMNeck).

    Batches are ``inputs (Tensor[N, K, C, T, H, W])``: K consecutive clips of one recording
    per element, in time order, one view per clip, with one label per clip
    (``data_sample.gt_labels.item`` of shape ``(K,)``). The backbone encodes all N * K clips at
    once; the neck then runs them in time order, carrying its memory, with gradients through
    the K steps. The loss is the sum of the K per-clip losses (averaged over the N sequences).
    Clips labelled -1 (unscored time, and burn-in clips: ``LongVideoDataset(timeline='grid')``)
    are memory steps without loss.
    Every sequence starts from the neck's initial memory, except with random state passing
    (``state_passing_prob`` > 0, after TransformerFAM's training): in training, a batch element
    whose window directly continues a window of the same recording seen earlier (same
    ``video`` metainfo, first ``clip_index`` after its burn-in one past that window's last)
    takes, with that probability, that window's detached final memory just before that clip.
    The last final memory of each recording is kept, so any sampler that keeps a recording's
    windows in order works (``InterleavedRecordingSampler``, ``RecordingStreamSampler``).
    Unlike the paper, memory is never carried into an unrelated window (a different recording,
    or samples without that metainfo): resetting per recording is the point of the design. A
    training step's memory therefore depends on K, not on the recording's length.

    A :class:`~video_swin_plugin.models.necks.recurrent.RecurrentNeck` (FAMNeck) carries its
    :class:`~video_swin_plugin.models.necks.recurrent.FAMMemory`; any other neck is applied
    clip by clip; no neck gives a clip-only model (useful as a baseline). The recognizer is a
    :class:`~video_swin_plugin.models.necks.recurrent.StreamingRecognizer`.

    Prediction (``mode='predict'``) sets ``pred_scores.item`` to the per-clip softmax
    probabilities ``(K, num_classes)`` and ``pred_labels.item`` to their argmax ``(K,)``.

    Streaming, one clip at a time (see :meth:`init_memory` and :meth:`predict_clip`)::

        model.eval()
        memory = model.init_memory(batch_size)          # reset: at each new recording
        for clip in clips:                              # (N, C, T, H, W), RGB 0-255
            scores, memory = model.predict_clip(clip, memory)

    Args:
        backbone (dict): Backbone config.
        cls_head (dict): Head config (e.g. ``I3DHead`` with ``in_channels`` = the neck's
            ``embed_dims``).
        neck (dict, optional): Neck config, e.g. ``FAMNeck``. Defaults to None.
        state_passing_prob (float): Probability of continuing a training window from the final
            memory of its recording's previous window.
            Defaults to 0.
        train_cfg, test_cfg, data_preprocessor (dict, optional): As in mmaction2.
            ``data_preprocessor`` needs ``format_shape='NCTHW'``.
    """

    def __init__(self, backbone: dict, cls_head: dict, *, neck: Optional[dict] = None,
                 state_passing_prob: float = 0.0, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(backbone, cls_head=cls_head, neck=neck, train_cfg=train_cfg,
                         test_cfg=test_cfg, data_preprocessor=data_preprocessor)
        if not 0.0 <= state_passing_prob <= 1.0:
            raise ValueError(f'state_passing_prob must lie in [0, 1], got {state_passing_prob}')
        self.state_passing_prob = state_passing_prob
        # Training-only random state passing: per recording, where its latest window ended and
        # that window's detached final memory (one sample's); never saved, never read in eval.
        self._passed: Dict[str, Tuple[int, FAMMemory]] = {}

    # ---- memory ------------------------------------------------------------------------------
    @property
    def with_memory(self) -> bool:
        """Whether the neck carries memory (is a ``RecurrentNeck``)."""
        return self.with_neck and isinstance(self.neck, RecurrentNeck)

    def init_memory(self, batch_size: int) -> Optional[FAMMemory]:
        """The initial (reset) memory for ``batch_size`` recordings; None for a memoryless
        model. Start each recording (animal, night) from here."""
        return self.neck.init_memory(batch_size) if self.with_memory else None

    @staticmethod
    def _window_ends(data_samples) -> list:
        """(video, first clip_index after the burn-in, last clip_index, burn-in length) per
        sample; None without the metainfo."""
        ends = []
        for sample in data_samples or []:
            video, index = sample.get('video'), sample.get('clip_index')
            if video is None or index is None:
                ends.append(None)
            else:
                index = [int(i) for i in index]
                burn = int(sample.get('burn_in', 0))
                ends.append((video, index[burn], index[-1], burn))
        return ends

    def _passed_state(self, batch_size: int, data_samples) -> Optional[Tuple[torch.Tensor,
                                                                             FAMMemory]]:
        """Random state passing: ``(at Tensor[B] long, memory)`` for the neck's ``inject``:
        element b takes ``memory``'s b-th state just before its clip ``at[b]`` (its burn-in
        length; -1: never). None when no element continues a kept window."""
        if not (self.training and self.state_passing_prob > 0 and self._passed):
            return None
        init = self.neck.init_memory(batch_size)
        device = init.tokens.device
        ends = self._window_ends(data_samples)
        states, at = [], []
        for b in range(batch_size):
            end = ends[b] if b < len(ends) else None
            kept = self._passed.get(end[0]) if end is not None else None
            take = (kept is not None and end[1] == kept[0] + 1
                    and float(torch.rand(())) < self.state_passing_prob)
            states.append(kept[1].to(device) if take else init.select(slice(b, b + 1)))
            at.append(end[3] if take else -1)
        if max(at) < 0:
            return None
        return torch.tensor(at, device=device), FAMMemory.cat(states)

    def _keep_final_memory(self, memory: FAMMemory, data_samples) -> None:
        """Keep each window's detached final memory under its recording: the window seen last
        replaces what was kept (the sampler's order; within a batch, the one ending last), so
        a new epoch's first window restarts the chain instead of waiting behind the previous
        epoch's last window."""
        memory = memory.detach()
        newest: Dict[str, Tuple[int, int]] = {}
        for b, end in enumerate(self._window_ends(data_samples)):
            if end is not None and (end[0] not in newest or end[2] >= newest[end[0]][0]):
                newest[end[0]] = (end[2], b)
        for video, (last, b) in newest.items():
            self._passed[video] = (last, memory.select(slice(b, b + 1)))

    # ---- features ----------------------------------------------------------------------------
    def _backbone(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        return feats[-1] if isinstance(feats, (tuple, list)) else feats

    @staticmethod
    def _check_inputs(inputs: torch.Tensor) -> Tuple[int, int]:
        if inputs.ndim != 6:
            raise ValueError('SequenceRecognizer3D expects inputs (N, K, C, T, H, W): K '
                             'consecutive clips per sample, one view each; got shape '
                             f'{tuple(inputs.shape)}')
        return inputs.shape[0], inputs.shape[1]

    def extract_feat(self, inputs: torch.Tensor, stage: str = 'neck', data_samples=None,
                     test_mode: bool = False,
                     memory: Optional[FAMMemory] = None) -> Tuple[torch.Tensor, Dict]:
        """inputs (Tensor[N, K, C, T, H, W]) -> features of ``stage`` ('backbone', 'neck':
        Tensor[N * K, ...]; 'head': logits Tensor[N, K, num_classes]) and a kwargs dict holding
        ``loss_aux`` and the ``memory`` after the K-th clip."""
        N, K = self._check_inputs(inputs)
        x = self._backbone(inputs.flatten(0, 1))  # N * K, C', T', H', W'
        kwargs = dict(loss_aux=dict(), memory=None)
        if stage == 'backbone':
            return x, kwargs
        if self.with_memory:
            inject = None
            if memory is None:
                memory = self.neck.init_memory(N)
                if self.training and not test_mode:
                    inject = self._passed_state(N, data_samples)
            x, kwargs['memory'] = self.neck.forward_sequence(x, K, memory, inject=inject)
        elif self.with_neck:
            x, kwargs['loss_aux'] = self.neck(x, data_samples=None)
        if stage == 'head':
            return self.cls_head(x).view(N, K, -1), kwargs
        return x, kwargs

    # ---- training and prediction -------------------------------------------------------------
    @staticmethod
    def _clip_labels(data_samples: List[ActionDataSample], K: int) -> List[LabelData]:
        clip_samples = []
        for i, sample in enumerate(data_samples):
            labels = sample.gt_labels.item.reshape(-1)
            if labels.numel() != K:
                raise ValueError(f'data sample {i} has {labels.numel()} labels for K={K} '
                                 'clips; a sequence needs one label per clip')
            clip_samples += [ActionDataSample().set_gt_labels(labels[k:k + 1])
                             for k in range(K)]
        return clip_samples

    def loss(self, inputs: torch.Tensor, data_samples: List[ActionDataSample],
             **kwargs) -> Dict:
        """Cross-entropy of the scored clips (label >= 0), summed over each sequence's clips and
        averaged over the N sequences, plus any ``loss_aux``. Unscored (-1) clips are memory
        steps only; a batch without a scored clip gives a zero loss that keeps the graph."""
        N, K = self._check_inputs(inputs)
        feats, extra = self.extract_feat(inputs, data_samples=data_samples)
        if self.with_memory and self.state_passing_prob > 0:
            self._keep_final_memory(extra['memory'], data_samples)
        cls_scores = self.cls_head(feats).float()  # N * K, num_classes; loss in fp32 under AMP
        clip_samples = self._clip_labels(data_samples, K)
        scored = [i for i, c in enumerate(clip_samples) if int(c.gt_labels.item) >= 0]
        if not scored:
            losses = dict(loss_cls=cls_scores.sum() * 0.0)
        else:
            losses = self.cls_head.loss_by_feat(cls_scores[scored],
                                                [clip_samples[i] for i in scored])
            # mean over the scored clips -> sum over each sequence's clips, mean over N
            losses['loss_cls'] = losses['loss_cls'] * (len(scored) / N)
        losses.update(extra['loss_aux'])
        return losses

    def predict(self, inputs: torch.Tensor, data_samples: List[ActionDataSample],
                **kwargs) -> List[ActionDataSample]:
        """Per-clip softmax scores ``pred_scores.item (K, num_classes)`` for each sample."""
        scores, _ = self.extract_feat(inputs, stage='head', test_mode=True)
        scores = F.softmax(scores.float(), dim=-1)  # N, K, num_classes
        for sample, score in zip(data_samples, scores):
            sample.pred_scores = LabelData(item=score)
            sample.pred_labels = LabelData(item=score.argmax(dim=-1))
        return data_samples

    def _forward(self, inputs: torch.Tensor, stage: str = 'head', **kwargs) -> torch.Tensor:
        """``mode='tensor'``: logits ``Tensor[N, K, num_classes]`` (or an earlier stage's
        features)."""
        feats, _ = self.extract_feat(inputs, stage=stage, test_mode=True)
        return feats

    # ---- streaming ---------------------------------------------------------------------------
    def normalize_clip(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw RGB 0-255 clips ``(N, C, T, H, W)`` -> the backbone's input, with the
        ``mean``/``std`` of this model's ``data_preprocessor`` (its ``to_rgb`` is not applied:
        the inputs are RGB already). Normalised in fp32, then cast to the dtype of the
        backbone's weights (so a model moved to bf16/fp16 gets bf16/fp16 input)."""
        dp = self.data_preprocessor
        device = next(self.parameters()).device
        x = inputs.to(device=device, dtype=torch.float32)
        if getattr(dp, '_enable_normalize', False):
            x = (x - dp.mean.float().view(-1, 1, 1, 1)) / dp.std.float().view(-1, 1, 1, 1)
        return x.to(_floating_dtype(self.backbone))

    @staticmethod
    def check_finite(inputs: torch.Tensor) -> None:
        """:class:`NonFiniteClipError` naming the clips ``(N, C, T, H, W)`` with NaN or Inf
        pixel values (one would turn the memory NaN for the rest of the recording)."""
        if not inputs.is_floating_point():
            return
        bad = ~torch.isfinite(inputs).flatten(1).all(dim=1)  # N
        if bad.any():
            clips = bad.nonzero().flatten().tolist()
            counts = (~torch.isfinite(inputs[clips])).flatten(1).sum(dim=1).tolist()
            raise NonFiniteClipError(
                'NaN or Inf pixel values in clip ' + ', '.join(
                    f'{i} of the batch ({n} of {inputs[0].numel()} values)'
                    for i, n in zip(clips, counts)) + '; the clip is refused and the memory '
                'is left as it was')

    @torch.no_grad()
    def predict_clip(self, inputs: torch.Tensor, memory: Optional[FAMMemory]
                     ) -> Tuple[torch.Tensor, Optional[FAMMemory]]:
        """One clip per recording, for streaming inference.

        Args:
            inputs (Tensor[N, C, T, H, W]): ONE clip for each of N recordings, raw pixel values,
                RGB, 0-255, float (or uint8). Normalised here with this model's
                ``data_preprocessor`` mean/std.
            memory: the state from :meth:`init_memory` (at the start of a recording) or from
                the previous call; None for a memoryless model.

        Returns:
            (scores Tensor[N, num_classes] softmax probabilities in fp32, new memory in the
            dtype ``memory`` came in). Call ``model.eval()`` first; nothing is stored on the
            model. Works with the model in any precision (``model.to(torch.bfloat16)``, or
            :func:`video_swin_plugin.precision.cast_for_inference`).

        Raises:
            NonFiniteClipError: a clip with NaN or Inf pixels (nothing is computed; the
                ``memory`` passed in stays the memory to continue from).
        """
        if inputs.ndim != 5:
            raise ValueError('predict_clip expects ONE clip per recording, (N, C, T, H, W); '
                             f'got shape {tuple(inputs.shape)}')
        self.check_finite(inputs)
        x = self._backbone(self.normalize_clip(inputs))
        if self.with_memory:
            neck_dtype = _floating_dtype(self.neck)
            x = x.to(neck_dtype)
            if isinstance(memory, FAMMemory):
                # the neck computes in its own dtype; the memory goes back in the caller's
                given = memory.tokens.dtype
                x, memory = self.neck.step(x, memory.to(neck_dtype))
                memory = memory.to(given)
            else:
                x, memory = self.neck.step(x, memory)  # the neck names what it expects
        elif self.with_neck:
            x, _ = self.neck(x)
        return F.softmax(self.cls_head(x).float(), dim=-1), memory
