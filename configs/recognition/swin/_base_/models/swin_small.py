# Swin-S: Swin-T with 18 blocks in stage 3.
_base_ = ['./swin_tiny.py']
model = dict(backbone=dict(depths=(2, 2, 18, 2)))
