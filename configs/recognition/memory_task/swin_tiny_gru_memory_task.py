# The memory task's recurrent baseline: a GRU over each clip's pooled backbone features
# (GRUNeck), the same backbone, data, recipe and state passing as swin_tiny_fam_memory_task.py.
_base_ = ['./swin_tiny_fam_memory_task.py']
model = dict(neck=dict(_delete_=True, type='GRUNeck', in_channels=128, embed_dims=32))
