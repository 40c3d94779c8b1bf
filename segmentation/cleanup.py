"""Ink that is not writing, taken off the binary page before lines are found.

Real scans carry marks that binarize as ink: the dark strip beyond the
sheet's edge (scanner lid, a page smaller than the glass), edge shadows,
punched holes, stains. Left in, each becomes a "line" read as a run of
``I``. Three steps:

- :func:`outside_sheet` (on the gray page): solid regions far darker than
  the paper that run along the image's edge, the scanner's background beyond
  the sheet. A local threshold leaves only their ragged rim as ink, too thin
  for the blot test and too far in for the edge test, so they are found on
  the gray image, where they are solid. Thin dark lines are no such region:
  a register's rulings often run into the border, and they and the writing
  beside them stay;

- :func:`remove_blots` (before ruling removal): solid ink, thicker than any
  pen stroke. The inscribed radius (distance transform) of a pen's strokes
  is about half its width, and twice that where strokes meet; a hole, a blot
  or the border strip is solid far beyond it. The thick cores are found by
  that radius and grown back to their whole blob, pixel by pixel, so a thin
  stroke or ruling touching a blot keeps its own pixels.
- :func:`remove_edge_marks` (after ruling removal): components that lie
  along the page's edge (their pixels in its outer band spanning at least
  3 writing heights, longer than any letter) or wholly inside that band: the fringe of the sheet's
  edge and shadow, not writing near it. On a deskewed page the band follows
  the rotated scan's edge, not the image's.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np

from .lines import components, text_height


def stroke_radius(mask: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(typical stroke radius, writing height, distance transform) of a page:
    the median inscribed radius over letter-sized components."""
    m = mask.astype(np.uint8)
    n, labels, stats, _ = components(m)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    if n <= 1:
        return 1.0, 0.0, dist
    ch = text_height(stats)
    radius = np.zeros(n, np.float32)
    on = labels > 0
    np.maximum.at(radius, labels[on], dist[on])
    letters = stats[:, cv2.CC_STAT_AREA] >= max(16.0, (ch / 3.0) ** 2)
    letters[0] = False
    return (float(np.median(radius[letters])) if letters.any() else 1.0), ch, dist


def blots(mask: np.ndarray, thick: float = 2.5) -> np.ndarray:
    """Mask of solid ink: cores thicker than ``thick`` x the typical stroke
    radius (and a third of the writing height), grown back to their extent."""
    stroke, ch, dist = stroke_radius(mask)
    if ch <= 0:
        return np.zeros(mask.shape, bool)
    r = max(4.0, thick * stroke, ch / 3.0)
    core = (dist > r).astype(np.uint8)
    if not core.any():
        return np.zeros(mask.shape, bool)
    # Grow each core back over its blob, within the core's box (blots are few: the page is not dilated).
    k = int(2 * np.ceil(r) + 5)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    out = np.zeros(mask.shape, bool)
    h, w = mask.shape
    _, _, stats, _ = components(core)
    for x, y, bw, bh, _area in stats[1:]:
        x0, y0 = max(0, x - k), max(0, y - k)
        x1, y1 = min(w, x + bw + k), min(h, y + bh + k)
        grown = cv2.dilate(core[y0:y1, x0:x1], kernel).astype(bool)
        out[y0:y1, x0:x1] |= grown & mask[y0:y1, x0:x1].astype(bool)
    return out


def edge_marks(
    mask: np.ndarray, valid: np.ndarray | None = None, edge_contact: float = 3.0, band_frac: float = 0.02
) -> np.ndarray:
    """Mask of the components along the page's edge or inside its outer band
    (``band_frac`` of the shorter side: 50 px on an A4 page at 300 dpi, 3 px
    on a one-line image). ``valid`` is the part of the image that shows the
    scan (a deskewed page has rotated-in corners): the band runs along its
    edge. A component is an edge mark when its pixels inside the band span
    ``edge_contact`` writing heights, or when it lies in the band entirely."""
    h, w = mask.shape
    n, labels, stats, _ = components(mask)
    if n <= 1:
        return np.zeros((h, w), bool)
    ch = text_height(stats)
    band = max(3, int(round(band_frac * min(h, w))))
    if valid is None:
        valid = np.ones((h, w), np.uint8)
    inner = cv2.erode(
        valid.astype(np.uint8), np.ones((2 * band + 1, 2 * band + 1), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    ys, xs = np.nonzero((labels > 0) & (inner == 0))
    lab = labels[ys, xs]
    big = np.iinfo(np.int64).max
    x0 = np.full(n, big, np.int64)
    y0 = np.full(n, big, np.int64)
    x1 = np.full(n, -1, np.int64)
    y1 = np.full(n, -1, np.int64)
    np.minimum.at(x0, lab, xs)
    np.minimum.at(y0, lab, ys)
    np.maximum.at(x1, lab, xs)
    np.maximum.at(y1, lab, ys)
    span = np.where(x1 >= 0, np.maximum(x1 - x0, y1 - y0) + 1, 0)
    in_band = np.bincount(lab, minlength=n)
    bad = (span >= max(3.0, edge_contact * ch)) | (in_band == stats[:, cv2.CC_STAT_AREA])
    bad[0] = False
    return bad[labels] if bad.any() else np.zeros((h, w), bool)


def outside_sheet(gray: np.ndarray, side: int = 800, dark: float = 0.5, contact: float = 0.1) -> np.ndarray:
    """Mask of the scanner background beyond the sheet: on a copy at most
    ``side`` px, pixels darker than ``dark`` x the paper level, in solid regions
    (thicker than 0.6% of the page) touching an image edge along at least
    ``contact`` of its length, grown by 1% of the page so the rim goes with them."""
    h, w = gray.shape
    scale = min(1.0, side / max(h, w))
    small = (
        cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else gray
    )
    sh, sw = small.shape
    paper = float(np.percentile(small, 90))
    m = (small < dark * paper).astype(np.uint8)
    # Only solid regions: an opening takes the page's thin dark lines (a register's rulings,
    # which often run into the border) off, so they and the writing beside them stay.
    k0 = max(3, int(0.006 * max(sh, sw)) | 1)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((k0, k0), np.uint8))
    n, labels, _stats, _ = components(m)
    if n <= 1:
        return np.zeros((h, w), bool)
    keep = np.zeros(n, bool)
    for strip, length in ((labels[:, 0], sh), (labels[:, -1], sh), (labels[0, :], sw), (labels[-1, :], sw)):
        counts = np.bincount(strip, minlength=n)
        keep |= counts >= contact * length
    keep[0] = False
    if not keep.any():
        return np.zeros((h, w), bool)
    k = max(3, int(0.01 * max(sh, sw)) | 1)
    region = cv2.dilate(keep[labels].astype(np.uint8), np.ones((k, k), np.uint8))
    return cast(np.ndarray, cv2.resize(region, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool))


def remove_blots(mask: np.ndarray) -> np.ndarray:
    art = blots(mask)
    return mask & ~art if art.any() else mask


def remove_edge_marks(mask: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    art = edge_marks(mask, valid)
    return mask & ~art if art.any() else mask
