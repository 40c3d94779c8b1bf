"""Removal of ruling lines and form boxes from a binary page.

Long thin horizontal and vertical runs of ink (longer than any stroke of
handwriting) are found by morphological opening with line kernels and
removed; where a handwritten stroke crosses a ruling, the stroke pixels just
above and below keep it connected enough to read.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np


def find_rulings(mask: np.ndarray, min_frac: float = 0.12) -> np.ndarray:
    """Mask of ruling pixels.

    Horizontal rulings: straight runs longer than ``min_frac`` of the page
    width and 4 writing heights. Vertical rulings (box edges, often only one text line tall): once
    the horizontal ones are gone, straight vertical runs longer than 1.2 times
    the typical height of the remaining components; no handwritten stroke is
    a perfectly straight run longer than the component it belongs to.
    """
    h, w = mask.shape
    m = mask.astype(np.uint8)
    half = _half(m)
    ch = _writing_height(half)
    # Long horizontal runs, found on the half-size copy (4x cheaper) and
    # brought back to the page's ink; at least 4 writing heights long, so a
    # t-bar or an underlined word in an image of one word is no ruling.
    hlen = max(13, int(half.shape[1] * min_frac), int(2.0 * ch))
    horiz = cv2.morphologyEx(half, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (hlen, 1)))
    horiz = cv2.resize(horiz, (w, h), interpolation=cv2.INTER_NEAREST)
    horiz = cv2.dilate(horiz, np.ones((3, 3), np.uint8)) & m
    rest = m & ~horiz
    ch = _writing_height(_half(rest))
    vlen = max(25, int(1.2 * ch))
    vert = cv2.morphologyEx(rest, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, vlen)))
    vert = _box_edges(vert, horiz, h, ch)
    vert = cv2.dilate(vert, np.ones((3, 3), np.uint8)) & m
    return cast(np.ndarray, (horiz | vert).astype(bool))


def _writing_height(half: np.ndarray) -> float:
    """Typical component height in full-size pixels, from a half-size mask."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(half, connectivity=8)
    if n <= 1:
        return 20.0
    hs = stats[1:, cv2.CC_STAT_HEIGHT]
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = hs[areas >= max(2, np.percentile(areas, 30))]
    return 2.0 * float(np.median(big if big.size else hs))


def _half(m: np.ndarray) -> np.ndarray:
    """A 0/1 mask at half size; a pixel there is ink if any of its four is."""
    h, w = m.shape
    return cast(np.ndarray, (cv2.resize(m, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8))


def _box_edges(vert: np.ndarray, horiz: np.ndarray, page_h: int, ch: float, reach: int = 4) -> np.ndarray:
    """The straight vertical runs that are rulings, not pen strokes.

    The stems of ``l``, ``d``, ``T`` in upright writing are straight runs as
    long as any box edge, so length alone does not tell them apart. A box or
    table edge ends on a horizontal ruling (its corner); a margin line runs
    down a large part of the page and several lines of writing (``ch`` is the
    writing's height: on an image of one line, a quarter of the page is a
    stem). A stroke that merely crosses a ruled line continues past it at
    both ends and is kept.
    """
    contours, _ = cv2.findContours(vert, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    _H, W = horiz.shape
    out = np.zeros_like(vert)
    for c in contours:
        x, y, w, hh = cv2.boundingRect(c)
        if hh < max(0.25 * page_h, 3.0 * ch):
            xa, xb = max(0, x - reach), min(W, x + w + reach)
            top = horiz[max(0, y - reach) : y + 2 + reach, xa:xb].any()
            bottom = horiz[max(0, y + hh - 2 - reach) : y + hh + reach, xa:xb].any()
            if not (top or bottom):
                continue
        cv2.drawContours(out, [c], -1, 1, thickness=-1)
    return cast(np.ndarray, out & vert)


def remove_rulings(mask: np.ndarray, min_frac: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """(mask without rulings, ruling mask)."""
    rulings = find_rulings(mask, min_frac)
    if not rulings.any():
        return mask, rulings
    return mask & ~rulings, rulings


def ruling_rows(rulings: np.ndarray, min_frac: float = 0.25) -> list[tuple[int, int]]:
    """Row spans (y0, y1) of the horizontal rulings at least ``min_frac`` of
    the page wide: box tops and bottoms, form separators, ruled lines. (Rows
    where the ruling mask, summed over three rows to allow for a pixel of
    residual skew, is that long.)"""
    _h, w = rulings.shape
    rows = rulings.sum(axis=1, dtype=np.int64)
    rows3 = rows + np.concatenate([[0], rows[:-1]]) + np.concatenate([rows[1:], [0]])
    on = rows3 >= min_frac * w
    if not on.any():
        return []
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    return [(int(a), int(b)) for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0])]
