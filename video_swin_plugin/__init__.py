"""Video Swin Transformer and a feedback-memory neck for mmaction2 1.x.

``import video_swin_plugin`` needs only PyTorch. The mmaction2 registration lives in
``video_swin_plugin.registry`` and is imported by mmengine when a config sets
``default_scope='video_swin_plugin'`` or names ``type='video_swin_plugin.<Name>'``.
"""
__version__ = '0.1.0'
