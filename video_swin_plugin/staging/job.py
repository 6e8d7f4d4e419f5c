"""The staging job behind ``tools/stream_infer.py``: many recordings into an output folder.

Per recording a CSV, a summary JSON and a hypnogram PNG (see :mod:`.outputs` for names and
ownership), written atomically; a :class:`~.resume.ResumeState` (clips done, the memory after
the last one) saved as it goes, so a killed run continues where it stopped and ends with the
same files; unreadable files and stretches reported and skipped. Any number of processes may
run on one output folder: each recording (each session with ``session_pattern``) is staged
by the process that claims it (:mod:`.claims`), the others move on. One recording goes
through three steps: :meth:`StreamJob.open` (start, resume, or find it finished),
:meth:`StreamJob.stage` (the clips, appended to a rows file) and :meth:`StreamJob.finish`
(smooth, summarise, write the outputs).
"""
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..apis.streaming import StreamingClassifier
from ..errors import RecordingTooShortError, UsageError, VideoReadError
from ..models.necks.recurrent import FAMMemory
from ..video_reader import ClipReader
from .agreement import agreement_block, load_truth
from .atomic import atomic_write_bytes, atomic_write_text
from .claims import STALE_SEC, Claim
from .inputs import Inputs, Video, find_videos, group_sessions, output_stem
from .outputs import GENERATOR, RecordingOutputs, check_outputs, source_record
from .progress import Progress
from .reports import (ClipTable, csv_header, final_csv, format_row, merge_stretches, read_rows,
                      recording_summary, to_json)
from .resume import ResumeState
from .run_report import WORKER, write_report
from .sleep import SleepOutputs
from .sleep_settings import SleepSettings
from .smoothing import Smoothing, smooth_labels

MAX_ERRORS_KEPT = 1000


@dataclass
class Outcome:
    """What staging one recording left for the next file of its session."""
    memory: Optional[FAMMemory]
    fingerprint: str
    stopped: bool = False  # the run's clip budget ran out inside this recording


class StreamJob:
    """Stages many recordings into ``out_dir``.

    Args:
        classifier: the model, its clip grid and frame transforms.
        out_dir: where the outputs, resume states and claims go.
        smoothing, labels: median/minimum-bout settings; a scorer's CSV for agreement.
        save_every, save_interval_sec: save the resume state every N clips if given, else
            when this long has passed since the last save (a kill loses at most that much).
        max_clips: stop the whole run after this many clips (resumable).
        claim_stale_sec: take over a claim whose holder has been silent this long.
        sleep: epochs, clock, EDF+/BORIS and night settings (:class:`.sleep.SleepSettings`).
    """

    def __init__(self, classifier: StreamingClassifier, out_dir: str,
                 smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                 save_every: Optional[int] = None, max_clips: Optional[int] = None,
                 progress: bool = True, log: Callable[[str], None] = None,
                 save_interval_sec: float = 1.0, claim_stale_sec: float = STALE_SEC,
                 sleep: Optional[SleepSettings] = None) -> None:
        if max_clips is not None and max_clips < 1:
            raise UsageError(f'max_clips must be >= 1, got {max_clips}')
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
        self.claim: Optional[Claim] = None
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
        report = dict(videos=[], ignored=inputs.ignored, stopped=False)
        started = time.time()
        for session in group_sessions(videos, session_pattern):
            entries = [dict(video=name, path=path) for path, name in session]
            report['videos'] += entries
            first = self.outputs(session[0][1])
            first.makedirs()
            self.claim = Claim(first['claim'], stale_sec=self.claim_stale_sec)
            if not self.claim.acquire():
                holder = self.claim.describe()
                for entry in entries:
                    entry.update(status='in progress', note=f'claimed by {holder}')
                self.log(f'{session[0][1]}: being staged by {holder}; moving on')
                continue
            try:
                report['stopped'] = self._run_session(session, entries, carry)
            finally:
                self.claim.release()
            if report['stopped']:
                break
        report['wall_s'] = round(time.time() - started, 3)
        write_report(self.out_dir, report, self.outputs, self.sleep.end)  # + nights, cohort
        return report

    def _run_session(self, session: Sequence[Video], entries: List[dict], carry: bool) -> bool:
        """Stage a session's files in order (each its own session without a pattern); True
        when the clip budget ran out."""
        memory, previous = None, None
        for (path, name), entry in zip(session, entries):
            try:
                outcome = self.process(path, name, entry, memory, previous, carry)
            except (VideoReadError, OSError, ValueError, RuntimeError) as e:
                self._fail(path, name, entry, e)  # one bad file never stops the others
                continue
            if outcome.stopped:
                return True
            memory, previous = outcome.memory, outcome.fingerprint
        return False

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

    def process(self, path: str, name: str, entry: dict, memory_in: Optional[FAMMemory] = None,
                previous_fp: Optional[str] = None, carry: bool = False) -> Outcome:
        """Stage one recording: open (or resume), stage its clips, finish. With ``carry`` (a
        session), ``memory_in`` and ``previous_fp`` come from the session's previous file
        (None for its first) and the memory after the last clip is handed on."""
        files = self.outputs(name)
        files.makedirs()
        state = self.open(path, name, files, memory_in, previous_fp)
        if state.done:
            self._refresh(path, name, files, state, entry)
            return Outcome(state.memory if carry else None, state.fingerprint)
        end, reader = self.stage(path, name, files, state, entry)
        if end == 'budget':
            return Outcome(None, state.fingerprint, stopped=True)
        if end == 'claim lost':
            entry.update(status='claim lost', error=f'{path}: the claim {files["claim"]} was '
                         'taken over by another process; its outputs are left to it')
            self.log(f'CLAIM LOST {entry["error"]}')
            return Outcome(None, state.fingerprint)
        if state.next_clip == 0:
            raise RecordingTooShortError(
                f'{path}: no clip could be read: {state.info["duration"]:.2f} s of video, a '
                f'clip spans {self.clf.schedule.span} frames '
                f'({self.clf.schedule.span / state.info["fps"]:.2f} s)')
        state.errors = [asdict(e) for e in reader.errors][:MAX_ERRORS_KEPT]
        self.finish(path, name, files, state,
                    read_rows(files['part'], self.clf.classes, smoothed=False))
        os.unlink(files['part'])
        entry.update(status='done', skipped_clips=sum(s['clips'] for s in state.skipped),
                     unreadable=state.skipped[:20], staged_by=WORKER)
        self._log_skipped(name, state)
        return Outcome(state.memory if carry else None, state.fingerprint)

    # ---- the three steps -------------------------------------------------------------------
    def _fingerprint(self, source: dict, previous: Optional[str]) -> str:
        """What a resumed state must have been made with: this model, these bytes and, in a
        session, the previous file (a moved or copied file keeps its fingerprint)."""
        content = [source[k] for k in ('size', 'head_sha1', 'tail_sha1')]
        return hashlib.sha1(json.dumps([self.model_fp, content, previous]).encode()).hexdigest()

    def open(self, path: str, name: str, files: RecordingOutputs,
             memory_in: Optional[FAMMemory], previous_fp: Optional[str]) -> ResumeState:
        """The recording's state: its saved one if it was made with this model, video and
        session and (once done) its outputs are whole, else a new one (a new rows file
        holding the header).

        Raises:
            VideoReadError: the file cannot be opened as a video.
            RecordingTooShortError: the header says it is shorter than one clip.
        """
        source = source_record(path)
        fingerprint = self._fingerprint(source, previous_fp)
        state = None
        if os.path.exists(files['state']):
            state, why = ResumeState.load(files['state'])
            if state is None:
                self.log(f"{files['state']}: resume state {why}; starting this video over")
            elif state.fingerprint != fingerprint:
                self.log(f'{name}: the model, video or session changed since the saved state; '
                         'starting this video over')
                state = None
            elif state.done and not files.csv_whole(self.clf.classes):
                self.log(f"{name}: its per-clip CSV {files['csv']} is missing or damaged; "
                         'staging it again')
                state = None
        if state is not None:
            return state
        reader = self.clf.reader(path)  # raises VideoReadError for an unreadable file
        info = reader.info
        if info.num_frames and reader.num_clips == 0:
            raise RecordingTooShortError(
                f'{path}: {info.num_frames} frames ({info.num_frames / info.fps:.2f} s), '
                f'shorter than one clip of {self.clf.schedule.span} frames')
        state = ResumeState(fingerprint=fingerprint, info=asdict(info), source=source,
                            memory=memory_in if memory_in is not None
                            else self.clf.init_memory())
        header = ','.join(csv_header(self.clf.classes, smoothed=False)) + '\n'
        with open(files['part'], 'w', newline='') as f:
            f.write(header)
        state.rows_bytes = len(header.encode())
        state.save(files['state'])
        return state

    def stage(self, path: str, name: str, files: RecordingOutputs, state: ResumeState,
              entry: dict) -> Tuple[str, ClipReader]:
        """Stage the clips from ``state.next_clip`` on, appending rows and saving the state as
        it goes. Returns how it ended: ``'finished'`` (the whole grid is read), ``'budget'``
        (the run's clip budget ran out; the state is saved) or ``'claim lost'``; and the
        reader (its decode errors)."""
        start = state.next_clip
        if start > 0:
            if (not os.path.exists(files['part'])
                    or os.path.getsize(files['part']) < state.rows_bytes):
                raise RuntimeError(f"{files['part']}: the rows the resume state counts on are "
                                   f"missing; delete {files['state']} to restart this video")
            with open(files['part'], 'r+b') as f:  # drop rows written after the last save
                f.truncate(state.rows_bytes)
        reader = self.clf.reader(path, start_clip=start, max_clips=self.budget)
        todo = max(0, reader.num_clips - start)
        if start > 0:
            self.log(f'{name}: resuming at clip {start} of {reader.num_clips}')
        bar = Progress(name, todo) if self.progress and todo else None
        stride = self.clf.schedule.clip_stride_sec
        done_here, last_save, end = 0, time.monotonic(), 'finished'
        with open(files['part'], 'a', newline='') as rows:
            writer = csv.writer(rows, lineterminator='\n')
            try:
                for r in self.clf.run(path, state.memory, start, reader=reader):
                    if self.claim is not None and self.claim.lost:
                        end = 'claim lost'  # another process has this recording now
                        break
                    if r.skipped is not None:  # a clip stands for clip_stride_sec of the timeline
                        state.skipped = merge_stretches(state.skipped + [dict(
                            start=round(r.start, 3), end=round(max(r.end, r.start + stride), 3),
                            reason=r.skipped, clips=1)], gap=stride)
                    else:
                        writer.writerow(format_row(name, r.clip, r.start, r.end,
                                                   self.clf.classes[r.label], r.scores))
                    state.memory, state.next_clip = r.memory, r.clip + 1
                    done_here += 1
                    if bar is not None:
                        bar.update()
                    if self.budget is not None:
                        self.budget -= 1
                        if self.budget <= 0:
                            end = 'budget'
                            break
                    # a save costs a few ms; a kill loses at most save_interval_sec of work
                    if ((self.save_every and done_here % self.save_every == 0)
                            or time.monotonic() - last_save >= self.save_interval_sec):
                        self._save(rows, files, state, reader)
                        last_save = time.monotonic()
                if end != 'claim lost':
                    self._save(rows, files, state, reader)
            finally:
                if bar is not None:
                    bar.close()
                entry.update(status='stopped', clips=state.next_clip, computed=done_here)
        return end, reader

    def finish(self, path: str, name: str, files: RecordingOutputs, state: ResumeState,
               table: ClipTable) -> None:
        """Smooth, summarise and write the CSV, summary and hypnogram; then mark done."""
        classes, sched = self.clf.classes, self.clf.schedule
        stride = sched.clip_stride_sec
        n = int(state.next_clip)
        valid = np.zeros(n, bool)
        valid[table.clip] = True
        dense_probs = table.dense(table.probs, n, fill=0.0)
        raw = table.dense(table.labels, n)
        min_bout = int(round(self.smoothing.min_bout_sec / stride))
        smoothed = smooth_labels(dense_probs, self.smoothing.size, self.smoothing.mode,
                                 max(1, min_bout), valid)
        smoothed = self.sleep.clip_stages(dense_probs, valid, smoothed)  # --smooth hmm
        summary = recording_summary(name, path, state, sched, self.smoothing, min_bout, raw,
                                    smoothed, classes)
        if self.truth is not None:
            summary['agreement'] = agreement_block(
                self.truth, self.labels_path, name, path, self.input_names, sched,
                state.info['fps'], raw, smoothed, classes)
        # epochs, clock, EDF+/BORIS files and their JSON blocks; the epoch hypnogram
        png = self.sleep.finish(path, name, files, state, table, summary)
        atomic_write_text(files['csv'], final_csv(name, table, smoothed[table.clip], classes))
        atomic_write_text(files['json'], to_json(summary))
        atomic_write_bytes(files['png'], png)
        state.done, state.post = True, self._post_settings()
        state.save(files['state'])

    # ---- helpers ---------------------------------------------------------------------------
    def _post_settings(self) -> dict:
        return dict(asdict(self.smoothing), labels=self.labels_path,
                    sleep=self.sleep.post_settings())

    def _refresh(self, path: str, name: str, files: RecordingOutputs, state: ResumeState,
                 entry: dict) -> None:
        """A finished recording: skipped, or summarised again from its CSV when the smoothing
        or labels changed or the summary or hypnogram is missing (not staged again)."""
        summary = files.summary()
        whole = (summary is not None and summary.get('status') == 'done'
                 and os.path.exists(files['png']))
        if whole and state.post == self._post_settings():
            entry.update(status='done', note='finished earlier, not recomputed',
                         clips=state.next_clip)
            self.log(f'{name}: finished earlier, skipped')
        else:
            self.finish(path, name, files, state,
                        read_rows(files['csv'], self.clf.classes, smoothed=True))
            entry.update(status='done', note='re-summarised (new settings or a missing '
                         'summary or hypnogram)', clips=state.next_clip)
        entry.update(skipped_clips=sum(s['clips'] for s in state.skipped),
                     unreadable=state.skipped[:20])
        if os.path.exists(files['part']):
            os.unlink(files['part'])

    def _save(self, rows, files: RecordingOutputs, state: ResumeState,
              reader: ClipReader) -> None:
        """Flush the rows file to disk, then save the state that counts on it."""
        rows.flush()
        os.fsync(rows.fileno())
        state.rows_bytes = rows.tell()
        state.errors = [asdict(e) for e in reader.errors][:MAX_ERRORS_KEPT]
        state.save(files['state'])

    def _log_skipped(self, name: str, state: ResumeState) -> None:
        if state.skipped:
            self.log(f'UNREADABLE {name}: {sum(s["clips"] for s in state.skipped)} clips: '
                     + '; '.join(f'{s["start"]:.1f}-{s["end"]:.1f} s ({s["reason"]})'
                                 for s in state.skipped[:5]))


def stream_videos(classifier: StreamingClassifier, inputs: Sequence[str], out_dir: str,
                  smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                  session: Optional[str] = None, save_every: Optional[int] = None,
                  max_clips: Optional[int] = None, progress: bool = True,
                  save_interval_sec: float = 1.0, glob: Optional[Sequence[str]] = None,
                  claim_stale_sec: float = STALE_SEC,
                  sleep: Optional[SleepSettings] = None) -> Dict:
    """Stage every video in ``inputs`` (files or folders; in folders the files with a video
    extension, or matching ``glob``) into ``out_dir``; see :class:`StreamJob` for the other
    arguments, :mod:`.outputs` for the files written and :mod:`.run_report` for the report
    returned. Rerun with the same arguments after a crash: finished videos are skipped and an
    unfinished one continues from its last saved clip, with the outputs of an uninterrupted
    run. ``session`` (a regex) groups the files of one night, in name order, and carries the
    memory across them."""
    job = StreamJob(classifier, out_dir, smoothing, labels, save_every, max_clips, progress,
                    save_interval_sec=save_interval_sec, claim_stale_sec=claim_stale_sec,
                    sleep=sleep)
    return job.run(find_videos(inputs, glob, skip=out_dir), session)
