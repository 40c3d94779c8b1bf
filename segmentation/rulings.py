"""Removal of ruling lines and form boxes from a binary page.

Long thin horizontal and vertical runs of ink (longer than any stroke of
handwriting) are found by morphological opening with line kernels and
removed; where a handwritten stroke crosses a ruling, the stroke pixels just
above and below keep it connected enough to read.
"""

from __future__ import annotations

import cv2
import numpy as np


def find_rulings(mask: np.ndarray, min_frac: float = 0.12) -> np.ndarray:
    """Mask of ruling pixels.

    Horizontal rulings: straight runs longer than ``min_frac`` of the page
    width. Vertical rulings (box edges, often only one text line tall): once
    the horizontal ones are gone, straight vertical runs longer than 1.2 times
    the typical height of the remaining components; no handwritten stroke is
    a perfectly straight run longer than the component it belongs to.
    """
    h, w = mask.shape
    m = mask.astype(np.uint8)
    horiz = cv2.morphologyEx(m, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(25, int(w * min_frac)), 1)))
    horiz = cv2.dilate(horiz, np.ones((3, 3), np.uint8)) & m
    rest = m & ~horiz
    n, _, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    if n > 1:
        hs = stats[1:, cv2.CC_STAT_HEIGHT]
        areas = stats[1:, cv2.CC_STAT_AREA]
        big = hs[areas >= max(8, np.percentile(areas, 30))]
        ch = float(np.median(big if big.size else hs))
    else:
        ch = 20.0
    vlen = max(25, int(1.2 * ch))
    vert = cv2.morphologyEx(rest, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, vlen)))
    vert = cv2.dilate(vert, np.ones((3, 3), np.uint8)) & m
    return (horiz | vert).astype(bool)


def remove_rulings(mask: np.ndarray, min_frac: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """(mask without rulings, ruling mask)."""
    rulings = find_rulings(mask, min_frac)
    if not rulings.any():
        return mask, rulings
    return mask & ~rulings, rulings
