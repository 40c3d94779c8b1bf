"""Page skew: the angle whose horizontal projections of the ink, band by band, are sharpest."""

from __future__ import annotations

import cv2
import numpy as np

BANDS = 4  # the page's rows in this many bands, each voting for its own sharpest angle
APART = 1.5  # degrees: the bands' vote overrules the whole page's sharpest angle when this far from it


def estimate_skew(mask: np.ndarray, max_angle: float = 6.0, step: float = 0.25) -> float:
    """Skew angle in degrees (positive: text rises to the right... as cv2 rotates).

    The angle whose row profile of the whole page is sharpest, unless the bands disagree: each of
    ``BANDS`` horizontal bands scores every angle by the sharpness of its own row profile, relative
    to its best, and the angle with the most ink behind it wins where it lies ``APART`` or more from
    the whole page's. A letterhead printed straight above a letter written askew is one band's
    vote, not the page's; a register's rulings and print still set its angle."""
    h, w = mask.shape
    scale = min(1.0, 1000.0 / max(h, w))
    small = cv2.resize(
        mask.astype(np.uint8) * 255, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA
    )
    if small.max() == 0:
        return 0.0
    sh, sw = small.shape
    centre = (sw / 2.0, sh / 2.0)
    edges = np.linspace(0, sh, BANDS + 1).round().astype(int)
    rows = small.sum(axis=1, dtype=np.float64)
    ink = np.array([rows[p:q].sum() for p, q in zip(edges[:-1], edges[1:])])
    weight = np.where(ink >= 0.05 * ink.sum(), ink, 0.0)

    def sharpness(angle: float) -> np.ndarray:
        m = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
        rot = cv2.warpAffine(small, m, (sw, sh), flags=cv2.INTER_NEAREST)
        steps = np.square(np.diff(rot.sum(axis=1, dtype=np.float64)))
        return np.array([steps[p : max(p, q - 1)].sum() for p, q in zip(edges[:-1], edges[1:])])

    def by_bands(scores: dict[float, np.ndarray]) -> float:
        table = np.array(list(scores.values()))
        top = np.maximum(table.max(axis=0), 1e-9)
        votes = (table / top) @ weight
        return list(scores)[int(np.argmax(votes))]

    def whole(scores: dict[float, np.ndarray]) -> float:
        return max(scores, key=lambda a: float(scores[a].sum()))

    # Coarse to fine: every 2 steps over the range, then the steps around the
    # best (the sharpness peak of a page of lines is wider than 2 steps).
    coarse = np.arange(-max_angle, max_angle + 1e-9, 2 * step)
    scores = {float(a): sharpness(a) for a in coarse}
    for first in {whole(scores), by_bands(scores)}:
        for a in (first - step, first + step):
            if -max_angle - 1e-9 <= a <= max_angle + 1e-9 and float(a) not in scores:
                scores[float(a)] = sharpness(a)
    page, bands = whole(scores), by_bands(scores)
    # The whole page's sharpest profile (rulings, a register's print and its rows weigh in), unless
    # the bands' vote is far from it: then print in one band holds the page against its writing.
    return bands if abs(bands - page) >= APART else page


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
