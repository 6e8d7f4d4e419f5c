"""The outputs a sleep researcher reads, made from a staging run's clips.

Per recording, besides the job's per-clip CSV and summary: ``<name>.epochs.csv`` (scoring
epochs with clock time, stage, YASA code and hypnodensity), ``<name>.edf`` (EDF+ hypnogram
annotations), ``<name>.boris.xlsx`` with ``boris`` (the predictions as a BORIS import table),
the epoch hypnogram PNG, and an ``epochs``/``clock``/``definitions`` block in the JSON. Per
session of several files a whole night on one timeline (``<session>.night.*``). Per run
``cohort.csv``, a row per night. :class:`SleepOutputs` is what the job calls: ``begin`` (clock
starts of every file), ``clip_stages`` (HMM smoothing of the clips), ``finish`` (one recording)
and ``end`` (nights and cohort).
"""
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .agreement import agreement, match_truth
from .atomic import atomic_write_bytes, atomic_write_text
from .outputs import SUFFIXES
from .clock import RecordingClock, lights_window, plan_starts
from .cohort import DEFINITIONS, NOT_RECORDED, cohort_csv, night_statistics
from .epochs import EpochTable
from .formats import edf_stage_strings, epochs_csv, stage_runs, yasa_codes
from .hmm import TransitionModel, hmm_smooth, parse_pairs, transitions_from_csv
from .hypnogram import hypnogram_png
from .inputs import group_sessions, output_stem, session_key
from .nights import Night, NightPart, build_night
from .reports import REM_NAMES, STATISTICS_DEFINITIONS, WAKE_NAMES, find_class, read_rows, to_json
from .sleep_settings import DEFAULT_EPOCH_SEC, SleepSettings
from .smoothing import Smoothing, min_bout_filter, smooth_labels

def _per_epoch(scores: Dict) -> Dict:
    """Agreement counted in epochs (``agreement`` names the count ``clips``)."""
    return dict(epochs=scores.pop('clips'), **scores)


class SleepOutputs:
    """The sleep side of a staging job (see the module docstring).

    Args:
        settings (SleepSettings): epochs, clock, smoothing method, formats.
        classes: stage names.
        schedule: the clip grid (its stride and centres).
        smoothing (Smoothing): the job's median window / mode / minimum bout.
        truth: the scorer's intervals per video (``load_truth``), or None.
        out_dir: the job's output folder.
        log: one-line messages.
    """

    def __init__(self, settings: SleepSettings, classes: Sequence[str], schedule,
                 smoothing: Smoothing, truth=None, out_dir: str = '.',
                 log: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.classes = list(classes)
        self.schedule = schedule
        self.smoothing = smoothing
        self.truth = truth
        self.out_dir = out_dir
        self.log = log
        self.epoch_sec = settings.epoch_sec or DEFAULT_EPOCH_SEC
        self.wake = find_class(self.classes, WAKE_NAMES)
        self.rem = find_class(self.classes, REM_NAMES)
        self.codes = yasa_codes(self.classes, settings.yasa_codes)
        self.edf_texts = edf_stage_strings(self.classes, settings.edf_stage_strings)
        self.forbidden = parse_pairs(settings.forbidden, self.classes, '--forbid')
        self._models: Dict[float, TransitionModel] = {}
        self.clocks: Dict[str, RecordingClock] = {}
        self.sessions: List[List[Tuple[str, str]]] = []
        self.session_pattern: Optional[str] = None

    # ---- settings --------------------------------------------------------------------------
    def post_settings(self) -> Dict:
        """What the outputs depend on (a finished recording is summarised again when it
        changes)."""
        return dict(self.settings.to_dict(), epoch_sec=self.epoch_sec)

    def model_at(self, step_sec: float) -> TransitionModel:
        """The transition model for steps of ``step_sec``: counted in the labels CSV at that
        step, else the given model converted to it; forbidden transitions applied."""
        if step_sec not in self._models:
            s = self.settings
            if s.transitions_from:
                model = transitions_from_csv(s.transitions_from, self.classes, step_sec,
                                             self.forbidden)
            else:
                model = s.transitions.at_step(step_sec)
                if self.forbidden:
                    model = TransitionModel(model.matrix, model.step_sec, self.classes,
                                            sorted(set(model.forbidden) | set(self.forbidden)),
                                            model.source, model.emission_floor)
            self._models[step_sec] = model
        return self._models[step_sec]

    def smoothing_note(self) -> str:
        if self.settings.method == 'hmm':
            return f'HMM (Viterbi), transitions from {self.model_at(self.epoch_sec).source}'
        window = self.epoch_window()
        note = (f'median over {window} epochs ({self.smoothing.mode})' if window > 1 else
                f'no median across epochs (the {self.smoothing.size}-clip window is shorter '
                'than an epoch)')
        return note + (f', min bout {self.smoothing.min_bout_sec:g} s'
                       if self.smoothing.min_bout_sec else '')

    def epoch_window(self) -> int:
        """The job's median window (clips) as a number of epochs (at least 1)."""
        return max(1, int(round(self.smoothing.size * self.schedule.clip_stride_sec
                                / self.epoch_sec)))

    # ---- the run ---------------------------------------------------------------------------
    def begin(self, videos: Sequence[Tuple[str, str]], session_pattern: Optional[str]) -> None:
        """Find every file's clock start before staging (``--start`` belongs to the first file
        of the run's one session)."""
        from ..video_reader import probe_video

        def duration(path):
            try:
                info = probe_video(path)
            except Exception:  # noqa: BLE001  (an unreadable file: its successor's start unknown)
                return None
            return info.duration or (info.num_frames / info.fps if info.fps else None)

        self.session_pattern = session_pattern
        self.sessions = group_sessions(videos, session_pattern)
        self.clocks = plan_starts(self.sessions, self.settings.clock, duration)

    def clip_stages(self, probs: np.ndarray, valid: np.ndarray,
                    smoothed: np.ndarray) -> np.ndarray:
        """The clips' smoothed stages: ``smoothed`` (the median filter) unchanged, or with
        ``--smooth hmm`` the Viterbi path of the clip probabilities then the minimum bout."""
        if self.settings.method != 'hmm':
            return smoothed
        stride = self.schedule.clip_stride_sec
        out = hmm_smooth(probs, self.model_at(stride), valid)
        return min_bout_filter(out, max(1, int(round(self.smoothing.min_bout_sec / stride))))

    def epoch_stages(self, table: EpochTable) -> np.ndarray:
        """Smoothed stage per epoch (``-1`` unscored)."""
        valid = table.scored
        probs = np.nan_to_num(table.probs)
        min_bout = max(1, int(round(self.smoothing.min_bout_sec / self.epoch_sec)))
        if self.settings.method == 'hmm':
            out = hmm_smooth(probs, self.model_at(self.epoch_sec), valid)
            return min_bout_filter(out, min_bout)
        return smooth_labels(probs, self.epoch_window(), self.smoothing.mode, min_bout, valid)

    def paths(self, stem: str) -> Dict[str, str]:
        return {kind: stem + SUFFIXES[kind] for kind in ('epochs', 'edf', 'boris')}

    def _window(self, start, count: int) -> Tuple[Optional[slice], Dict]:
        """The epochs between lights-off and lights-on, and the JSON note about them."""
        c = self.settings.clock
        if c.off is None and c.on is None:
            return None, dict(lights_off=None, lights_on=None)
        if start is None:
            return None, dict(lights_off=None, lights_on=None,
                              note='lights-off/on given but the clock start is unknown: the '
                                   'whole recording is counted')
        off, on = lights_window(start, c.off, c.on)
        a = max(0, int(np.floor((off - start).total_seconds() / self.epoch_sec))) if off else 0
        b = (min(count, int(np.ceil((on - start).total_seconds() / self.epoch_sec)))
             if on else count)
        return slice(a, max(a, b)), dict(
            lights_off=off.isoformat(timespec='seconds') if off else None,
            lights_on=on.isoformat(timespec='seconds') if on else None,
            window_epochs=[a, max(a, b)])

    def night_outputs(self, night: Night, stem: str, title: str, subtitle_extra: str = ''
                       ) -> Tuple[Dict, bytes, np.ndarray, Optional[np.ndarray]]:
        """Epoch CSV, EDF+, BORIS table (per file), statistics and hypnogram of a timeline;
        returns (summary block, PNG bytes, stages, scorer stages)."""
        table = night.epochs
        stages = self.epoch_stages(table)
        truth = night.truth_labels()
        start = night.start
        paths = self.paths(stem)
        videos = night.epoch_videos() if len(night.parts) > 1 else None
        atomic_write_text(paths['epochs'], epochs_csv(table, stages, self.classes, self.codes,
                                                      start, videos, truth))
        written = [paths['epochs']]
        if self.settings.edf:
            from .edf import edf_bytes, hypnogram_annotations
            atomic_write_bytes(paths['edf'], edf_bytes(
                hypnogram_annotations(stages, self.epoch_sec, self.edf_texts), start, title))
            written.append(paths['edf'])
        if self.settings.boris and len(night.parts) == 1:
            from .boris import import_rows, import_xlsx
            runs = stage_runs(stages, self.epoch_sec)
            mean = lambda r: float(np.nanmean(table.probs[  # noqa: E731
                int(round(r['onset'] / self.epoch_sec)):
                int(round((r['onset'] + r['duration']) / self.epoch_sec)), r['stage']]))
            atomic_write_bytes(paths['boris'], import_xlsx(import_rows(
                runs, self.classes, self.settings.boris_subject, mean)))
            written.append(paths['boris'])
        labels = np.where(table.recorded, stages, NOT_RECORDED)
        window, lights = self._window(start, len(table))
        stats = night_statistics(labels, self.epoch_sec, self.classes, self.wake, self.rem,
                                 window)
        block = dict(epoch_sec=self.epoch_sec, epoch_source=self.settings.epoch_source,
                     epochs=len(table), scored=int(table.scored.sum()),
                     unscored=int((table.recorded & ~table.scored).sum()),
                     not_recorded=int((~table.recorded).sum()),
                     smoothing=self.smoothing_note(), lights=lights, statistics=stats,
                     outputs=[os.path.basename(p) for p in written])
        if self.settings.method == 'hmm':
            block['transitions'] = self.model_at(self.epoch_sec).to_dict()
        if truth is not None:
            raw = table.labels()
            block['agreement'] = {k: _per_epoch(agreement(truth, v, self.classes))
                                  for k, v in (('raw', raw), ('smoothed', stages))}
        png = hypnogram_png(table.labels(), stages, table.probs, self.classes, self.epoch_sec,
                            title, truth, night.skipped(), start=start,
                            not_recorded=night.not_recorded(),
                            boundaries=night.boundaries() if len(night.parts) > 1 else (),
                            subtitle=f'{self.epoch_sec:g}-s epochs; {self.smoothing_note()}'
                                     + subtitle_extra)
        return block, png, stages, truth

    def _part(self, path: str, name: str, info: Dict, table, num_clips: int,
              skipped: Sequence[Dict]) -> NightPart:
        fps = info['fps']
        centres = self.schedule.centre_times(num_clips, fps)
        probs = np.zeros((num_clips, len(self.classes)))
        scored = np.zeros(num_clips, bool)
        probs[table.clip] = table.probs
        scored[table.clip] = True
        intervals = match_truth(self.truth, name, path)[0] if self.truth is not None else None
        duration = info['duration'] or (info['num_frames'] / fps)
        return NightPart(name, float(duration), centres, probs, scored,
                         self.clocks.get(name, RecordingClock(None, 'unknown')).start,
                         list(skipped), intervals)

    def finish(self, path: str, name: str, files: Dict[str, str], state, table,
               summary: Dict) -> bytes:
        """One recording's epoch table, EDF+, BORIS table and JSON blocks (added to
        ``summary``); returns its hypnogram PNG."""
        part = self._part(path, name, state.info, table, int(state.next_clip), state.skipped)
        night = build_night([part], self.epoch_sec)
        stem = files['csv'][:-len('.csv')]
        block, png, _, _ = self.night_outputs(night, stem, name)
        clock = self.clocks.get(name, RecordingClock(None, 'unknown'))
        summary['clock'] = dict(clock.to_dict(), note=None if clock.start else
                                'the clock start is unknown: times are seconds from the start '
                                'of the file (give --start, --start-from-name, or a file '
                                'with a creation_time tag)')
        summary['epochs'] = block
        if self.settings.method == 'hmm':
            summary['smoothing'] = dict(summary.get('smoothing', {}), method='hmm',
                                        transitions=self.model_at(
                                            self.schedule.clip_stride_sec).to_dict())
        if 'agreement' in summary and 'agreement' in block:
            summary['agreement']['epochs'] = block['agreement']
        summary['definitions'] = dict(clips=STATISTICS_DEFINITIONS, epochs=DEFINITIONS)
        return png

    def end(self, report: Dict) -> None:
        """Whole nights for sessions of several files, and ``cohort.csv`` (a row per night
        whose files all finished); adds ``nights`` and ``cohort`` to the run report."""
        status = {v['video']: v.get('status') for v in report.get('videos', [])}
        rows, nights = [], []
        for session in self.sessions:
            key, animal = session_key(self.session_pattern, session[0][1])
            names = [n for _, n in session]
            if any(status.get(n) not in ('done', 'failed') for n in names):
                continue  # stopped before this night was staged
            done = [(p, n) for p, n in session if status.get(n) == 'done']
            if not done:
                continue
            parts = [self._load_part(p, n) for p, n in done]
            night = build_night(parts, self.epoch_sec)
            stem = os.path.join(self.out_dir, output_stem(key) + '.night') \
                if len(session) > 1 else None
            if stem is not None:
                block, png, _, _ = self.night_outputs(
                    night, stem, f'night {key}' + (f' ({animal})' if animal else ''),
                    f'; {len(parts)} files placed by {night.placement}')
                atomic_write_bytes(stem + '.png', png)
                failed = [n for n in names if status.get(n) == 'failed']
                atomic_write_text(stem + '.json', to_json(dict(
                    night=key, animal=animal, files=[dict(video=p.name, offset_s=round(o, 3),
                                                          duration_s=round(p.duration, 3),
                                                          clock=self.clocks[p.name].to_dict())
                                                     for p, o in zip(parts, night.offsets)],
                    failed_files=failed, placement=night.placement,
                    placement_note=None if night.placement == 'clock' else
                    'some clock starts are unknown: files placed end to end, gaps unknown',
                    start=night.start.isoformat(timespec='milliseconds') if night.start
                    else None, classes=self.classes, epochs=block,
                    definitions=DEFINITIONS)))
                nights.append(dict(night=key, json=stem + '.json'))
            else:
                block = self._file_block(done[0][1])
            rows.append(self._cohort_row(key, animal, parts, night, block))
        path = os.path.join(self.out_dir, 'cohort.csv')
        atomic_write_text(path, cohort_csv(rows, self.classes))
        report['nights'] = nights
        report['cohort'] = dict(csv=path, nights=len(rows))

    def _file_block(self, name: str) -> Dict:
        files_json = os.path.join(self.out_dir, output_stem(name) + '.json')
        with open(files_json) as f:
            return json.load(f)['epochs']

    def _load_part(self, path: str, name: str) -> NightPart:
        stem = os.path.join(self.out_dir, output_stem(name))
        with open(stem + '.json') as f:
            summary = json.load(f)
        table = read_rows(stem + '.csv', self.classes, smoothed=True)
        info = dict(fps=summary['schedule']['fps'], duration=summary['duration_s'],
                    num_frames=0)
        return self._part(path, name, info, table, summary['clips']['scheduled'],
                          summary.get('skipped', []))

    def _cohort_row(self, key: str, animal: str, parts: Sequence[NightPart], night: Night,
                    block: Dict) -> Dict:
        lights = block.get('lights', {})
        clocks = [self.clocks.get(p.name, RecordingClock(None, 'unknown')) for p in parts]
        row = dict(night=key, animal=animal, files=len(parts),
                   start=night.start.isoformat(timespec='seconds') if night.start else None,
                   start_source=', '.join(sorted({c.source for c in clocks})),
                   lights_off=lights.get('lights_off'), lights_on=lights.get('lights_on'),
                   epoch_sec=self.epoch_sec, smoothing=self.smoothing_note(),
                   record_min=round(len(night.epochs) * self.epoch_sec / 60, 3),
                   **block['statistics'])
        agree = block.get('agreement', {}).get('smoothed')
        if agree:
            row.update(agreement_epochs=agree['epochs'], accuracy=agree.get('accuracy'),
                       kappa=agree.get('kappa'), macro_f1=agree.get('macro_f1'))
        return row
