"""Staging one recording, in three steps: :meth:`RecordingSteps.open` (start, resume, or find
it finished and whole), :meth:`RecordingSteps.stage_steps` (the clips, appended to a rows file,
the resume state saved as it goes) and :meth:`RecordingSteps.finish` (smooth, summarise, write
the outputs). :class:`~.job.StreamJob` runs them for every recording of a run.
"""
import csv
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from ..apis.streaming import NON_FINITE
from ..errors import RecordingTooShortError
from ..evaluation.collapse import collapse_warning
from ..models.necks.recurrent import FAMMemory
from ..video_reader import ClipReader, prefetch
from .agreement import agreement_block
from .atomic import atomic_write_bytes, atomic_write_text
from .claims import Claim
from .outputs import RecordingOutputs, source_record
from .progress import Progress
from .reports import (ClipTable, csv_header, final_csv, format_row, merge_stretches, read_rows,
                      recording_summary, to_json)
from .resume import ResumeState
from .run_report import WORKER
from .smoothing import smooth_labels

MAX_ERRORS_KEPT = 1000


@dataclass
class Outcome:
    """What staging one recording left for the next file of its session."""
    memory: Optional[FAMMemory]
    fingerprint: str
    stopped: bool = False  # the run's clip budget ran out inside this recording


class RecordingSteps:
    """The per-recording steps of a staging job (a mixin of :class:`~.job.StreamJob`, whose
    attributes they use: ``clf``, ``smoothing``, ``budget``, ``sleep``, ``truth`` ...)."""

    def process_steps(self, path: str, name: str, entry: dict, claim: Optional[Claim] = None,
                      memory_in: Optional[FAMMemory] = None, previous_fp: Optional[str] = None,
                      carry: bool = False):
        """Stage one recording: open (or resume), stage its clips, finish; a generator that
        yields its forward requests and returns an :class:`Outcome`. With ``carry`` (a
        session), ``memory_in`` and ``previous_fp`` come from the session's previous file
        (None for its first) and the memory after the last clip is handed on."""
        files = self.outputs(name)
        files.makedirs()
        state = self.open(path, name, files, memory_in, previous_fp)
        if state.done:
            self._refresh(path, name, files, state, entry)
            return Outcome(state.memory if carry else None, state.fingerprint)
        end, reader = yield from self.stage_steps(path, name, files, state, entry, claim)
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
        warnings = self.finish(path, name, files, state,
                               read_rows(files['part'], self.clf.classes, smoothed=False))
        os.unlink(files['part'])
        entry.update(status='done', skipped_clips=sum(s['clips'] for s in state.skipped),
                     unreadable=state.skipped[:20], staged_by=WORKER)
        if warnings:
            entry['warnings'] = warnings
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

    def stage_steps(self, path: str, name: str, files: RecordingOutputs, state: ResumeState,
                    entry: dict, claim: Optional[Claim] = None):
        """Stage the clips from ``state.next_clip`` on, appending rows and saving the state as
        it goes; a generator that yields ``(clip, memory)`` for each forward it needs and is
        sent ``(scores, memory)``. Returns how it ended: ``'finished'`` (the whole grid is
        read), ``'budget'`` (the run's clip budget ran out; the state is saved) or ``'claim
        lost'``; and the reader (its decode errors)."""
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
                for clip in prefetch(reader, self.clf.queue_size):
                    if claim is not None and claim.lost:
                        end = 'claim lost'  # another process has this recording now
                        break
                    if self.budget is not None and self.budget <= 0:
                        end = 'budget'  # spent by the recordings batched with this one
                        break
                    reason = clip.reason
                    if clip.frames is not None:
                        scores, state.memory = yield clip.frames, state.memory
                        reason = None if scores is not None else NON_FINITE
                    if reason is not None:  # a clip stands for clip_stride_sec of the timeline
                        state.skipped = merge_stretches(state.skipped + [dict(
                            start=round(clip.start, 3),
                            end=round(max(clip.end, clip.start + stride), 3),
                            reason=reason, clips=1)], gap=stride)
                    else:
                        writer.writerow(format_row(name, clip.index, clip.start, clip.end,
                                                   self.clf.classes[int(scores.argmax())],
                                                   scores))
                    state.next_clip = clip.index + 1
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
               table: ClipTable) -> list:
        """Smooth, summarise and write the CSV, summary and hypnogram; then mark done.
        Returns the summary's ``warnings`` (a collapsed model output, logged here too)."""
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
        collapsed = collapse_warning(table.probs, classes)  # the raw per-clip probabilities
        if collapsed is not None:
            summary['warnings'] = [collapsed]
            self.log(f'WARNING {name}: {collapsed}')
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
        return summary.get('warnings', [])

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
            warnings = summary.get('warnings', [])
        else:
            warnings = self.finish(path, name, files, state,
                                   read_rows(files['csv'], self.clf.classes, smoothed=True))
            entry.update(status='done', note='re-summarised (new settings or a missing '
                         'summary or hypnogram)', clips=state.next_clip)
        if warnings:
            entry['warnings'] = warnings
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


