"""The resume state of one recording: how far staging got, and the memory after that clip.

Saved (atomically) as the run goes, so a killed run continues where it stopped and ends with
the same files as an uninterrupted one. It is a plain dict of numbers, strings and tensors on
disk (``torch.load(weights_only=True)`` reads it); :meth:`ResumeState.load` checks its version
and every field, and an unreadable or foreign state means starting the recording over.
"""
import io
from dataclasses import dataclass, field, fields
from typing import List, Optional, Tuple

import torch

from ..models.necks.recurrent import FAMMemory
from .atomic import atomic_write_bytes

STATE_VERSION = 3


@dataclass
class ResumeState:
    """Where staging of one recording stands.

    Attributes:
        fingerprint: hash of the model, the video file and (in a session) the previous file's
            fingerprint; a state made with another is not resumed.
        info: the video's header (``VideoInfo`` as a dict).
        source: the file staged (see ``outputs.source_record``), so another recording with
            the same name is never resumed from, or written over, this one's state.
        next_clip: the first clip not staged yet.
        rows_bytes: length of the rows file up to ``next_clip``; rows after it (written after
            the last save) are dropped on resume.
        skipped: unreadable stretches, ``{start, end, reason, clips}``, merged.
        errors: decoder errors, ``{time, message}`` (the first 1,000).
        done: the whole grid was read and the outputs written.
        post: the settings the outputs were summarised with (smoothing, labels); others mean
            summarising again, without staging again.
        memory: the model's memory after clip ``next_clip - 1`` (None for a memoryless model).
    """
    fingerprint: str
    info: dict
    source: dict = field(default_factory=dict)
    next_clip: int = 0
    rows_bytes: int = 0
    skipped: List[dict] = field(default_factory=list)
    errors: List[dict] = field(default_factory=list)
    done: bool = False
    post: Optional[dict] = None
    memory: Optional[FAMMemory] = None
    version: int = STATE_VERSION

    def save(self, path: str) -> None:
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state['memory'] = self.memory.state_dict() if self.memory is not None else None
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str) -> Tuple[Optional['ResumeState'], Optional[str]]:
        """``(state, None)``, or ``(None, why)`` when the file is unreadable or not a state of
        this version."""
        try:
            raw = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as e:  # noqa: BLE001  (any damage means: start over)
            return None, f'unreadable ({type(e).__name__}: {e})'
        if not isinstance(raw, dict) or raw.get('version') != STATE_VERSION:
            found = raw.get('version') if isinstance(raw, dict) else type(raw).__name__
            return None, f'version {found}, expected {STATE_VERSION}'
        names = {f.name for f in fields(cls)}
        if set(raw) != names:
            return None, f'fields {sorted(raw)}, expected {sorted(names)}'
        expected = dict(fingerprint=str, info=dict, source=dict, next_clip=int, rows_bytes=int, skipped=list,
                        errors=list, done=bool, post=(dict, type(None)),
                        memory=(dict, type(None)))
        for key, kind in expected.items():
            if not isinstance(raw[key], kind):
                return None, f'field {key} is a {type(raw[key]).__name__}'
        if raw['next_clip'] < 0 or raw['rows_bytes'] < 0:
            return None, 'negative clip or byte count'
        memory = raw.pop('memory')
        try:
            memory = FAMMemory.from_state_dict(memory) if memory is not None else None
        except KeyError as e:
            return None, f'memory lacks {e}'
        return cls(**raw, memory=memory), None
