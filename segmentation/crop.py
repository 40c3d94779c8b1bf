"""The one line crop: page image + a line's region → the gray image the model reads.

Reading (a segmented page's line masks), training (a ground-truth polygon from
ALTO or PAGE XML) and re-indexing all cut lines here, so the model trains on
exactly what it reads: the line's bounding box, ink outside the line's own
region (neighbouring lines' ascenders and descenders) painted over with the
paper's tone, and a small paper margin around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import cv2
import numpy as np

CROP_MARGIN = 4  # paper added around every line crop (px)
OWN_DILATE = 5  # the line's own region grows by this kernel before others' ink is painted over


def polygon_box(points: Sequence[tuple[float, float]], width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a polygon, clipped to a page of ``width`` × ``height``."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 1
    return max(0, int(x0)), max(0, int(y0)), min(width, int(x1)), min(height, int(y1))


def polygon_mask(points: Sequence[tuple[float, float]], box: tuple[int, int, int, int]) -> np.ndarray:
    """A polygon rasterized in the frame of ``box`` (bool, box-sized)."""
    x0, y0, x1, y1 = box
    mask = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    pts = np.round(np.asarray(points, np.float64).reshape(-1, 2) - (x0, y0)).astype(np.int32)
    if mask.size and len(pts) >= 3:
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def cut_line(
    page: np.ndarray, box: tuple[int, int, int, int], own: np.ndarray | None = None, margin: int = CROP_MARGIN
) -> np.ndarray:
    """Gray uint8 crop of ``box`` (x0, y0, x1, y1) from a gray uint8 ``page``.

    ``own`` (box-sized, bool) is the line's region: its ink mask from
    segmentation or its polygon from ground truth; pixels outside it (grown
    by ``OWN_DILATE``) are painted with the crop's paper tone. A ``margin`` of
    paper goes around the crop."""
    x0, y0, x1, y1 = box
    crop = page[y0:y1, x0:x1].copy()
    paper = int(np.percentile(crop, 90)) if crop.size else 255
    if own is not None and crop.size:
        grown = cv2.dilate(own.astype(np.uint8), np.ones((OWN_DILATE, OWN_DILATE), np.uint8)).astype(bool)
        crop[~grown] = np.maximum(crop[~grown], paper)
    return cast(np.ndarray, cv2.copyMakeBorder(crop, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=paper))


def cut_polygon(page: np.ndarray, points: Sequence[tuple[float, float]], margin: int = CROP_MARGIN) -> np.ndarray:
    """``cut_line`` for a polygon in page coordinates (ALTO / PAGE XML lines)."""
    h, w = page.shape[:2]
    box = polygon_box(points, w, h)
    return cut_line(page, box, polygon_mask(points, box), margin)
