"""The two training transforms of the official SSv2 recipe that mmaction2 1.x lacks.

- ``UniformSegmentSample``: the original's ``SampleFrames(frame_uniform=True)``: split the video
  into ``clip_len`` equal segments and take one frame from each (a random one in training, the
  middle one in test).
- ``VideoRandAugment``: the original's ``Imgaug(transforms=[dict(type='RandAugment', n, m)])``,
  i.e. imgaug's RandAugment with one draw of its random parameters applied to every frame of the
  clip. imgaug is unmaintained and does not import with numpy 2, so its operations are
  re-expressed here with OpenCV/numpy, using imgaug's magnitudes (M out of 30).
"""
from typing import Callable, Dict, List

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import TRANSFORMS


@TRANSFORMS.register_module()
class UniformSegmentSample(BaseTransform):
    """One frame from each of ``clip_len`` equal segments of the video.

    Args:
        clip_len (int): Frames in the clip (segments).
        test_mode (bool): Middle frame of each segment (True) or a random one. Defaults to False.
    """

    def __init__(self, clip_len: int, test_mode: bool = False) -> None:
        self.clip_len = clip_len
        self.test_mode = test_mode

    def transform(self, results: Dict) -> Dict:
        seg_size = float(results['total_frames'] - 1) / self.clip_len
        inds = []
        for i in range(self.clip_len):
            start, end = int(np.round(seg_size * i)), int(np.round(seg_size * (i + 1)))
            inds.append((start + end) // 2 if self.test_mode else np.random.randint(start, end + 1))
        results['frame_inds'] = np.asarray(inds, dtype=np.int64) + results.get('start_index', 0)
        results['clip_len'] = self.clip_len
        results['frame_interval'] = None
        results['num_clips'] = 1
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(clip_len={self.clip_len}, test_mode={self.test_mode})'


_M_MAX = 30.  # imgaug's magnitude scale
_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13.  # PIL ImageFilter.SMOOTH
_BLUR = np.array([[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1],
                  [1, 1, 1, 1, 1]], np.float32) / 16.  # PIL ImageFilter.BLUR


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _blend(degenerate: np.ndarray, img: np.ndarray, factor: float) -> np.ndarray:
    return _u8(degenerate + factor * (img.astype(np.float32) - degenerate))


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None]


def _autocontrast(img: np.ndarray) -> np.ndarray:
    lo = img.min(axis=(0, 1), keepdims=True).astype(np.float32)
    hi = img.max(axis=(0, 1), keepdims=True).astype(np.float32)
    scale = np.where(hi > lo, 255. / np.maximum(hi - lo, 1), 1.)
    return _u8(np.where(hi > lo, (img - lo) * scale, img))


def _affine(img: np.ndarray, matrix: np.ndarray, cval: int) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(cval, ) * 3)


@TRANSFORMS.register_module()
class VideoRandAugment(BaseTransform):
    """imgaug's RandAugment(n, m), the same draw for every frame of a clip (uint8 RGB frames).

    First a horizontal flip (p=0.5, as imgaug always does; set ``flip=False`` to skip it) and a
    crop of up to ``m`` px-at-224 per side resized back, then ``n`` distinct operations in random
    order out of: identity, autocontrast, equalize, invert, rotate, posterize, solarize, color,
    contrast, brightness, sharpness, shear x/y, translate x/y, cutout, blur, smooth.

    Args:
        n (int): Operations per clip. Defaults to 2.
        m (int): Magnitude in [0, 30]. Defaults to 9.
        cval (int): Fill value of affine transforms and cutout. Defaults to 128.
        flip (bool): imgaug's leading random horizontal flip. Defaults to True.
    """

    def __init__(self, n: int = 2, m: int = 9, cval: int = 128, flip: bool = True) -> None:
        self.n, self.m, self.cval, self.flip = n, m, cval, flip

    def _ops(self, h: int, w: int) -> List[Callable[[np.ndarray], np.ndarray]]:
        m, cval, rng = self.m, self.cval, np.random
        level = m / _M_MAX

        def sign() -> float:
            return 1. if rng.rand() < 0.5 else -1.

        def enhance() -> float:
            return float(np.clip(1. + sign() * level * 0.9, 0.1, 1.9))

        angle = sign() * level * 30.
        rot = cv2.getRotationMatrix2D((w / 2., h / 2.), angle, 1.)
        shear = np.tan(np.deg2rad(sign() * level * np.rad2deg(0.3)))
        shear_x = np.float32([[1, shear, 0], [0, 1, 0]])
        shear_y = np.float32([[1, 0, 0], [shear, 1, 0]])
        tx, ty = sign() * level * 0.33 * w, sign() * level * 0.33 * h
        bits = 8 - int(np.clip(int(level * 6), 0, 6))
        threshold = int(np.clip(256 - int(level * 256), 0, 256))
        f_color, f_contrast, f_bright, f_sharp = enhance(), enhance(), enhance(), enhance()
        side = int(round(min(level * 20 / 32, 20 / 32) * min(h, w)))
        cy, cx = rng.randint(0, h), rng.randint(0, w)

        def cutout(img):
            img = img.copy()
            img[max(cy - side // 2, 0):cy + (side + 1) // 2,
                max(cx - side // 2, 0):cx + (side + 1) // 2] = cval
            return img

        return [
            lambda img: img,
            _autocontrast,
            lambda img: np.stack([cv2.equalizeHist(np.ascontiguousarray(img[..., c]))
                                  for c in range(3)], -1),
            lambda img: 255 - img,
            lambda img: _affine(img, rot, cval),
            lambda img: img & np.uint8((0xFF << (8 - bits)) & 0xFF),
            lambda img: np.where(img >= threshold, 255 - img, img).astype(np.uint8),
            lambda img: _blend(_gray(img), img, f_color),
            lambda img: _blend(_gray(img).mean(), img, f_contrast),
            lambda img: _blend(np.zeros((), np.float32), img, f_bright),
            lambda img: _blend(cv2.filter2D(img, cv2.CV_32F, _SMOOTH), img, f_sharp),
            lambda img: _affine(img, shear_x, cval),
            lambda img: _affine(img, shear_y, cval),
            lambda img: _affine(img, np.float32([[1, 0, tx], [0, 1, 0]]), cval),
            lambda img: _affine(img, np.float32([[1, 0, 0], [0, 1, ty]]), cval),
            cutout,
            lambda img: _u8(cv2.filter2D(img, cv2.CV_32F, _BLUR)),
            lambda img: _u8(cv2.filter2D(img, cv2.CV_32F, _SMOOTH)),
        ]

    def transform(self, results: Dict) -> Dict:
        imgs = results['imgs']
        h, w = imgs[0].shape[:2]
        rng = np.random
        flip = self.flip and rng.rand() < 0.5
        # crop up to m px (at 224) from each side independently, then resize back
        top, right, bottom, left = (rng.uniform(0, self.m) / 224. for _ in range(4))
        y0, y1 = int(round(top * h)), h - int(round(bottom * h))
        x0, x1 = int(round(left * w)), w - int(round(right * w))
        ops = self._ops(h, w)
        chosen = [ops[i] for i in rng.permutation(len(ops))[:self.n]]
        out = []
        for img in imgs:
            img = img[:, ::-1] if flip else img
            img = cv2.resize(np.ascontiguousarray(img[y0:y1, x0:x1]), (w, h),
                             interpolation=cv2.INTER_LINEAR)
            for op in chosen:
                img = op(img)
            out.append(np.ascontiguousarray(img, dtype=np.uint8))
        results['imgs'] = out
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(n={self.n}, m={self.m}, cval={self.cval}, flip={self.flip})'
