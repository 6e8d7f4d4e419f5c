"""The files a staging run writes for one recording, whose they are, and which recording made
them.

A recording ``cam1/2024-05-01.mp4`` (its path inside the input folder) writes
``OUT/cam1/2024-05-01.{csv,json,png,epochs.csv,edf}`` (``.boris.xlsx`` on request) plus
``.state.pt`` (resume), ``.rows.part`` (rows staged so far) and ``.claim`` (who is staging
it). The tool writes only files with these suffixes in
its own tree, and never replaces a file it did not write: each kind carries a mark of ours
(the CSV headers, the JSON's ``generator``, the PNG's ``Software`` text, a token in the
EDF+ header, the workbook's creator). Every summary and
resume state records its source (path, size, modification time and hashes of the first and
last MiB), so outputs of one recording are never replaced by those of another that happens to
have the same name (two cameras, one date).
"""
import hashlib
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import UsageError

GENERATOR = 'video_swin_plugin stream_infer'
SUFFIXES = dict(csv='.csv', json='.json', png='.png', state='.state.pt', part='.rows.part',
                claim='.claim', epochs='.epochs.csv', edf='.edf', boris='.boris.xlsx')
EDF_MARK = 'video_swin_plugin'  # a token of our EDF+ header's recording field
_MIB = 1 << 20


def source_record(path: str) -> Dict:
    """What identifies a recording's file: path, size, mtime and SHA-1 of its first and last
    MiB (the first MiB tells recordings apart; the rest tells whether the file changed)."""
    st = os.stat(path)
    with open(path, 'rb') as f:
        head = hashlib.sha1(f.read(_MIB)).hexdigest()
        f.seek(max(0, st.st_size - _MIB))
        tail = hashlib.sha1(f.read(_MIB)).hexdigest()
    return dict(path=os.path.abspath(path), size=st.st_size, mtime=round(st.st_mtime, 3),
                head_sha1=head, tail_sha1=tail)


def same_recording(a: Dict, b: Dict) -> bool:
    """Whether two source records are of one recording (possibly grown, moved or copied)."""
    return a.get('head_sha1') == b.get('head_sha1')


def same_content(a: Dict, b: Dict) -> bool:
    """Whether two source records are of the same bytes (as far as size and hashes tell)."""
    return all(a.get(k) == b.get(k) for k in ('size', 'head_sha1', 'tail_sha1'))


class RecordingOutputs:
    """The output files of the recording called ``name`` in ``out_dir``; ``paths[kind]``."""

    def __init__(self, out_dir: str, stem: str) -> None:
        self.stem = stem
        base = os.path.join(out_dir, stem)
        self.paths = {kind: base + suffix for kind, suffix in SUFFIXES.items()}

    def __getitem__(self, kind: str) -> str:
        return self.paths[kind]

    def makedirs(self) -> None:
        os.makedirs(os.path.dirname(self.paths['csv']), exist_ok=True)

    # ---- whose files -----------------------------------------------------------------------
    def foreign(self) -> List[str]:
        """Existing files at our output paths that this tool did not write."""
        return [path for kind, path in self.paths.items()
                if os.path.isfile(path) and not _ours(kind, path)]

    def summary(self) -> Optional[Dict]:
        """The summary JSON we wrote, or None (absent, damaged or not ours)."""
        try:
            with open(self.paths['json'], encoding='utf-8') as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get('generator') == GENERATOR else None

    def csv_whole(self, classes: Sequence[str]) -> bool:
        """Whether the per-clip CSV of a finished recording is there and readable."""
        from .reports import read_rows
        try:
            read_rows(self.paths['csv'], classes, smoothed=True)
        except (OSError, ValueError):
            return False
        return True

    def recorded_source(self) -> Optional[Dict]:
        """The source our summary names (None when there is no summary of ours)."""
        summary = self.summary()
        return summary.get('source') if summary else None


def _ours(kind: str, path: str) -> bool:
    """Whether the file at one of our output paths was written by this tool. The suffixes
    only this tool uses (.state.pt, .rows.part, .claim) are ours by name; any other file must
    carry our mark (a scorer's ``night1.csv`` or a PSG's ``night1.edf`` beside ``night1.mp4``
    does not)."""
    if kind in ('state', 'part', 'claim'):
        return True
    try:
        if kind in ('csv', 'epochs'):
            with open(path, encoding='utf-8', errors='replace') as f:
                return f.readline().startswith('video,clip,start,end,label' if kind == 'csv'
                                               else 'epoch,onset_s,')
        if kind == 'edf':  # a PSG recording beside the video often has the video's name
            with open(path, 'rb') as f:
                return EDF_MARK.encode() in f.read(168)[88:]
        if kind == 'boris':
            import zipfile
            with zipfile.ZipFile(path) as book:
                return GENERATOR.encode() in book.read('docProps/core.xml')
        if kind == 'json':
            with open(path, encoding='utf-8') as f:
                return json.load(f).get('generator') == GENERATOR
        if kind == 'png':
            from PIL import Image
            with Image.open(path) as image:
                return image.info.get('Software') == GENERATOR
    except Exception:  # noqa: BLE001  (unreadable as ours: not ours)
        return False
    return False


def check_outputs(out_dir: str, videos: Sequence[Tuple[str, str]]) -> None:
    """Refuse (before anything is written) a run whose outputs would replace files this tool
    did not write, or outputs of another recording that has the same name.

    Raises:
        UsageError: naming the file, or both recordings.
    """
    from .inputs import output_stem
    from .run_report import REPORT, is_our_report
    report = os.path.join(out_dir, REPORT)
    if os.path.isfile(report) and not is_our_report(report):
        raise UsageError(f'{report} exists and was not written by stream_infer; choose '
                         'another --out-dir')
    cohort = os.path.join(out_dir, 'cohort.csv')
    if os.path.isfile(cohort) and not _first_line(cohort).startswith('night,animal,'):
        raise UsageError(f'{cohort} exists and was not written by stream_infer; choose '
                         'another --out-dir')
    first: Dict[str, str] = {}
    for path, name in videos:
        stem = output_stem(name)
        if stem in first:
            raise UsageError(f'{first[stem]} and {path} would write the same outputs '
                             f'{os.path.join(out_dir, stem)}.*; stage them into different '
                             '--out-dir folders')
        first[stem] = path
        outs = RecordingOutputs(out_dir, stem)
        foreign = outs.foreign()
        if foreign:
            raise UsageError(f'{foreign[0]} exists and was not written by stream_infer '
                             f'(staging {path} would replace it); choose another --out-dir')
        recorded = outs.recorded_source() or _state_source(outs)
        if recorded and not same_recording(recorded, source_record(path)):
            raise UsageError(f'{outs["json"] if outs.summary() else outs["state"]} holds the '
                             f'outputs of {recorded.get("path")}, another recording than '
                             f'{path} with the same name; choose another --out-dir or delete '
                             'those outputs')


def _state_source(outs: RecordingOutputs) -> Optional[Dict]:
    if not os.path.isfile(outs['state']):
        return None
    from .resume import ResumeState
    state, _ = ResumeState.load(outs['state'])
    return state.source if state is not None and state.source else None


def _first_line(path: str) -> str:
    with open(path, encoding='utf-8', errors='replace') as f:
        return f.readline()
