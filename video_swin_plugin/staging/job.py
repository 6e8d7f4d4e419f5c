"""The staging job behind ``tools/stream_infer.py``: many recordings into an output folder.

Per recording a CSV, a summary JSON and a hypnogram PNG, written atomically; a
:class:`~.resume.ResumeState` (clips done, the memory after the last one) saved as it goes, so a
killed run continues where it stopped and ends with the same files; unreadable files and
stretches reported and skipped. One recording goes through three steps: :meth:`StreamJob.open`
(start, resume, or find it finished), :meth:`StreamJob.stage` (the clips, appended to a rows
file) and :meth:`StreamJob.finish` (smooth, summarise, write the outputs).
"""
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..apis.streaming import StreamingClassifier
from ..errors import VideoReadError
from ..models.necks.recurrent import FAMMemory
from ..video_reader import ClipReader
from .agreement import agreement, load_truth, match_truth
from .atomic import atomic_write_bytes, atomic_write_text
from .inputs import Video, find_videos, group_sessions, output_stem
from .reports import (WAKE_NAMES, ClipTable, csv_header, final_csv, find_class, format_row,
                      merge_stretches, read_rows, stage_statistics, to_json)
from .resume import ResumeState
from .sleep import SleepOutputs, SleepSettings
from .smoothing import Smoothing, smooth_labels

MAX_ERRORS_KEPT = 1000


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
                 save_interval_sec: float = 1.0, sleep: Optional[SleepSettings] = None) -> None:
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
        self.model_fp = classifier.fingerprint()
        os.makedirs(out_dir, exist_ok=True)
        self.sleep = SleepOutputs(sleep or SleepSettings(), classifier.classes,
                                  classifier.schedule, smoothing, self.truth, out_dir, self.log)

    # ---- the run ---------------------------------------------------------------------------
    def run(self, videos: Sequence[Video], session_pattern: Optional[str] = None) -> Dict:
        """Stage every video; returns (and writes to ``run_report.json``) each one's status."""
        names = [output_stem(n) for _, n in videos]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f'several inputs would write the same outputs: {dup}')
        carry = bool(session_pattern)
        self.sleep.begin(videos, session_pattern)  # clock starts, before any file is staged
        report = dict(videos=[], stopped=False)
        started = time.time()
        for session in group_sessions(videos, session_pattern):
            memory, previous = None, None
            for path, name in session:
                entry = dict(video=name, path=path)
                report['videos'].append(entry)
                try:
                    outcome = self.process(path, name, entry, memory, previous, carry)
                except (VideoReadError, OSError, ValueError, RuntimeError) as e:
                    self._fail(path, name, entry, e)  # one bad file never stops the others
                    continue
                if outcome.stopped:
                    report['stopped'] = True
                    break
                memory, previous = outcome.memory, outcome.fingerprint
            if report['stopped']:
                break
        self.sleep.end(report)  # whole nights and cohort.csv
        report['wall_s'] = round(time.time() - started, 3)
        atomic_write_text(os.path.join(self.out_dir, 'run_report.json'), to_json(report))
        return report

    def _fail(self, path: str, name: str, entry: dict, error: Exception) -> None:
        """Report a recording that could not be staged; its saved resume state is kept."""
        message = str(error) if isinstance(error, VideoReadError) else \
            f'{path}: {type(error).__name__}: {error}'
        entry.update(status='failed', error=message)
        self.log(f'SKIPPED {message}')
        atomic_write_text(self.paths(name)['json'], to_json(
            dict(video=name, path=path, status='failed', error=message)))

    def paths(self, name: str) -> Dict[str, str]:
        stem = os.path.join(self.out_dir, output_stem(name))
        return dict(csv=stem + '.csv', json=stem + '.json', png=stem + '.png',
                    state=stem + '.state.pt', part=stem + '.rows.part')

    def process(self, path: str, name: str, entry: dict, memory_in: Optional[FAMMemory] = None,
                previous_fp: Optional[str] = None, carry: bool = False) -> Outcome:
        """Stage one recording: open (or resume), stage its clips, finish. With ``carry`` (a
        session), ``memory_in`` and ``previous_fp`` come from the session's previous file
        (None for its first) and the memory after the last clip is handed on."""
        files = self.paths(name)
        state = self.open(path, name, files, memory_in, previous_fp)
        if state.done:
            self._refresh(path, name, files, state, entry)
        else:
            reader = self.stage(path, name, files, state, entry)
            if reader is None:
                return Outcome(None, state.fingerprint, stopped=True)
            state.errors = [asdict(e) for e in reader.errors][:MAX_ERRORS_KEPT]
            self.finish(path, name, files, state,
                        read_rows(files['part'], self.clf.classes, smoothed=False))
            os.unlink(files['part'])
            entry.update(status='done', skipped=len(state.skipped))
            self._log_skipped(name, state)
        return Outcome(state.memory if carry else None, state.fingerprint)

    # ---- the three steps -------------------------------------------------------------------
    def _fingerprint(self, path: str, previous: Optional[str]) -> str:
        st = os.stat(path)
        return hashlib.sha1(json.dumps([self.model_fp, os.path.abspath(path), st.st_size,
                                        st.st_mtime_ns, previous]).encode()).hexdigest()

    def open(self, path: str, name: str, files: Dict[str, str],
             memory_in: Optional[FAMMemory], previous_fp: Optional[str]) -> ResumeState:
        """The recording's state: its saved one if it was made with this model, video and
        session, else a new one (a new rows file holding the header).

        Raises:
            VideoReadError: the file cannot be opened as a video.
        """
        fingerprint = self._fingerprint(path, previous_fp)
        state = None
        if os.path.exists(files['state']):
            state, why = ResumeState.load(files['state'])
            if state is None:
                self.log(f"{files['state']}: resume state {why}; starting this video over")
            elif state.fingerprint != fingerprint:
                self.log(f'{name}: the model, video or session changed since the saved state; '
                         'starting this video over')
                state = None
        if state is not None:
            return state
        info = self.clf.reader(path).info  # raises VideoReadError for an unreadable file
        state = ResumeState(fingerprint=fingerprint, info=asdict(info),
                            memory=memory_in if memory_in is not None
                            else self.clf.init_memory())
        header = ','.join(csv_header(self.clf.classes, smoothed=False)) + '\n'
        with open(files['part'], 'w', newline='') as f:
            f.write(header)
        state.rows_bytes = len(header.encode())
        state.save(files['state'])
        return state

    def stage(self, path: str, name: str, files: Dict[str, str], state: ResumeState,
              entry: dict) -> Optional[ClipReader]:
        """Stage the clips from ``state.next_clip`` on, appending rows and saving the state as
        it goes. Returns the reader (its decode errors) once the whole grid is read, or None
        when the run's clip budget ran out first (the state is saved)."""
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
        bar = self._progress_bar(name, todo)
        stride = self.clf.schedule.clip_stride_sec
        done_here, last_save = 0, time.monotonic()
        with open(files['part'], 'a', newline='') as rows:
            writer = csv.writer(rows, lineterminator='\n')
            try:
                for r in self.clf.run(path, state.memory, start, reader=reader):
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
                            self._save(rows, files, state, reader)
                            return None
                    # a save costs a few ms; a kill loses at most save_interval_sec of work
                    if ((self.save_every and done_here % self.save_every == 0)
                            or time.monotonic() - last_save >= self.save_interval_sec):
                        self._save(rows, files, state, reader)
                        last_save = time.monotonic()
                self._save(rows, files, state, reader)
            finally:
                if bar is not None:
                    bar.file.write('\n')
                entry.update(status='stopped', clips=state.next_clip, computed=done_here)
        return reader

    def finish(self, path: str, name: str, files: Dict[str, str], state: ResumeState,
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
            video=name, path=path, status='done', classes=classes,
            schedule=dict(sched.to_dict(), fps=info['fps']),
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
            intervals = match_truth(self.truth, name, path)
            if intervals is None:
                summary['agreement'] = dict(labels=self.labels_path, note='video not in labels')
            else:
                truth = sched.clip_labels(intervals, info['fps'], n)
                summary['agreement'] = dict(labels=self.labels_path,
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

    def _refresh(self, path: str, name: str, files: Dict[str, str], state: ResumeState,
                 entry: dict) -> None:
        """A finished recording: skipped, or summarised again when the smoothing or labels
        changed or an output is missing (its clips are not staged again)."""
        outputs = all(os.path.exists(files[k]) for k in ('csv', 'json', 'png'))
        if outputs and state.post == self._post_settings():
            entry.update(status='done', note='finished earlier, not recomputed',
                         clips=state.next_clip)
            self.log(f'{name}: finished earlier, skipped')
        else:
            table = (read_rows(files['csv'], self.clf.classes, smoothed=True)
                     if os.path.exists(files['csv']) and not os.path.exists(files['part'])
                     else read_rows(files['part'], self.clf.classes, smoothed=False))
            self.finish(path, name, files, state, table)
            entry.update(status='done', note='re-summarised with new settings',
                         clips=state.next_clip)
        if os.path.exists(files['part']):
            os.unlink(files['part'])

    def _save(self, rows, files: Dict[str, str], state: ResumeState,
              reader: ClipReader) -> None:
        """Flush the rows file to disk, then save the state that counts on it."""
        rows.flush()
        os.fsync(rows.fileno())
        state.rows_bytes = rows.tell()
        state.errors = [asdict(e) for e in reader.errors][:MAX_ERRORS_KEPT]
        state.save(files['state'])

    def _progress_bar(self, name: str, todo: int):
        if not (self.progress and todo):
            return None
        from mmengine.utils import ProgressBar
        self.log(f'{name}: {todo} clips')
        return ProgressBar(todo, file=sys.stderr)

    def _log_skipped(self, name: str, state: ResumeState) -> None:
        if state.skipped:
            self.log(f'{name}: {sum(s["clips"] for s in state.skipped)} clips unreadable: '
                     + '; '.join(f'{s["start"]:.1f}-{s["end"]:.1f} s ({s["reason"]})'
                                 for s in state.skipped[:5]))


def stream_videos(classifier: StreamingClassifier, inputs: Sequence[str], out_dir: str,
                  smoothing: Smoothing = Smoothing(), labels: Optional[str] = None,
                  session: Optional[str] = None, save_every: Optional[int] = None,
                  max_clips: Optional[int] = None, progress: bool = True,
                  save_interval_sec: float = 1.0,
                  sleep: Optional[SleepSettings] = None) -> Dict:
    """Stage every video in ``inputs`` (files or folders) into ``out_dir``.

    Per video ``<name>.csv`` (``video,clip,start,end,label,smoothed_label,p_<class>...``),
    ``<name>.json`` (stage times and shares, bouts, transitions, latencies, skipped stretches,
    agreement with ``labels``) and ``<name>.png`` (hypnogram); ``<name>.state.pt`` holds the
    resume state (clips done and the memory after the last one). Rerun with the same arguments
    after a crash: finished videos are skipped, an unfinished one continues from its last saved
    clip, and the outputs equal those of an uninterrupted run. ``session`` (a regex) groups
    files of one recording session, in name order, and carries the memory across them.
    ``max_clips`` stops the whole run after that many clips (the state is saved). The state is
    saved every ``save_every`` clips if given, else whenever ``save_interval_sec`` has passed
    since the last save (``save_every=1``: after every clip), and at the end of each video.
    """
    job = StreamJob(classifier, out_dir, smoothing, labels, save_every, max_clips, progress,
                    save_interval_sec=save_interval_sec, sleep=sleep)
    return job.run(find_videos(inputs), session)
