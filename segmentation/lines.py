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

import cv2
import numpy as np

from .layout import Box


def _components(mask: np.ndarray):
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return n, labels, stats, centroids


def text_height(stats: np.ndarray) -> float:
    """Typical height of a written component (median over non-speck components)."""
    if len(stats) <= 1:
        return 0.0
    hs = stats[1:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = hs[areas >= max(8, np.percentile(areas, 30))]
    return float(np.median(big if big.size else hs))


def _smooth(profile: np.ndarray, sigma: float) -> np.ndarray:
    k = int(max(3, round(sigma * 6))) | 1
    return cv2.GaussianBlur(profile.reshape(-1, 1).astype(np.float32), (1, k), sigma).ravel()


def line_pitch(profile: np.ndarray, ch: float) -> float:
    """Typical distance between text lines: the strongest autocorrelation
    period of the row profile between one and eight text heights (0 if none)."""
    p = profile.astype(np.float64) - profile.mean()
    n = len(p)
    if n < 8 or not p.any():
        return 0.0
    f = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    ac /= ac[0] if ac[0] else 1.0
    lo, hi = int(max(4, ch)), int(min(n // 2, 8 * max(ch, 4)))
    if hi <= lo + 2:
        return 0.0
    seg = ac[lo:hi]
    peaks = [i for i in range(1, len(seg) - 1) if seg[i] >= seg[i - 1] and seg[i] > seg[i + 1] and seg[i] > 0.2]
    if not peaks:
        return 0.0
    # The fundamental: the first peak nearly as strong as the strongest (later
    # ones are its multiples; weaker earlier ones are bands inside a line).
    best = max(seg[i] for i in peaks)
    return float(lo + next(i for i in peaks if seg[i] >= 0.75 * best))


def find_line_centres(mask: np.ndarray, ch: float) -> list[int]:
    profile = mask.sum(axis=1).astype(np.float32)
    sm = _smooth(profile, max(1.0, ch / 3.0))
    if sm.max() <= 0:
        return []
    # Fragmented (faint) writing makes components, and so `ch`, small; the
    # line pitch keeps one line from splitting into two.
    min_dist = max(3, int(ch * 0.9), int(0.55 * line_pitch(sm, ch)))
    thr = 0.12 * sm.max()
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


def segment_lines(mask: np.ndarray, min_area: int | None = None) -> tuple[list[Box], list[np.ndarray], float]:
    """-> (line boxes top to bottom, per-line ink mask inside each box, text height)."""
    h, w = mask.shape
    n, labels, stats, centroids = _components(mask)
    if n <= 1:
        return [], [], 0.0
    ch = text_height(stats)
    min_area = min_area if min_area is not None else max(4, int((ch / 6.0) ** 2))
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    clean = keep[labels]
    centres = find_line_centres(clean, ch)
    if not centres:
        return [], [], ch
    centres_arr = np.array(centres, np.float64)
    # Valleys between consecutive centres: the emptiest row between them.
    profile = _smooth(clean.sum(axis=1).astype(np.float32), max(1.0, ch / 4.0))
    valleys = [int(a + np.argmin(profile[a:b])) for a, b in zip(centres[:-1], centres[1:])]
    bounds = np.array([0] + [v for v in valleys] + [h])

    assign = np.full(n, -1, np.int64)
    split = np.zeros(n, bool)
    for i in range(1, n):
        if not keep[i]:
            continue
        cy = centroids[i][1]
        line = int(np.argmin(np.abs(centres_arr - cy)))
        assign[i] = line
        top = stats[i, cv2.CC_STAT_TOP]
        bottom = top + stats[i, cv2.CC_STAT_HEIGHT]
        # Reaches into another line's core band: cut it at the valleys.
        if any(top < c - 0.25 * ch and c != centres[line] for c in centres if top < c < bottom) and \
                stats[i, cv2.CC_STAT_HEIGHT] > 1.8 * ch:
            split[i] = True

    line_of_pixel = assign[labels]
    if split.any():
        rows = np.arange(h)
        row_line = np.searchsorted(bounds[1:-1], rows, side="right")
        sp = split[labels]
        line_of_pixel[sp] = np.broadcast_to(row_line[:, None], (h, w))[sp]
    boxes, masks = [], []
    for li in range(len(centres)):
        ys, xs = np.nonzero(line_of_pixel == li)
        if len(ys) == 0:
            continue
        box = Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        if box.height < 0.3 * ch or len(ys) < 3 * min_area:
            continue  # a stray dot between lines, not a line
        boxes.append(box)
        masks.append((line_of_pixel[box.y0 : box.y1, box.x0 : box.x1] == li))
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
    cols = line_mask.any(axis=0)
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
