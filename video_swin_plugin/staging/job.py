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
import socket
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..apis.streaming import StreamingClassifier
from ..errors import RecordingTooShortError, UsageError, VideoReadError
from ..models.necks.recurrent import FAMMemory
from ..video_reader import ClipReader
from .agreement import agreement, load_truth, match_truth
from .atomic import atomic_write_bytes, atomic_write_text
from .claims import STALE_SEC, Claim
from .inputs import Inputs, Video, find_videos, group_sessions, output_stem
from .outputs import (GENERATOR, RecordingOutputs, same_recording, source_record)
from .progress import Progress
from .reports import (WAKE_NAMES, ClipTable, csv_header, final_csv, find_class, format_row,
                      merge_stretches, read_rows, stage_statistics, to_json)
from .resume import ResumeState
from .sleep import SleepOutputs, SleepSettings
from .smoothing import Smoothing, smooth_labels

MAX_ERRORS_KEPT = 1000
WORKER = f'{socket.gethostname()}:{os.getpid()}'  # who staged a recording, in the run report
REPORT = 'run_report.json'
# statuses of a recording that make the run's exit status 1
INCOMPLETE = ('failed', 'too short', 'claim lost')


@dataclass
class Outcome:
    """What staging one recording left for the next file of its session."""
    memory: Optional[FAMMemory]
    fingerprint: str
    stopped: bool = False  # the run's clip budget ran out inside this recording


class StreamJob:
    """Stages many recordings into ``out_dir``; see :func:`stream_videos` for the arguments."""

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
        self.check_outputs(videos)
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
        self._write_report(report)
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

    def check_outputs(self, videos: Sequence[Video]) -> None:
        """Refuse (before writing anything) a run whose outputs would replace files this tool
        did not write, or outputs of another recording that has the same name."""
        report = os.path.join(self.out_dir, REPORT)
        if os.path.isfile(report) and not _is_our_report(report):
            raise UsageError(f'{report} exists and was not written by stream_infer; choose '
                             'another --out-dir')
        cohort = os.path.join(self.out_dir, 'cohort.csv')
        if os.path.isfile(cohort) and not _starts_with(cohort, 'night,animal,'):
            raise UsageError(f'{cohort} exists and was not written by stream_infer; choose '
                             'another --out-dir')
        first: Dict[str, str] = {}
        for path, name in videos:
            stem = output_stem(name)
            if stem in first:
                raise UsageError(f'{first[stem]} and {path} would write the same outputs '
                                 f'{os.path.join(self.out_dir, stem)}.*; stage them into '
                                 'different --out-dir folders')
            first[stem] = path
            outs = self.outputs(name)
            foreign = outs.foreign()
            if foreign:
                raise UsageError(f'{foreign[0]} exists and was not written by stream_infer '
                                 f'(staging {path} would replace it); choose another '
                                 '--out-dir')
            recorded = outs.recorded_source() or self._state_source(outs)
            if recorded and not same_recording(recorded, source_record(path)):
                raise UsageError(f'{outs["json"] if outs.summary() else outs["state"]} holds '
                                 f'the outputs of {recorded.get("path")}, another recording '
                                 f'than {path} with the same name; choose another --out-dir '
                                 'or delete those outputs')

    @staticmethod
    def _state_source(outs: RecordingOutputs) -> Optional[dict]:
        if not os.path.isfile(outs['state']):
            return None
        state, _ = ResumeState.load(outs['state'])
        return state.source if state is not None and state.source else None

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

    def _write_report(self, report: Dict) -> None:
        """Write ``run_report.json`` for this run's recordings. Several processes share an
        output folder, so under a lock the report on disk is merged in: a recording this
        process saw in progress elsewhere takes the status its stager has written since
        (its summary, or that process's report), whichever process writes last."""
        path = os.path.join(self.out_dir, REPORT)
        lock = Claim(path + '.lock', stale_sec=60)
        deadline = time.monotonic() + 60
        while not lock.acquire():
            if time.monotonic() > deadline:
                break  # a stuck lock: write our view rather than none
            time.sleep(0.05)
        try:
            on_disk = {}
            if _is_our_report(path):
                with open(path, encoding='utf-8') as f:
                    on_disk = {v['video']: v for v in json.load(f)['videos']}
            for entry in report['videos']:
                other = on_disk.get(entry['video'], {})
                if entry.get('note', '').startswith('finished earlier') and \
                        other.get('status') == 'done' and 'staged_by' in other:
                    entry['staged_by'] = other['staged_by']  # by a process before this one
                if entry.get('status') != 'in progress':
                    continue
                summary = self.outputs(entry['video']).summary()
                if other.get('status') not in (None, 'in progress'):
                    entry.clear()
                    entry.update(other)  # with its stager's staged_by
                elif summary is not None and summary.get('status') in ('done', ) + INCOMPLETE:
                    entry.update(status=summary['status'], note='staged by another process')
            self.sleep.end(report)  # whole nights and cohort.csv, from what is done by now
            atomic_write_text(path, to_json(report))
        finally:
            lock.release()

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
            elif state.done and not self._csv_whole(files):
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
        wake = find_class(classes, WAKE_NAMES)
        info = state.info
        summary = dict(
            video=name, path=path, generator=GENERATOR, status='done', source=state.source,
            classes=classes, schedule=dict(sched.to_dict(), fps=info['fps']),
            duration_s=round(info['duration'], 3),
            clips=dict(scheduled=n, scored=int(valid.sum()), skipped=int(n - valid.sum())),
            smoothing=dict(size=self.smoothing.size, mode=self.smoothing.mode,
                           min_bout_sec=self.smoothing.min_bout_sec, min_bout_clips=min_bout),
            smoothed=stage_statistics(smoothed, classes, stride, wake),
            raw=stage_statistics(raw, classes, stride, wake),
            skipped=state.skipped, decode_errors=state.errors[:100],
            decode_error_count=len(state.errors))
        truth = None
        if self.truth is not None:
            intervals, how = match_truth(self.truth, name, path, self.input_names)
            if intervals is None:
                summary['agreement'] = dict(labels=self.labels_path, note='video not in labels')
            else:
                truth = sched.clip_labels(intervals, info['fps'], n)
                summary['agreement'] = dict(labels=self.labels_path, matched_by=how,
                                            raw=agreement(truth, raw, classes),
                                            smoothed=agreement(truth, smoothed, classes))
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

    def _csv_whole(self, files: RecordingOutputs) -> bool:
        """Whether the per-clip CSV of a finished recording is there and readable."""
        try:
            read_rows(files['csv'], self.clf.classes, smoothed=True)
        except (OSError, ValueError):
            return False
        return True

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


def _is_our_report(path: str) -> bool:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and 'videos' in data and 'stopped' in data


def _starts_with(path: str, text: str) -> bool:
    with open(path, encoding='utf-8', errors='replace') as f:
        return f.readline().startswith(text)


def exit_status(report: Dict) -> int:
    """0: every clip of every input was scored (by this or another process); 1: a file was
    unreadable, too short or failed, or some clips were unreadable; 3: the clip budget ran
    out (rerun to continue). Recordings still in progress elsewhere do not count."""
    if report.get('stopped'):
        return 3
    bad = [v for v in report['videos']
           if v.get('status') in INCOMPLETE or v.get('skipped_clips', 0) > 0]
    return 1 if bad else 0


def stream_videos(classifier: StreamingClassifier, inputs: Sequence[str], out_dir: str,
                  smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                  session: Optional[str] = None, save_every: Optional[int] = None,
                  max_clips: Optional[int] = None, progress: bool = True,
                  save_interval_sec: float = 1.0, glob: Optional[Sequence[str]] = None,
                  claim_stale_sec: float = STALE_SEC,
                  sleep: Optional[SleepSettings] = None) -> Dict:
    """Stage every video in ``inputs`` (files or folders) into ``out_dir``.

    Per video ``<name>.csv`` (``video,clip,start,end,label,smoothed_label,p_<class>...``),
    ``<name>.json`` (stage times and shares, bouts, transitions, latencies, skipped stretches,
    agreement with ``labels``, the source file) and ``<name>.png`` (hypnogram), where
    ``<name>`` is the video's path inside the folder given, without its extension;
    ``<name>.state.pt`` holds the resume state (clips done and the memory after the last
    one). Rerun with the same arguments after a crash: finished videos are skipped, an
    unfinished one continues from its last saved clip, and the outputs equal those of an
    uninterrupted run. Several processes may run on one ``out_dir`` at once; each recording
    is staged by one of them. ``session`` (a regex) groups files of one recording session, in
    name order, and carries the memory across them. ``glob`` picks files in folders by
    pattern instead of by video extension. ``max_clips`` stops the whole run after that many
    clips (the state is saved). The state is saved every ``save_every`` clips if given, else
    whenever ``save_interval_sec`` has passed since the last save (``save_every=1``: after
    every clip), and at the end of each video.
    """
    job = StreamJob(classifier, out_dir, smoothing, labels, save_every, max_clips, progress,
                    save_interval_sec=save_interval_sec, claim_stale_sec=claim_stale_sec,
                    sleep=sleep)
    return job.run(find_videos(inputs, glob, skip=out_dir), session)
