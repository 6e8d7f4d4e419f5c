# The memory task with delays of minutes (benchmarks/memory_task.py --size full: 10-minute
# held-out recordings). The same model and recipe as swin_tiny_fam_memory_task.py, with:
# - a write gate that starts at ~2% a step (gate_bias=-4, against -2: ~12%), so what the cue
#   wrote survives the many steps before the gate has learnt to stay shut;
# - windows of 60 clips: a 1-minute training recording in one window, gradients through all
#   of it.
# The benchmark trains it in two stages through tools/train.py: 1-minute recordings (40
# epochs: learn to write the cue), then, from that checkpoint, 5-minute recordings in 60-clip
# windows, each continuing its recording's previous window by state passing (10 epochs at lr
# 1e-3: learn to keep it). The loss after minutes of carried memory is what teaches keeping;
# 5-minute recordings from the start never learnt to write (issue 11's notes).
_base_ = ['./swin_tiny_fam_memory_task.py']
num_clips = 60
model = dict(neck=dict(gate_bias=-4.0))
train_dataloader = dict(dataset=dict(num_clips=num_clips))
