"""Page -> deskew -> binarize -> remove rulings and scan artefacts -> lines -> words, in reading order."""

from __future__ import annotations

import cv2
import numpy as np

from .binarize import DEFAULT_METHOD, binarize
from .cleanup import outside_sheet, remove_blots, remove_edge_marks
from .crop import CROP_MARGIN, cut_line
from .deskew import estimate_skew, rotate
from .layout import Box, PageLayout, TextLine
from .lines import segment_lines, segment_words
from .printed import form_template_lines
from .rulings import remove_rulings, ruling_rows


def to_gray_u8(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2GRAY) if img.shape[2] >= 3 else img[:, :, 0]
    if img.dtype != np.uint8:
        img = cv2.normalize(img.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return img


def _unrotate(box: Box, angle: float, w: int, h: int) -> Box:
    if abs(angle) < 1e-6:
        return box
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -angle, 1.0)
    pts = np.array([[box.x0, box.y0, 1], [box.x1, box.y0, 1], [box.x0, box.y1, 1], [box.x1, box.y1, 1]], np.float64) @ m.T
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    return Box(max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1)))


def to_page_box(layout: PageLayout, box: Box) -> Box:
    """A box in deskewed coordinates -> original page coordinates."""
    return _unrotate(box, layout.angle, layout.width, layout.height)


def _small(gray: np.ndarray, side: int = 1000) -> np.ndarray:
    """The page shrunk to at most ``side`` pixels: enough to measure skew, ~8x cheaper to binarize."""
    h, w = gray.shape
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return gray
    return cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)


def segment_page(image: np.ndarray, method: str = DEFAULT_METHOD, deskew: bool = True, skip_printed: bool = True) -> PageLayout:
    """Lines and words of a page, in reading order.

    ``skip_printed``: on a page that mixes machine print with handwriting (a
    form: its template text beside what was written in), the printed lines
    are left out of ``lines`` and listed in ``printed`` (page coordinates). A
    page of print alone, or one that does not split cleanly, is read whole
    (``printed.form_template_lines``)."""
    gray = to_gray_u8(image)
    h, w = gray.shape
    angle = estimate_skew(binarize(_small(gray), method)) if deskew else 0.0
    straight = rotate(gray, angle) if angle else gray
    mask = binarize(straight, method)
    beyond = outside_sheet(gray)  # on the scan as it is: the sheet's edge runs along the image's
    if beyond.any() and angle:
        beyond = rotate(beyond, angle)
    if beyond.any():
        mask = mask & ~beyond
    mask = remove_blots(mask)
    mask, rulings = remove_rulings(mask)
    mask = remove_edge_marks(mask, rotate(np.ones((h, w), bool), angle) if angle else None)
    boxes, masks, ch = segment_lines(mask, barriers=ruling_rows(rulings))
    printed: list[Box] = []
    if skip_printed and boxes:
        flags = form_template_lines(masks)
        if any(flags):
            printed = [_unrotate(b, angle, w, h) for b, f in zip(boxes, flags) if f]
            boxes = [b for b, f in zip(boxes, flags) if not f]
            masks = [m for m, f in zip(masks, flags) if not f]
    lines = []
    for box, mask in zip(boxes, masks):
        words = [Box(b.x0 + box.x0, b.y0 + box.y0, b.x1 + box.x0, b.y1 + box.y0) for b in segment_words(mask, ch)]
        lines.append(TextLine(box, _unrotate(box, angle, w, h), words, [_unrotate(b, angle, w, h) for b in words]))
    return PageLayout(w, h, angle, lines, straight, masks, printed)


def crop_span_to_page(
    width: int, height: int, angle: float, line_box: Box, x0: float, x1: float, margin: int = CROP_MARGIN
) -> Box:
    """A horizontal span ``x0..x1`` in the pixels of a line crop cut by
    :func:`line_crops` (box ``line_box`` in deskewed coordinates, ``margin``
    around it) → the box it covers in original page coordinates, kept within
    the line and at least one pixel wide."""
    b = line_box
    a = min(max(int(b.x0 + x0 - margin), b.x0), b.x1)
    z = int(b.x0 + x1 - margin)
    z = max(b.x0, min(max(z, a + 1), b.x1))
    return _unrotate(Box(a, b.y0, z, b.y1), angle, width, height)


def line_crops(layout: PageLayout, margin: int = CROP_MARGIN) -> list[np.ndarray]:
    """Gray crops of each line from the deskewed page (``crop.cut_line``): ink of
    other lines inside the box is painted over with paper so recognition sees one line only."""
    page = layout.deskewed
    if page is None:
        raise ValueError("line_crops needs the layout's deskewed page")
    return [
        cut_line(page, (b.x0, b.y0, b.x1, b.y1), mask, margin)
        for b, mask in ((ln.box, m) for ln, m in zip(layout.lines, layout.line_masks))
    ]


def draw_overlay(image: np.ndarray, layout: PageLayout) -> np.ndarray:
    """The page with line boxes (blue), word boxes (orange) and skipped printed lines (gray), for a person to check."""
    out = cv2.cvtColor(to_gray_u8(image), cv2.COLOR_GRAY2BGR)
    for b in layout.printed:
        cv2.rectangle(out, (b.x0, b.y0), (b.x1 - 1, b.y1 - 1), (150, 150, 150), 2)
    for i, line in enumerate(layout.lines):
        b = line.page_box
        cv2.rectangle(out, (b.x0, b.y0), (b.x1 - 1, b.y1 - 1), (200, 80, 0), 2)
        cv2.putText(out, str(i + 1), (b.x0, max(12, b.y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 80, 0), 1, cv2.LINE_AA)
        for wb in line.page_words:
            cv2.rectangle(out, (wb.x0, wb.y0), (wb.x1 - 1, wb.y1 - 1), (0, 140, 255), 1)
    return out
