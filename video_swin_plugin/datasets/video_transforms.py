"""Opening and decoding long recordings by path, for ``LongVideoDataset``'s pipelines.

``ClipGridDecode`` decodes a sample's frames with the staging reader
(:func:`video_swin_plugin.video_reader.read_frames`), so a clip has the same pixels in training
as in staging whatever the container: decord returns other frames than the stream on some
(MPEG-TS: frames shifted by tens of frames), and numbers frames of variable-frame-rate video by
order rather than by time. ``DecordFileInit`` is kept for configs that name it.
"""
import os.path as osp
from typing import Dict

from mmcv.transforms import BaseTransform

from ..registry import TRANSFORMS
from ..video_reader import VideoInfo, probe_video, read_frames


@TRANSFORMS.register_module()
class ClipGridDecode(BaseTransform):
    """Decode ``results['frame_inds']`` of ``results['filename']`` on the clip grid.

    Uses ``results['video_info']`` (``VideoInfo`` fields, set by ``LongVideoDataset``) when
    present, else probes the file. Adds ``imgs`` (list of HxWx3 uint8 RGB), ``original_shape``,
    ``img_shape``, ``total_frames`` and ``avg_fps``, as mmaction2's decoders do.

    Raises:
        VideoReadError: the file or some of the frames cannot be decoded (named).
    """

    def transform(self, results: Dict) -> Dict:
        path = results['filename']
        fields = results.get('video_info')
        info = VideoInfo(**fields) if fields else probe_video(path)
        imgs = read_frames(path, results['frame_inds'], info)
        results['imgs'] = imgs
        results['original_shape'] = results['img_shape'] = imgs[0].shape[:2]
        results['total_frames'] = info.num_frames
        results['avg_fps'] = info.fps
        return results


@TRANSFORMS.register_module()
class DecordFileInit(BaseTransform):
    """Open ``results['filename']`` with decord by path (mmaction2's ``DecordInit`` reads the
    whole file into memory first, which a night-long recording should not need). Prefer
    ``ClipGridDecode`` (see the module docstring).

    Adds ``video_reader``, ``total_frames`` and ``avg_fps``, as ``DecordInit`` does, so
    mmaction2's ``DecordDecode`` follows it.

    Args:
        num_threads (int): Decoding threads. Defaults to 1.
    """

    def __init__(self, num_threads: int = 1) -> None:
        self.num_threads = num_threads

    def transform(self, results: Dict) -> Dict:
        import decord
        path = results['filename']
        if not osp.isfile(path):
            raise FileNotFoundError(f'video file not found: {path}')
        reader = decord.VideoReader(path, num_threads=self.num_threads)
        results['video_reader'] = reader
        results['total_frames'] = len(reader)
        results['avg_fps'] = reader.get_avg_fps()
        return results
