"""Text lines and words from a clean binary page (ink = True, deskewed).

Lines: the horizontal projection of the ink, smoothed at the scale of the
writing, peaks at line centres. Every connected component goes to the line
whose centre is nearest its ink centroid; a component that reaches across a
valley into the next line's core (a descender touching an ascender) is cut at
the valley. Words: gaps in a line's column profile wider than a threshold
chosen from the line's own gap distribution (two-class Otsu), never below a
fraction of the writing's height.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from .layout import Box

DOT_MIN_AREA = 4  # px: smaller components are scan noise, not ink
TALL_LINES = 3  # a component through the centres of this many lines is no line's writing


Components = tuple[int, np.ndarray, np.ndarray, np.ndarray]  # count, labels, stats, centroids


def components(mask: np.ndarray) -> Components:
    """8-connected components of a mask: (count, labels, stats, centroids)."""
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return n, labels, stats, centroids


def text_height(stats: np.ndarray) -> float:
    """Typical height of a written component: the median over non-speck
    components, but at least half the area-weighted median height. Faint,
    broken strokes make many specks (the plain median collapses to a few
    pixels, and lines split) but little ink, so the weighted median, which
    words and letters dominate, keeps the estimate at the writing's scale."""
    if len(stats) <= 1:
        return 0.0
    hs = stats[1:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = hs[areas >= max(8, np.percentile(areas, 30))]
    plain = float(np.median(big if big.size else hs))
    order = np.argsort(hs)
    cum = np.cumsum(areas[order].astype(np.float64))
    weighted = float(hs[order][np.searchsorted(cum, 0.5 * cum[-1])])
    return max(plain, 0.5 * weighted)


def _smooth(profile: np.ndarray, sigma: float) -> np.ndarray:
    k = int(max(3, round(sigma * 6))) | 1
    return cast(np.ndarray, cv2.GaussianBlur(profile.reshape(-1, 1).astype(np.float32), (1, k), sigma).ravel())


def centres_from_profile(profile: np.ndarray, ch: float) -> list[int]:
    """Line centres from the ink count per row (peaks at the scale of the writing)."""
    sm = _smooth(profile, max(1.0, ch / 3.0))
    if sm.max() <= 0:
        return []
    min_dist = max(3, int(ch * 0.9))
    thr = 0.06 * sm.max()
    cand = [y for y in range(1, len(sm) - 1) if sm[y] >= thr and sm[y] >= sm[y - 1] and sm[y] > sm[y + 1]]
    # Non-maximum suppression within min_dist, strongest first.
    chosen: list[int] = []
    for y in sorted(cand, key=lambda y: -sm[y]):
        if all(abs(y - c) >= min_dist for c in chosen):
            chosen.append(y)
    chosen.sort()
    # Merge peaks that have no real valley between them (one line's two humps).
    merged: list[int] = []
    for y in chosen:
        if merged:
            prev = merged[-1]
            valley = sm[prev:y].min()
            if valley > 0.6 * min(sm[prev], sm[y]):
                if sm[y] > sm[prev]:
                    merged[-1] = y
                continue
        merged.append(y)
    return merged


def _barrier_cuts(barriers: Sequence[tuple[int, int]], stats: np.ndarray, keep: np.ndarray, h: int) -> list[int]:
    """Rows of the horizontal rulings that separate lines (form boxes): those
    that no more than two pieces of writing cross. On ruled notebook paper
    the descenders cross the rulings, so those rulings are not cuts."""
    if ruled_paper(barriers):
        return []
    tops = stats[:, cv2.CC_STAT_TOP]
    bottoms = tops + stats[:, cv2.CC_STAT_HEIGHT]
    cuts = []
    for y0, y1 in barriers:
        crossing = int(np.count_nonzero(keep & (tops < y0 - 2) & (bottoms > y1 + 2)))
        if crossing <= 2 and 0 < (y0 + y1) // 2 < h:
            cuts.append((y0 + y1) // 2)
    return sorted(set(cuts))


def ruled_paper(barriers: Sequence[tuple[int, int]], min_rules: int = 5, spread: float = 0.15) -> bool:
    """Rulings evenly spaced down the page (ruled writing paper, a printed lined form): writing
    sits on them and crosses them, so they guide lines rather than part them. (Removing a rule
    cuts the strokes that cross it, so crossings cannot be counted on the cleaned page.)"""
    if len(barriers) < min_rules:
        return False
    centres = np.array([(a + b) / 2.0 for a, b in barriers])
    gaps = np.diff(centres)
    gaps = gaps[gaps > 0.3 * np.median(gaps)]  # a rule seen twice (both edges of a thick one)
    if len(gaps) < min_rules - 1:
        return False
    med = float(np.median(gaps))
    return float(np.median(np.abs(gaps - med))) <= spread * med


@dataclass
class _Ink:
    """A binary page as connected components, and its ink pixels (a few
    percent of the page) with the component each belongs to."""

    height: int
    width: int
    n: int  # components, background (0) included
    stats: np.ndarray
    centroids: np.ndarray
    keep: np.ndarray  # components large enough to place lines
    ch: float  # text height
    min_area: int
    ys: np.ndarray  # ink pixels' rows
    xs: np.ndarray  # ... columns
    component: np.ndarray  # ... components

    @classmethod
    def of(cls, mask: np.ndarray, min_area: int | None, cc: Components | None = None) -> _Ink | None:
        h, w = mask.shape
        n, labels, stats, centroids = cc if cc is not None else components(mask)
        if n <= 1:
            return None
        ch = text_height(stats)
        min_area = min_area if min_area is not None else max(4, int((ch / 6.0) ** 2))
        keep = np.zeros(n, bool)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
        flat = np.flatnonzero(mask)  # (3x faster than np.nonzero on a page)
        ys, xs = np.divmod(flat, w)
        return cls(h, w, n, stats, centroids, keep, ch, min_area, ys, xs, labels.ravel()[flat])


def _line_centres(ink: _Ink, cuts: list[int]) -> tuple[list[int], list[int]]:
    """Line centres from the row profile of each band between ``cuts``, and
    the first row of each line's slice of the page (the valley above it)."""
    rows = np.bincount(ink.ys[ink.keep[ink.component]], minlength=ink.height).astype(np.float32)
    edges = [0] + cuts + [ink.height]
    centres: list[int] = []
    starts: list[int] = []
    profile = _smooth(rows, max(1.0, ink.ch / 4.0))
    for a, b in zip(edges[:-1], edges[1:]):
        cs = [a + c for c in centres_from_profile(rows[a:b], ink.ch)] if b - a > 2 else []
        if cs:
            # Between consecutive centres: the emptiest row (the valley).
            starts += [a] + [int(p + np.argmin(profile[p:q])) for p, q in zip(cs[:-1], cs[1:])]
            centres += cs
    return centres, starts


def _assign_components(ink: _Ink, centres: list[int], cuts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each kept component's line (the nearest centre in its own band), and
    whether it reaches into another line's core band (to be cut at the valleys).
    A component through ``TALL_LINES`` line centres or more (the edge of another sheet,
    a rule down the margin, a bracket drawn beside a paragraph) belongs to none (-1)."""
    centres_arr = np.array(centres, np.float64)
    cut_rows = np.array(cuts)
    band_of_centre = np.searchsorted(cut_rows, centres_arr, side="right")
    ch, stats = ink.ch, ink.stats
    line_of = np.full(ink.n, -1, np.int64)
    split = np.zeros(ink.n, bool)
    for i in range(1, ink.n):
        if not ink.keep[i]:
            continue
        cy = ink.centroids[i][1]
        d = np.abs(centres_arr - cy)
        if cuts:
            same = band_of_centre == np.searchsorted(cut_rows, cy, side="right")
            if same.any():
                d = np.where(same, d, np.inf)
        line = int(np.argmin(d))
        line_of[i] = line
        top = stats[i, cv2.CC_STAT_TOP]
        bottom = top + stats[i, cv2.CC_STAT_HEIGHT]
        crossed = [c for c in centres if top < c < bottom]
        if len(crossed) >= TALL_LINES:  # a page border, a margin's rule, a bracket: not one line's writing
            line_of[i] = -1
        elif any(top < c - 0.25 * ch and c != centres[line] for c in crossed) and stats[i, cv2.CC_STAT_HEIGHT] > 1.8 * ch:
            split[i] = True
    return line_of, split


def _extents(
    ink: _Ink, pixel_line: np.ndarray, n_lines: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per line: ink pixel count and bounding box (x0, y0, x1, y1)."""
    on = pixel_line >= 0
    li, y, x = pixel_line[on], ink.ys[on], ink.xs[on]
    count = np.bincount(li, minlength=n_lines)
    x0 = np.full(n_lines, ink.width)
    y0 = np.full(n_lines, ink.height)
    x1 = np.zeros(n_lines, np.int64)
    y1 = np.zeros(n_lines, np.int64)
    np.minimum.at(x0, li, x)
    np.minimum.at(y0, li, y)
    np.maximum.at(x1, li, x + 1)
    np.maximum.at(y1, li, y + 1)
    return count, x0, y0, x1, y1


def _attach_small(
    ink: _Ink,
    pixel_line: np.ndarray,
    line_ids: np.ndarray,
    centres: list[int],
    extents: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Dots, periods, commas and the fragments of faint strokes are too small
    to place lines but belong to the text: each joins the line whose box
    (grown by half a text height) holds its centre, nearest centre first.
    Single-pixel noise stays out."""
    small = np.nonzero(~ink.keep & (ink.stats[:, cv2.CC_STAT_AREA] >= DOT_MIN_AREA))[0]
    small = small[small > 0]
    if not len(small) or not len(line_ids):
        return pixel_line
    _count, x0, y0, x1, y1 = extents
    centres_arr = np.array(centres, np.float64)
    gy, gx = 0.5 * ink.ch, 1.0 * ink.ch
    cx, cy = ink.centroids[small, 0][:, None], ink.centroids[small, 1][:, None]
    inside = (
        (cx >= x0[line_ids][None, :] - gx)
        & (cx <= x1[line_ids][None, :] + gx)
        & (cy >= y0[line_ids][None, :] - gy)
        & (cy <= y1[line_ids][None, :] + gy)
    )
    dist = np.where(inside, np.abs(cy - centres_arr[line_ids][None, :]), np.inf)
    best = np.argmin(dist, axis=1)
    ok = np.isfinite(dist[np.arange(len(small)), best])
    small_line = np.full(ink.n, -1, np.int64)
    small_line[small[ok]] = line_ids[best[ok]]
    hit = small_line[ink.component]
    return np.where(hit >= 0, hit, pixel_line)


def _boxes_and_masks(
    ink: _Ink,
    pixel_line: np.ndarray,
    line_ids: np.ndarray,
    extents: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[list[Box], list[np.ndarray]]:
    _count, x0, y0, x1, y1 = extents
    on = np.isin(pixel_line, line_ids)
    order = np.argsort(pixel_line[on], kind="stable")
    py, px, pl = ink.ys[on][order], ink.xs[on][order], pixel_line[on][order]
    firsts = np.searchsorted(pl, line_ids, side="left")
    ends = np.searchsorted(pl, line_ids, side="right")
    boxes, masks = [], []
    for li, a, b in zip(line_ids, firsts, ends):
        box = Box(int(x0[li]), int(y0[li]), int(x1[li]), int(y1[li]))
        m = np.zeros((box.height, box.width), bool)
        m[py[a:b] - box.y0, px[a:b] - box.x0] = True
        boxes.append(box)
        masks.append(m)
    return boxes, masks


def segment_lines(
    mask: np.ndarray, min_area: int | None = None, barriers: Sequence[tuple[int, int]] = (), cc: Components | None = None
) -> tuple[list[Box], list[np.ndarray], float]:
    """-> (line boxes top to bottom, per-line ink mask inside each box, text height).

    ``barriers``: row spans of removed horizontal rulings; those writing does
    not cross (box edges) split the page into bands, and lines are found in
    each band on its own, so a short line alone in its box is not outshone
    by its neighbours, and no line reaches across a box edge. ``cc``: the mask's
    ``components``, where the caller has them already.
    """
    ink = _Ink.of(mask, min_area, cc)
    if ink is None:
        return [], [], 0.0
    cuts = _barrier_cuts(barriers, ink.stats, ink.keep, ink.height)
    centres, starts = _line_centres(ink, cuts)
    if not centres:
        return [], [], ink.ch
    line_of, split = _assign_components(ink, centres, cuts)
    pixel_line = line_of[ink.component]
    if split.any():  # components reaching into another line's core: cut at the valleys
        row_line = np.searchsorted(np.array(starts[1:]), np.arange(ink.height), side="right")
        cut = split[ink.component]
        pixel_line[cut] = row_line[ink.ys[cut]]
    extents = _extents(ink, pixel_line, len(centres))
    count, _x0, y0, _x1, y1 = extents
    # Lines written with real strokes (not a stray dot between lines).
    line_ids = np.nonzero((count >= max(1, 3 * ink.min_area)) & ((y1 - y0) >= 0.3 * ink.ch))[0]
    attached = _attach_small(ink, pixel_line, line_ids, centres, extents)
    if attached is not pixel_line:
        pixel_line = attached
        extents = _extents(ink, pixel_line, len(centres))
    boxes, masks = _boxes_and_masks(ink, pixel_line, line_ids, extents)
    kept = [i for i, m in enumerate(masks) if not ruling_remnant(m, ink.ch) and not drawn_stroke(m, ink.ch)]
    return [boxes[i] for i in kept], [masks[i] for i in kept], ink.ch


def ruling_remnant(mask: np.ndarray, ch: float) -> bool:
    """A line that is what ruling removal left of a printed rule (a broken or bowed stretch of
    it): wide, with most of its ink in a band a few pixels high. Writing spreads over its
    x-height and beyond."""
    h, w = mask.shape
    total = int(mask.sum())
    if w < 3 * ch or total == 0:
        return False
    band = max(3, int(round(0.2 * ch)))
    rows = mask.sum(axis=1).astype(np.int64)
    densest = int(np.convolve(rows, np.ones(band, np.int64), mode="valid").max()) if h >= band else total
    return densest >= 0.7 * total


STROKE_RUNS = 1.1  # ink runs down an inked column: writing crosses itself (o, e, loops), a drawn stroke does not


def drawn_stroke(mask: np.ndarray, ch: float) -> bool:
    """A line that is a stroke drawn across the page (an underline, a flourish closing a
    paragraph, a line struck through a blank): at least four text heights wide, crossed once
    down almost every column of its ink (where writing's loops and letters cross two or more),
    thin (a pen's width) and one or two strokes (a line of writing is words)."""
    w = mask.shape[1]
    if w < 4 * ch:
        return False
    m = mask.astype(np.int8)
    starts = (np.diff(m, axis=0, prepend=0) == 1).sum(axis=0)
    inked = starts > 0
    if not inked.any() or float(starts[inked].mean()) >= STROKE_RUNS:
        return False
    if float(mask.sum(axis=0)[inked].mean()) >= 0.4 * ch:  # solid ink, not a pen's width
        return False
    _n, _labels, stats, _ = components(mask)
    return int((stats[1:, cv2.CC_STAT_WIDTH] >= 2 * ch).sum()) <= 2  # one or two strokes, not words


def _otsu_1d(values: np.ndarray) -> float:
    v = np.sort(values.astype(np.float64))
    best_t, best = v[0], -1.0
    for i in range(1, len(v)):
        a, b = v[:i], v[i:]
        score = len(a) * len(b) * (a.mean() - b.mean()) ** 2
        if score > best:
            best, best_t = score, (v[i - 1] + v[i]) / 2.0
    return cast(float, best_t)


def segment_words(line_mask: np.ndarray, ch: float) -> list[Box]:
    """Word boxes inside one line (coordinates relative to the line's box)."""
    cols: np.ndarray = np.asarray(line_mask.any(axis=0))
    if not cols.any():
        return []
    xs = np.nonzero(cols)[0]
    gaps = []  # (start, end) of empty column runs inside the ink
    start = None
    for x in range(xs[0], xs[-1] + 1):
        if not cols[x] and start is None:
            start = x
        elif cols[x] and start is not None:
            gaps.append((start, x))
            start = None
    min_gap = max(2.0, 0.35 * ch)
    widths = np.array([b - a for a, b in gaps], np.float64)
    if len(widths) >= 3:
        thr = max(min_gap, _otsu_1d(widths))
        # A line of one word: all gaps are letter gaps.
        if widths.max() < 1.6 * np.median(widths) and widths.max() < 0.8 * ch:
            thr = widths.max() + 1
    else:
        thr = max(min_gap, 0.6 * ch)
    cuts = [(a, b) for a, b in gaps if (b - a) >= thr]
    words = []
    x_start = xs[0]
    for a, b in cuts + [(xs[-1] + 1, None)]:
        seg = line_mask[:, x_start:a]
        rows = np.nonzero(seg.any(axis=1))[0]
        if len(rows):
            words.append(Box(int(x_start), int(rows[0]), int(a), int(rows[-1]) + 1))
        if b is not None:
            x_start = b
    return words
