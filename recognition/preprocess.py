"""Crop preprocessing shared by training and inference.

A scanned crop (dark ink on light paper, any size) becomes a float32 array of
fixed height with ink = 1.0 on background = 0.0:

1. grayscale, polarity fixed so ink is darker than paper;
2. background flattened (a max filter estimates the paper) and ink contrast
   stretched so faint pencil and heavy marker look alike;
3. cropped to ink (specks too small to be writing are ignored);
4. scaled keeping aspect ratio so that the *x-height* lands at a fixed share
   of the output height. A lone ``a`` therefore stays x-height sized instead
   of being blown up to full height, which is how it looks inside a line:
   words and lines share one model. Ink taller than the output shrinks the
   writing to fit, but only down to ``fit_limit`` of that scale; what still
   does not fit is clipped. Real line crops carry descenders of the line above
   and ascenders of the line below; shrinking a line to keep them made the
   writing small and unreadable (0 = always shrink to fit, the behaviour of
   bundles made before the option);
5. placed with the core band centred vertically and a little padding
   horizontally.

The same function runs on rendered training images and on real scans.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np


@dataclass(frozen=True)
class PreprocessConfig:
    height: int = 40
    xheight_frac: float = 1.0 / 3.0
    vpad: int = 1
    hpad: int = 6
    max_width: int = 2400
    ink_threshold: float = 0.3
    fit_limit: float = 0.0  # shrink tall ink to fit down to this share of the x-height scale, then clip
    core_refine: int = 0  # passes sizing the x-height search to the band found rather than the crop (core_band)
    refine_min_aspect: float = 0.0  # core_refine only for crops this many times wider than tall (lines); 0 = all

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreprocessConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any uint8/uint16/float image, gray or colour, to float32 gray in [0, 1]."""
    img = np.asarray(image)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[:, :, :3]
        if img.shape[2] == 1:
            img = img[:, :, 0]
        else:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype == bool:
        return img.astype(np.float32)
    img = img.astype(np.float32)
    if img.size and img.max() > 1.0:
        img = img / 255.0
    return np.clip(img, 0.0, 1.0)


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Gray page-like image (ink dark) -> ink intensity in [0, 1] (ink = 1)."""
    h, w = gray.shape
    if h == 0 or w == 0:
        return np.zeros((h, w), np.float32)
    # Polarity: the paper is the majority of pixels.
    if np.median(gray) < 0.5:
        gray = 1.0 - gray
    # Paper estimate: a max filter wider than a stroke removes the ink.
    k = int(max(3, min(h, w, 2 * round(max(h, 24) / 6) + 1)))
    k = k + 1 - k % 2
    background = cv2.dilate(gray, np.ones((k, k), np.uint8))
    background = cv2.blur(background, (k, k))
    background = np.maximum(background, 0.05)
    ink: np.ndarray = np.clip(1.0 - gray / background, 0.0, 1.0)
    # Separate ink from paper texture and scan noise: Otsu on a lightly
    # smoothed ink map, then stretch so the darkest strokes are full ink.
    smooth = cv2.GaussianBlur(ink, (3, 3), 0) if min(h, w) >= 3 else ink
    u8 = np.round(smooth * 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = max(float(t) / 255.0, 0.08)
    strokes = smooth[smooth > t]
    if strokes.size < 4:
        return np.zeros((h, w), np.float32)
    floor = 0.5 * t
    top = max(float(np.percentile(strokes, 90)), floor + 0.05)
    ink = np.clip((smooth - floor) / (top - floor), 0.0, 1.0)
    return ink.astype(np.float32)


def _ink_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (y0, y1, x0, x1) of ink, ignoring specks."""
    if not mask.any():
        return None
    h = mask.shape[0]
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    min_area = max(2, int((h / 60.0) ** 2 * 3))
    keep = areas >= min(min_area, int(areas.max()))
    st = stats[1:][keep]
    x0 = int(st[:, cv2.CC_STAT_LEFT].min())
    y0 = int(st[:, cv2.CC_STAT_TOP].min())
    x1 = int((st[:, cv2.CC_STAT_LEFT] + st[:, cv2.CC_STAT_WIDTH]).max())
    y1 = int((st[:, cv2.CC_STAT_TOP] + st[:, cv2.CC_STAT_HEIGHT]).max())
    return y0, y1, x0, x1


def _core_run(profile: np.ndarray, band: int | None = None, centred: bool = False) -> tuple[int, int]:
    """Densest contiguous band of a row profile (rows >= 45% of the peak).

    The profile is smoothed over a window that grows with the crop height,
    or with ``band`` (an earlier estimate of the band's height) when given.
    ``centred`` prefers a peak near the middle of the crop (ink of a
    neighbouring line at an edge can be as dense as the line's own)."""
    h = len(profile)
    k = max(1, (band // 12 if band else h // 20)) * 2 + 1
    smooth = np.convolve(profile, np.ones(k, np.float32) / k, mode="same")
    if centred:
        y = (np.arange(h, dtype=np.float32) - (h - 1) / 2.0) / max(h / 2.0, 1.0)
        peak = int(np.argmax(smooth * (1.0 - 0.5 * y * y)))
    else:
        peak = int(np.argmax(smooth))
    thr = 0.45 * smooth[peak]
    top = peak
    while top > 0 and smooth[top - 1] >= thr:
        top -= 1
    bottom = peak + 1
    while bottom < h and smooth[bottom] >= thr:
        bottom += 1
    return top, bottom


def _refined_run(profile: np.ndarray, refine: int, centred: bool) -> tuple[int, int]:
    """``_core_run``, then ``refine`` more passes smoothed to the band found."""
    top, bottom = _core_run(profile, centred=centred)
    for _ in range(refine):
        top, bottom = _core_run(profile, band=bottom - top, centred=centred)
    return top, bottom


def core_band(mask: np.ndarray, refine: int = 0, min_aspect: float = 0.0) -> tuple[int, int]:
    """Rows [top, bottom) of the core (x-height) band.

    The height comes from the median over vertical slices about 1.5 crop
    heights wide, so a skewed line does not smear the estimate; the centre
    comes from the whole crop's row profile. With ``refine`` > 0 the profile
    smoothing is sized to the band found, that many times over, instead of to
    the crop, and the band is looked for near the middle: ink of neighbouring
    lines makes a crop tall without making its writing bigger. That ink comes
    with line crops; a word's band need not lie in its middle (a word with
    ascenders only sits low), so ``min_aspect`` keeps the plain search for
    crops less than that many times wider than tall.
    """
    h, w = mask.shape
    profile = mask.sum(axis=1).astype(np.float32)
    if h < 3 or profile.max() <= 0:
        return 0, h
    if w < min_aspect * h:
        refine = 0
    centred = refine > 0
    top, bottom = _refined_run(profile, refine, centred)
    slice_w = max(8, int(1.5 * h))
    if w >= 2 * slice_w:
        heights = []
        for x in range(0, w - slice_w // 2, slice_w):
            part = mask[:, x : x + slice_w]
            if part.sum() >= 0.02 * part.size:
                t, b = _refined_run(part.sum(axis=1).astype(np.float32), refine, centred)
                heights.append(b - t)
        if heights:
            core = int(round(float(np.median(heights))))
            centre = (top + bottom) / 2.0
            top = int(max(0, round(centre - core / 2)))
            bottom = min(h, top + max(1, core))
    # Guard against absurd estimates (a single stroke, a dot): a quarter of
    # the crop, or with ``refine`` of the rows holding a tenth of the peak ink.
    tall = h if not refine else int((profile >= 0.1 * profile.max()).sum())
    min_core = max(1, int(round(0.25 * tall)))
    if bottom - top < min_core:
        centre = (top + bottom) / 2.0
        top = int(max(0, round(centre - min_core / 2)))
        bottom = min(h, top + min_core)
    return top, bottom


class Normalized(NamedTuple):
    """A normalized crop and where it came from in the input."""

    image: np.ndarray  # float32 (height, width), ink = 1
    x0: int  # left edge of the ink box in input pixels
    scale: float  # output pixels per input pixel
    hpad: int  # output columns of padding before the ink

    def to_input_x(self, x: float) -> float:
        """Map an x position in the normalized crop back to input pixels."""
        return self.x0 + (x - self.hpad) / self.scale


def normalize(image: np.ndarray, config: PreprocessConfig = PreprocessConfig()) -> Normalized:
    """Scanned crop -> Normalized (float32 ink image of fixed height + geometry)."""
    H = config.height
    ink = ink_map(to_gray(image))
    mask = ink > config.ink_threshold
    box = _ink_box(mask)
    if box is None:
        return Normalized(np.zeros((H, 2 * config.hpad + 4), np.float32), 0, 1.0, config.hpad)
    y0, y1, x0, x1 = box
    ink = ink[y0:y1, x0:x1]
    mask = mask[y0:y1, x0:x1]
    h, w = ink.shape
    ctop, cbot = core_band(mask, config.core_refine, config.refine_min_aspect)
    core_h = max(1, cbot - ctop)
    xscale = config.xheight_frac * H / core_h
    scale = min(max((H - 2 * config.vpad) / h, config.fit_limit * xscale), xscale)
    scale = min(scale, (config.max_width - 2 * config.hpad) / w)
    new_w = max(1, int(round(w * scale)))
    new_h = max(1, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(ink, (new_w, new_h), interpolation=interp)
    out = np.zeros((H, new_w + 2 * config.hpad), np.float32)
    centre = (ctop + cbot) / 2.0 * scale
    top = int(round(H / 2.0 - centre))
    if new_h <= H:
        top = min(max(top, 0), H - new_h)
    src = max(0, -top)  # rows clipped above the output
    rows = min(new_h - src, H - max(0, top))
    out[max(0, top) : max(0, top) + rows, config.hpad : config.hpad + new_w] = resized[src : src + rows]
    return Normalized(out, x0, float(scale), config.hpad)


def preprocess(image: np.ndarray, config: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """Scanned crop -> float32 (height, width) ink image, ink = 1."""
    return normalize(image, config).image
