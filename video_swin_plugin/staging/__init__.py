"""Sleep staging of whole recordings: the resumable job behind ``tools/stream_infer.py`` and
what it writes (per-clip CSV, summary JSON, hypnogram), smoothing and agreement with a scorer.

Module map: ``job`` (the run: open or resume, stage, finish), ``resume`` (the saved state of one
recording), ``inputs`` (finding recordings, naming outputs, sessions), ``smoothing`` (median
filter, minimum bout), ``agreement`` (scorer's labels on the clip grid), ``reports`` (CSV and
summary statistics), ``hypnogram`` (the PNG), ``atomic`` (crash-safe file writes). The
sleep researcher's outputs: ``sleep`` (what the job calls), ``epochs`` (clips -> scoring
epochs), ``clock`` (file starts, lights window), ``nights`` (a session on one timeline),
``cohort`` (night statistics, cohort.csv), ``hmm`` (Viterbi smoothing), ``formats`` (YASA codes,
EDF+ stage texts, the epoch CSV), ``edf`` (EDF+ hypnograms), ``boris`` (BORIS exports in, import
tables out). The per-clip loop itself is
:class:`video_swin_plugin.apis.streaming.StreamingClassifier`.
"""
from .job import StreamJob, stream_videos
from .smoothing import Smoothing

__all__ = ['StreamJob', 'Smoothing', 'stream_videos']
