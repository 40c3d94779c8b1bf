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

import cv2
import numpy as np

from .layout import Box

DOT_MIN_AREA = 4  # px: smaller components are scan noise, not ink


def components(mask: np.ndarray):
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
    return cv2.GaussianBlur(profile.reshape(-1, 1).astype(np.float32), (1, k), sigma).ravel()


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


def _barrier_cuts(barriers, stats, keep, h: int) -> list[int]:
    """Rows of the horizontal rulings that separate lines (form boxes): those
    that no more than two pieces of writing cross. On ruled notebook paper
    the descenders cross the rulings, so those rulings are not cuts."""
    tops = stats[:, cv2.CC_STAT_TOP]
    bottoms = tops + stats[:, cv2.CC_STAT_HEIGHT]
    cuts = []
    for y0, y1 in barriers:
        crossing = int(np.count_nonzero(keep & (tops < y0 - 2) & (bottoms > y1 + 2)))
        if crossing <= 2 and 0 < (y0 + y1) // 2 < h:
            cuts.append((y0 + y1) // 2)
    return sorted(set(cuts))


def segment_lines(
    mask: np.ndarray, min_area: int | None = None, barriers: Sequence[tuple[int, int]] = ()
) -> tuple[list[Box], list[np.ndarray], float]:
    """-> (line boxes top to bottom, per-line ink mask inside each box, text height).

    ``barriers``: row spans of removed horizontal rulings; those writing does
    not cross (box edges) split the page into bands, and lines are found in
    each band on its own, so a short line alone in its box is not outshone
    by its neighbours, and no line reaches across a box edge.
    """
    h, w = mask.shape
    n, labels, stats, centroids = components(mask)
    if n <= 1:
        return [], [], 0.0
    ch = text_height(stats)
    min_area = min_area if min_area is not None else max(4, int((ch / 6.0) ** 2))
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    # From here on, work on the ink pixels only (a few percent of the page).
    flat = np.flatnonzero(mask)  # (3x faster than np.nonzero on a page)
    ys, xs = np.divmod(flat, w)
    lab = labels.ravel()[flat]
    rows = np.bincount(ys[keep[lab]], minlength=h).astype(np.float32)
    cuts = _barrier_cuts(barriers, stats, keep, h)
    edges = [0] + cuts + [h]
    centres: list[int] = []
    starts: list[int] = []  # first row of each line's slice of the page
    profile = _smooth(rows, max(1.0, ch / 4.0))
    for a, b in zip(edges[:-1], edges[1:]):
        cs = [a + c for c in centres_from_profile(rows[a:b], ch)] if b - a > 2 else []
        if cs:
            # Between consecutive centres: the emptiest row (the valley).
            starts += [a] + [int(p + np.argmin(profile[p:q])) for p, q in zip(cs[:-1], cs[1:])]
            centres += cs
    if not centres:
        return [], [], ch
    centres_arr = np.array(centres, np.float64)
    cut_rows = np.array(cuts)
    band_of_centre = np.searchsorted(cut_rows, centres_arr, side="right")

    assign = np.full(n, -1, np.int64)
    split = np.zeros(n, bool)
    for i in range(1, n):
        if not keep[i]:
            continue
        cy = centroids[i][1]
        d = np.abs(centres_arr - cy)
        if cuts:  # the nearest centre in the component's own band, if it has one
            same = band_of_centre == np.searchsorted(cut_rows, cy, side="right")
            if same.any():
                d = np.where(same, d, np.inf)
        line = int(np.argmin(d))
        assign[i] = line
        top = stats[i, cv2.CC_STAT_TOP]
        bottom = top + stats[i, cv2.CC_STAT_HEIGHT]
        # Reaches into another line's core band: cut it at the valleys.
        if (
            any(top < c - 0.25 * ch and c != centres[line] for c in centres if top < c < bottom)
            and stats[i, cv2.CC_STAT_HEIGHT] > 1.8 * ch
        ):
            split[i] = True

    line_px = assign[lab]
    if split.any():
        row_line = np.searchsorted(np.array(starts[1:]), np.arange(h), side="right")
        sp = split[lab]
        line_px[sp] = row_line[ys[sp]]
    nl = len(centres)

    def extents(line_px):
        on = line_px >= 0
        li, y, x = line_px[on], ys[on], xs[on]
        count = np.bincount(li, minlength=nl)
        x0 = np.full(nl, w)
        y0 = np.full(nl, h)
        x1 = np.zeros(nl, np.int64)
        y1 = np.zeros(nl, np.int64)
        np.minimum.at(x0, li, x)
        np.minimum.at(y0, li, y)
        np.maximum.at(x1, li, x + 1)
        np.maximum.at(y1, li, y + 1)
        return count, x0, y0, x1, y1

    count, x0, y0, x1, y1 = extents(line_px)
    # Lines written with real strokes (not a stray dot between lines).
    real = (count >= max(1, 3 * min_area)) & ((y1 - y0) >= 0.3 * ch)
    lis = np.nonzero(real)[0]
    # Dots, periods, commas and the fragments of faint strokes are too small
    # to place lines but belong to the text: each joins the line whose box
    # (grown by half a text height) holds its centre, nearest centre first.
    # Single-pixel noise stays out.
    small = np.nonzero(~keep & (stats[:, cv2.CC_STAT_AREA] >= DOT_MIN_AREA))[0]
    small = small[small > 0]
    if len(small) and len(lis):
        gy, gx = 0.5 * ch, 1.0 * ch
        cx, cy = centroids[small, 0][:, None], centroids[small, 1][:, None]
        inside = (
            (cx >= x0[lis][None, :] - gx)
            & (cx <= x1[lis][None, :] + gx)
            & (cy >= y0[lis][None, :] - gy)
            & (cy <= y1[lis][None, :] + gy)
        )
        dist = np.where(inside, np.abs(cy - centres_arr[lis][None, :]), np.inf)
        best = np.argmin(dist, axis=1)
        ok = np.isfinite(dist[np.arange(len(small)), best])
        assign_small = np.full(n, -1, np.int64)
        assign_small[small[ok]] = lis[best[ok]]
        hit = assign_small[lab]
        line_px = np.where(hit >= 0, hit, line_px)
        count, x0, y0, x1, y1 = extents(line_px)
    on = np.isin(line_px, lis)
    order = np.argsort(line_px[on], kind="stable")
    py, px, pl = ys[on][order], xs[on][order], line_px[on][order]
    firsts = np.searchsorted(pl, lis, side="left")
    ends = np.searchsorted(pl, lis, side="right")
    boxes, masks = [], []
    for li, a, b in zip(lis, firsts, ends):
        box = Box(int(x0[li]), int(y0[li]), int(x1[li]), int(y1[li]))
        m = np.zeros((box.height, box.width), bool)
        m[py[a:b] - box.y0, px[a:b] - box.x0] = True
        boxes.append(box)
        masks.append(m)
    return boxes, masks, ch


def _otsu_1d(values: np.ndarray) -> float:
    v = np.sort(values.astype(np.float64))
    best_t, best = v[0], -1.0
    for i in range(1, len(v)):
        a, b = v[:i], v[i:]
        score = len(a) * len(b) * (a.mean() - b.mean()) ** 2
        if score > best:
            best, best_t = score, (v[i - 1] + v[i]) / 2.0
    return best_t


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
