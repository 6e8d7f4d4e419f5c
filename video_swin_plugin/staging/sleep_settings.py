"""What the sleep outputs are asked for: scoring epoch, smoothing method, clock, formats;
from a config's keys with the command line's options on top."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..errors import ConfigError, UsageError
from .clock import ClockSettings
from .epochs import check_epoch_sec
from .hmm import TransitionModel, parse_pairs

DEFAULT_EPOCH_SEC = 30.0
SMOOTH_METHODS = ('median', 'hmm')


@dataclass
class SleepSettings:
    """What the sleep outputs need beyond the job's smoothing.

    Attributes:
        epoch_sec: scoring epoch (s); None takes the config's ``scoring_epoch_sec``, else 30.
        method: ``'median'`` (the job's median filter, its window converted to epochs) or
            ``'hmm'`` (Viterbi with ``transitions``).
        transitions_from: a scorer's CSV to count transitions in (for ``'hmm'``).
        transitions: a transition model given directly (the config's ``hmm_transitions``).
        forbidden: ``'from->to'`` transitions held at probability 0.
        clock: where file starts and lights-off/on come from.
        edf: write ``<name>.edf``.
        edf_stage_strings / yasa_codes: per-class overrides (config keys of the same names).
        boris: write ``<name>.boris.xlsx``; ``boris_subject`` goes into its subject column.
    """
    epoch_sec: Optional[float] = None
    method: str = 'median'
    transitions_from: Optional[str] = None
    transitions: Optional[TransitionModel] = None
    forbidden: List[str] = field(default_factory=list)
    clock: ClockSettings = field(default_factory=ClockSettings)
    edf: bool = True
    edf_stage_strings: Dict[str, str] = field(default_factory=dict)
    yasa_codes: Dict[str, int] = field(default_factory=dict)
    boris: bool = False
    boris_subject: str = ''
    epoch_source: str = 'default'

    def __post_init__(self):
        if self.method not in SMOOTH_METHODS:
            raise UsageError(f'smoothing method must be one of {SMOOTH_METHODS}, got '
                             f'{self.method!r}')
        if self.epoch_sec is not None:
            self.epoch_sec = check_epoch_sec(self.epoch_sec)
            if self.epoch_source == 'default':
                self.epoch_source = '--epoch-sec'
        if self.method == 'hmm' and not (self.transitions_from or self.transitions):
            raise UsageError('--smooth hmm needs a transition matrix: --transitions-from '
                             'labels.csv (a scorer\'s video,start,end,label CSV) or '
                             'hmm_transitions in the config')

    @classmethod
    def from_config(cls, cfg, **options) -> 'SleepSettings':
        """Settings from a config's ``scoring_epoch_sec``, ``hmm_transitions`` (``dict(matrix=
        [[...]], step_sec=30, forbidden=['awake->rem'], emission_floor=0.2)``),
        ``edf_stage_strings`` and ``yasa_codes``; ``options`` (the command line) win."""
        get = (lambda k: cfg.get(k)) if cfg is not None else (lambda k: None)
        classes = list(get('classes') or [])
        if options.get('epoch_sec') is None and get('scoring_epoch_sec') is not None:
            options['epoch_sec'] = check_epoch_sec(get('scoring_epoch_sec'),
                                                   'config key scoring_epoch_sec')
            options['epoch_source'] = 'config scoring_epoch_sec'
        hmm_cfg = get('hmm_transitions')
        if hmm_cfg is not None and options.get('transitions') is None:
            try:
                hmm_cfg = dict(hmm_cfg)
                options['transitions'] = TransitionModel(
                    np.array(hmm_cfg['matrix'], dtype=float), float(hmm_cfg['step_sec']),
                    classes, parse_pairs(hmm_cfg.get('forbidden', ()), classes,
                                         'hmm_transitions.forbidden'),
                    'config hmm_transitions', float(hmm_cfg.get('emission_floor', 0.2)))
            except (KeyError, TypeError, ValueError) as e:
                if isinstance(e, ConfigError):
                    raise
                raise ConfigError(f'config key hmm_transitions must be dict(matrix=[[...]], '
                                  f'step_sec=..., forbidden=[...]): {e}') from None
        options['edf_stage_strings'] = {**dict(get('edf_stage_strings') or {}),
                                        **dict(options.get('edf_stage_strings') or {})}
        options['yasa_codes'] = {**dict(get('yasa_codes') or {}),
                                 **dict(options.get('yasa_codes') or {})}
        return cls(**options)

    def to_dict(self) -> Dict:
        return dict(epoch_sec=self.epoch_sec, epoch_source=self.epoch_source,
                    method=self.method, transitions_from=self.transitions_from,
                    transitions=self.transitions.to_dict() if self.transitions else None,
                    forbidden=list(self.forbidden), clock=self.clock.to_dict(), edf=self.edf,
                    edf_stage_strings=self.edf_stage_strings, yasa_codes=self.yasa_codes,
                    boris=self.boris, boris_subject=self.boris_subject)
