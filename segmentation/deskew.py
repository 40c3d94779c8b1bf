"""Page skew: the angle whose horizontal projection of the ink is sharpest."""

from __future__ import annotations

import cv2
import numpy as np


def estimate_skew(mask: np.ndarray, max_angle: float = 6.0, step: float = 0.25) -> float:
    """Skew angle in degrees (positive: text rises to the right... as cv2 rotates)."""
    h, w = mask.shape
    scale = min(1.0, 1000.0 / max(h, w))
    small = cv2.resize(
        mask.astype(np.uint8) * 255, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA
    )
    if small.max() == 0:
        return 0.0
    sh, sw = small.shape
    centre = (sw / 2.0, sh / 2.0)

    def sharpness(angle: float) -> float:
        m = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
        rot = cv2.warpAffine(small, m, (sw, sh), flags=cv2.INTER_NEAREST)
        profile = rot.sum(axis=1, dtype=np.float64)
        return float(np.square(np.diff(profile)).sum())

    # Coarse to fine: every 2 steps over the range, then the steps around the
    # best (the sharpness peak of a page of lines is wider than 2 steps).
    coarse = np.arange(-max_angle, max_angle + 1e-9, 2 * step)
    scores = {float(a): sharpness(a) for a in coarse}
    best = max(scores, key=lambda a: scores[a])
    for a in (best - step, best + step):
        if -max_angle - 1e-9 <= a <= max_angle + 1e-9:
            scores[float(a)] = sharpness(a)
    return max(scores, key=lambda a: scores[a])


def rotate(image: np.ndarray, angle: float, border: float = 255) -> np.ndarray:
    """Rotate about the centre, keeping the size (the small skews we correct lose only margins)."""
    if abs(angle) < 1e-6:
        return image
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    interp = cv2.INTER_NEAREST if image.dtype == bool else cv2.INTER_LINEAR
    src = image.astype(np.uint8) if image.dtype == bool else image
    out: np.ndarray = cv2.warpAffine(
        src, m, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0 if image.dtype == bool else border
    )
    return out.astype(bool) if image.dtype == bool else out
