"""Datasets and data transforms of the plugin (registered in the plugin scope)."""
from . import checked_video, swin_transforms  # noqa: F401  (Swin recipes: dataset, transforms)
from . import long_video, video_transforms  # noqa: F401  (long recordings)
