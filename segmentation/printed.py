"""Machine-printed lines: the template text of a form beside its handwriting.

Type repeats its glyphs: at one size two ``e`` of a font are the same pixels
up to scanning noise, while no hand writes a letter twice alike. A line is
printed when at least ``TWIN_SHARE`` of its letter-sized connected components
(and at least ``MIN_GLYPHS`` of them) have a twin in the line: a component of
the same size (±1 px) whose mask overlaps it with IoU ≥ ``TWIN_IOU`` at the
best of the ±1 px shifts.

Measured on generated lines: DejaVu serif, sans and mono at 300-dpi sizes
with blur and noise have twins for 23% (10th percentile) to 71% (median) of
their glyphs; rendered IAM-OnDB and Washington handwriting validation lines
for at most 9% (300 lines, all but one 0%). Components under ``MIN_HEIGHT``
px, and narrow ones (stems of ``i``, ``l``, ``1``, alike in any hand), are too
simple to tell apart and are not counted, so small print is read as writing
rather than skipped.

``form_template_lines`` decides for a page. Lines beside sure print are also
judged by twins in it (type repeats across lines; a short line has too few
glyphs to repeat its own). Printed lines are template text only when the
page splits cleanly: some lines surely print, some surely writing (twins for
under ``WRITTEN_SHARE`` of their glyphs), none in between (lines with too few
glyphs to judge are read either way). A page of type alone, or one with
lines in between (a typeface imitating script, say), is read whole; so is a
typed document with a little handwriting on it (a typed letter and its
signature: more than ``TYPED_PAGE`` printed lines to each written one), whose
type is its content rather than a form's template.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

TWIN_IOU = 0.85
TWIN_SHARE = 0.3
WRITTEN_SHARE = 0.1  # below this a line is surely handwriting; between the two, unsure
MIN_GLYPHS = 8
MIN_GLYPHS_BESIDE_PRINT = 3  # a line judged against the page's sure print needs fewer
MIN_HEIGHT = 10
TYPED_PAGE = 3  # printed lines per written line above which the print is the document, not a template


def _glyphs(mask: np.ndarray) -> list[np.ndarray]:
    """Masks of the letter-sized connected components of a line (dots and specks left out)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return []
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    areas = stats[1:, cv2.CC_STAT_AREA]
    sized = heights[areas >= 4]
    if not sized.size:
        return []
    floor = max(MIN_HEIGHT, 0.5 * float(np.median(sized)))
    out = []
    for k in range(1, n):
        x, y, w, h, a = stats[k]
        if h >= floor and a >= 12 and w >= 0.4 * h:  # stems (i, l, 1) twin in any hand
            out.append(labels[y : y + h, x : x + w] == k)
    return out


def _twins(a: np.ndarray, b: np.ndarray) -> bool:
    (ha, wa), (hb, wb) = a.shape, b.shape
    H, W = max(ha, hb) + 2, max(wa, wb) + 2
    pa = np.zeros((H, W), bool)
    pa[1 : ha + 1, 1 : wa + 1] = a
    need = TWIN_IOU * (int(a.sum()) + int(b.sum())) / (1.0 + TWIN_IOU)  # IoU >= t <=> overlap >= t (|A|+|B|) / (1+t)
    for dy in (0, -1, 1):
        for dx in (0, -1, 1):
            pb = np.zeros((H, W), bool)
            pb[1 + dy : hb + 1 + dy, 1 + dx : wb + 1 + dx] = b
            if int((pa & pb).sum()) >= need:
                return True
    return False


def _twin_flags(glyphs: list[np.ndarray], pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Per glyph, whether it has a twin among the others or in ``pool``."""
    n = len(glyphs)
    every = list(glyphs) + list(pool)
    if n == 0 or len(every) < 2:
        return np.zeros(n, bool)
    shapes = np.array([g.shape for g in every])
    twin = np.zeros(len(every), bool)
    for i in range(n):
        if twin[i]:
            continue
        close = np.nonzero((np.abs(shapes[:, 0] - shapes[i, 0]) <= 1) & (np.abs(shapes[:, 1] - shapes[i, 1]) <= 1))[0]
        for j in close:
            if j != i and _twins(every[i], every[j]):
                twin[i] = twin[j] = True
                break
    return twin[:n]


def glyph_twin_share(mask: np.ndarray) -> tuple[float, int]:
    """(share of glyphs with a twin in the line, number of glyphs)."""
    glyphs = _glyphs(mask)
    return (float(_twin_flags(glyphs).mean()) if glyphs else 0.0), len(glyphs)


def _sure_print(share: float, n: int) -> bool:
    return n >= MIN_GLYPHS and share >= TWIN_SHARE


def is_printed(mask: np.ndarray) -> bool:
    """Whether a line's ink mask is machine print (see the module notes)."""
    return _sure_print(*glyph_twin_share(mask))


def form_template_lines(masks: list[np.ndarray]) -> list[bool]:
    """Per line, whether to leave it out as a form's printed template text."""
    glyphs = [_glyphs(m) for m in masks]
    shares = [float(_twin_flags(g).mean()) if g else 0.0 for g in glyphs]
    printed = [_sure_print(sh, len(g)) for g, sh in zip(glyphs, shares)]
    if not any(printed):
        return [False] * len(masks)
    # Type repeats across lines too: a short printed line (a label, the end of
    # a paragraph) finds its glyphs' twins in the sure print of the page.
    pool = [x for g, p in zip(glyphs, printed) if p for x in g]
    for i, g in enumerate(glyphs):
        if not printed[i] and len(g) >= MIN_GLYPHS_BESIDE_PRINT:
            printed[i] = float(_twin_flags(g, pool).mean()) >= TWIN_SHARE
    written = [len(g) >= MIN_GLYPHS and sh < WRITTEN_SHARE and not p for g, sh, p in zip(glyphs, shares, printed)]
    unsure = [len(g) >= MIN_GLYPHS and not p and not w for g, p, w in zip(glyphs, printed, written)]
    if any(written) and not any(unsure) and sum(printed) <= TYPED_PAGE * sum(written):
        return printed
    return [False] * len(masks)
