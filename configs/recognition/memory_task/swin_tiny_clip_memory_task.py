# The memory task's clip-only baseline: the same backbone, data and recipe as
# swin_tiny_fam_memory_task.py, without a neck (each clip classified on its own).
_base_ = ['./swin_tiny_fam_memory_task.py']
model = dict(neck=None, state_passing_prob=0.0, cls_head=dict(in_channels=128))
