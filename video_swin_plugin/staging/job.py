"""The staging job behind ``tools/stream_infer.py``: many recordings into an output folder.

Per recording a CSV, a summary JSON and a hypnogram PNG (see :mod:`.outputs` for names and
ownership), written atomically; a :class:`~.resume.ResumeState` (clips done, the memory after
the last one) saved as it goes, so a killed run continues where it stopped and ends with the
same files; unreadable files and stretches reported and skipped. Any number of processes may
run on one output folder: each recording (each session with ``session_pattern``) is staged
by the process that claims it (:mod:`.claims`), the others move on. Several sessions can be
staged in lockstep (:mod:`.lockstep`). How one recording is staged is :mod:`.recording`.
"""
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

from ..apis.streaming import StreamingClassifier
from ..errors import RecordingTooShortError, UsageError, VideoReadError
from .agreement import load_truth
from .atomic import atomic_write_text
from .claims import STALE_SEC, Claim
from .inputs import Inputs, Video, find_videos, group_sessions, output_stem
from .lockstep import lockstep
from .outputs import GENERATOR, RecordingOutputs, check_outputs
from .recording import RecordingSteps
from .reports import to_json
from .run_report import write_report
from .sleep import SleepOutputs
from .sleep_settings import SleepSettings
from .smoothing import Smoothing


class StreamJob(RecordingSteps):
    """Stages many recordings into ``out_dir``.

    Args:
        classifier: the model, its clip grid and frame transforms.
        out_dir: where the outputs, resume states and claims go.
        smoothing, labels: median/minimum-bout settings; a scorer's CSV for agreement.
        save_every, save_interval_sec: save the resume state every N clips if given, else
            when this long has passed since the last save (a kill loses at most that much).
        max_clips: stop the whole run after this many clips (resumable).
        claim_stale_sec: take over a claim whose holder has been silent this long.
        batch: recordings (sessions) staged in lockstep, one clip of each per forward; each
            keeps its own memory, and its outputs do not depend on its companions (within
            floating-point rounding: probabilities to 1e-5). The clip budget may be
            overshot by up to ``batch - 1`` clips.
        sleep: epochs, clock, EDF+/BORIS and night settings (:class:`.sleep.SleepSettings`).
    """

    def __init__(self, classifier: StreamingClassifier, out_dir: str,
                 smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                 save_every: Optional[int] = None, max_clips: Optional[int] = None,
                 progress: bool = True, log: Callable[[str], None] = None,
                 save_interval_sec: float = 1.0, claim_stale_sec: float = STALE_SEC,
                 sleep: Optional[SleepSettings] = None, batch: int = 1) -> None:
        if max_clips is not None and max_clips < 1:
            raise UsageError(f'max_clips must be >= 1, got {max_clips}')
        if batch < 1:
            raise UsageError(f'batch must be >= 1, got {batch}')
        self.batch = batch
        self.clf = classifier
        self.out_dir = out_dir
        self.smoothing = smoothing
        self.truth = load_truth(labels, classifier.classes) if labels else None
        self.labels_path = labels
        self.save_every = save_every
        self.save_interval_sec = save_interval_sec
        self.budget = max_clips  # clips left to stage in this run (None: no limit)
        self.progress = progress
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.claim_stale_sec = claim_stale_sec
        self.model_fp = classifier.fingerprint()
        self.input_names: List[str] = []
        os.makedirs(out_dir, exist_ok=True)
        self.sleep = SleepOutputs(sleep or SleepSettings(), classifier.classes,
                                  classifier.schedule, smoothing, self.truth, out_dir, self.log)

    def outputs(self, name: str) -> RecordingOutputs:
        return RecordingOutputs(self.out_dir, output_stem(name))

    # ---- the run ---------------------------------------------------------------------------
    def run(self, inputs: Union[Inputs, Sequence[Video]],
            session_pattern: Optional[str] = None) -> Dict:
        """Stage every video; returns (and writes to ``run_report.json``) each one's status.

        Raises:
            UsageError: before anything is written, when an output would replace a file this
                tool did not write, or outputs of another recording with the same name.
        """
        if not isinstance(inputs, Inputs):
            inputs = Inputs(list(inputs), [])
        videos = inputs.videos
        check_outputs(self.out_dir, videos)
        self.input_names = [name for _, name in videos]
        carry = bool(session_pattern)
        self.sleep.begin(videos, session_pattern)  # clock starts, before any file is staged
        precision = getattr(self.clf, 'precision', None)  # the backbone's, and why
        report = dict(videos=[], ignored=inputs.ignored, stopped=False,
                      precision=str(precision) if precision is not None else 'fp32')
        started = time.time()
        report['stopped'] = self._stage_sessions(group_sessions(videos, session_pattern),
                                                 report, carry)
        report['wall_s'] = round(time.time() - started, 3)
        write_report(self.out_dir, report, self.outputs, self.sleep.end)  # + nights, cohort
        return report

    def _stage_sessions(self, sessions: Sequence[Sequence[Video]], report: Dict,
                        carry: bool) -> bool:
        """Stage the sessions, up to ``batch`` in lockstep (:mod:`.lockstep`: one forward
        serves a clip of every active session; a slot is refilled when its session ends).
        True when the clip budget ran out."""
        def start(session: Sequence[Video]):
            entries = [dict(video=name, path=path) for path, name in session]
            report['videos'].extend(entries)
            return self._session_steps(session, entries, carry)

        return lockstep(sessions, start, lambda requests: self.clf.step(
            [clip for clip, _ in requests], [memory for _, memory in requests]), self.batch)

    def _session_steps(self, session: Sequence[Video], entries: List[dict], carry: bool):
        """Claim a session, then stage its files in order (each its own session without a
        pattern), carrying the memory with ``carry``. A generator of forward requests (see
        :mod:`.lockstep`); returns True when the clip budget ran out."""
        first = self.outputs(session[0][1])
        first.makedirs()
        claim = Claim(first['claim'], stale_sec=self.claim_stale_sec)
        if not claim.acquire():
            holder = claim.describe()
            for entry in entries:
                entry.update(status='in progress', note=f'claimed by {holder}')
            self.log(f'{session[0][1]}: being staged by {holder}; moving on')
            return False
        try:
            memory, previous = None, None
            for (path, name), entry in zip(session, entries):
                try:
                    outcome = yield from self.process_steps(path, name, entry, claim, memory,
                                                            previous, carry)
                except (VideoReadError, OSError, ValueError, RuntimeError) as e:
                    self._fail(path, name, entry, e)  # one bad file never stops the others
                    continue
                if outcome.stopped:
                    return True
                memory, previous = outcome.memory, outcome.fingerprint
            return False
        finally:
            claim.release()

    def _fail(self, path: str, name: str, entry: dict, error: Exception) -> None:
        """Report a recording that could not be staged. Its saved resume state is kept, and
        a summary of an earlier successful run is never replaced by a failure."""
        too_short = isinstance(error, RecordingTooShortError)
        message = str(error) if isinstance(error, VideoReadError) else \
            f'{path}: {type(error).__name__}: {error}'
        entry.update(status='too short' if too_short else 'failed', error=message)
        self.log(f'{"TOO SHORT" if too_short else "FAILED"} {message}')
        outs = self.outputs(name)
        earlier = outs.summary()
        if earlier is not None and earlier.get('status') == 'done':
            entry['note'] = f'the summary of an earlier run, {outs["json"]}, is kept'
            return
        outs.makedirs()
        atomic_write_text(outs['json'], to_json(dict(
            video=name, path=path, generator=GENERATOR, status=entry['status'],
            error=message)))

def stream_videos(classifier: StreamingClassifier, inputs: Sequence[str], out_dir: str,
                  smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                  session: Optional[str] = None, save_every: Optional[int] = None,
                  max_clips: Optional[int] = None, progress: bool = True,
                  save_interval_sec: float = 1.0, glob: Optional[Sequence[str]] = None,
                  claim_stale_sec: float = STALE_SEC,
                  sleep: Optional[SleepSettings] = None, batch: int = 1) -> Dict:
    """Stage every video in ``inputs`` (files or folders; in folders the files with a video
    extension, or matching ``glob``) into ``out_dir``; see :class:`StreamJob` for the other
    arguments, :mod:`.outputs` for the files written and :mod:`.run_report` for the report
    returned. Rerun with the same arguments after a crash: finished videos are skipped and an
    unfinished one continues from its last saved clip, with the outputs of an uninterrupted
    run. ``session`` (a regex) groups the files of one night, in name order, and carries the
    memory across them."""
    job = StreamJob(classifier, out_dir, smoothing, labels, save_every, max_clips, progress,
                    save_interval_sec=save_interval_sec, claim_stale_sec=claim_stale_sec,
                    sleep=sleep, batch=batch)
    return job.run(find_videos(inputs, glob, skip=out_dir), session)
