"""Page -> deskew -> binarize -> remove rulings and scan artefacts -> (a register's table) -> lines -> words, in reading order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import cv2
import numpy as np

from .binarize import DEFAULT_METHOD, binarize
from .cleanup import outside_sheet, remove_blots, remove_edge_marks
from .crop import CROP_MARGIN, cut_line
from .deskew import estimate_skew, rotate
from .layout import Box, PageLayout, TextLine
from .lines import components, segment_lines, segment_words, text_height
from .printed import form_template_lines
from .rulings import remove_rulings, ruling_rows
from .table import Table, assign_rows, column_masks, detect_table, make_cells, trim_line


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
    return cast(np.ndarray, cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA))


def segment_page(
    image: np.ndarray, method: str = DEFAULT_METHOD, deskew: bool = True, skip_printed: bool = True, tables: bool = True
) -> PageLayout:
    """Lines and words of a page, in reading order.

    ``skip_printed``: on a page that mixes machine print with handwriting (a
    form: its template text beside what was written in), the printed lines
    are left out of ``lines`` and listed in ``printed`` (page coordinates). A
    page of print alone, or one that does not split cleanly, is read whole
    (``printed.form_template_lines``).

    ``tables``: a register's table (``table.detect_table``: columns, ruled or
    told by the gaps in the writing, under a printed header) is looked for;
    where there is one, lines are found in each of its columns on their own,
    the printed header band is left out of ``lines``
    (``printed_ocr.read_header`` reads it), and ``table`` says which lines
    make each cell."""
    gray = to_gray_u8(image)
    h, w = gray.shape
    angle, straight, inked, mask, rulings = _clean_page(gray, method, deskew)
    table, page_ch, cc = None, 0.0, None
    if tables:
        cc = components(mask)
        page_ch = text_height(cc[2])
        table = detect_table(inked, mask, page_ch) if page_ch > 0 else None
    cells: list[tuple[Box, np.ndarray, int]] = []  # the table's lines with their columns
    if table is not None:
        cells = _table_cells(table, mask, rulings, page_ch)
        t = table.box
        mask = mask.copy()
        mask[t.y0 : t.y1, t.x0 : t.x1] = False  # the rest of the page is read as usual
        cc = None
    boxes, masks, ch = segment_lines(mask, barriers=ruling_rows(rulings), cc=cc)
    printed: list[Box] = []
    if skip_printed and boxes:
        flags = form_template_lines(masks)
        if any(flags):
            printed = [_unrotate(b, angle, w, h) for b, f in zip(boxes, flags) if f]
            boxes = [b for b, f in zip(boxes, flags) if not f]
            masks = [m for m, f in zip(masks, flags) if not f]
    if table is not None:
        boxes, masks = _with_table(table, boxes, masks, cells, page_ch)
        ch = page_ch
    lines = []
    for box, mask in zip(boxes, masks):
        words = [Box(b.x0 + box.x0, b.y0 + box.y0, b.x1 + box.x0, b.y1 + box.y0) for b in segment_words(mask, ch)]
        lines.append(TextLine(box, _unrotate(box, angle, w, h), words, [_unrotate(b, angle, w, h) for b in words]))
    return PageLayout(w, h, angle, lines, straight, masks, printed, table)


def _clean_page(gray: np.ndarray, method: str, deskew: bool) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> (skew angle, the page straightened, its ink before ruling removal, the clean ink
    (rulings, blots, the sheet's surroundings and edge marks removed), the rulings)."""
    h, w = gray.shape
    angle = estimate_skew(binarize(_small(gray), method)) if deskew else 0.0
    straight = rotate(gray, angle) if angle else gray
    mask = binarize(straight, method)
    beyond = outside_sheet(gray)  # on the scan as it is: the sheet's edge runs along the image's
    if beyond.any() and angle:
        beyond = rotate(beyond, angle)
    if beyond.any():
        mask = mask & ~beyond
    inked = remove_blots(mask)
    mask, rulings = remove_rulings(inked)
    mask = remove_edge_marks(mask, rotate(np.ones((h, w), bool), angle) if angle else None)
    return angle, straight, inked, mask, rulings


def _table_cells(table: Table, mask: np.ndarray, rulings: np.ndarray, page_ch: float) -> list[tuple[Box, np.ndarray, int]]:
    """The lines found in each of a table's columns on their own: (box in the page, mask, column)."""
    cells = []
    for ci, (cbox, (cmask, crules)) in enumerate(column_masks(table, mask, rulings, ch=page_ch)):
        # The page's writing sets what is too small to be a line: a column's own few components do not.
        bs, ms, _ = segment_lines(cmask, min_area=max(4, int((page_ch / 6.0) ** 2)), barriers=ruling_rows(crules))
        for b, m in zip(bs, ms):
            trimmed = trim_line(Box(b.x0 + cbox.x0, b.y0 + cbox.y0, b.x1 + cbox.x0, b.y1 + cbox.y0), m, page_ch)
            if trimmed is not None:
                cells.append((*trimmed, ci))
    return cells


def _with_table(
    table: Table, boxes: list[Box], masks: list[np.ndarray], cells: list[tuple[Box, np.ndarray, int]], ch: float
) -> tuple[list[Box], list[np.ndarray]]:
    """A register page's lines in reading order: the lines above the table, the table's row by
    row (in a row, column by column, each cell top to bottom), then the rest; the table's rows
    and cells are filled in (cells index the returned lines)."""
    cell_boxes = [b for b, _m, _c in cells]
    cols = [c for _b, _m, c in cells]
    rows = assign_rows(table, cell_boxes, cols, ch)
    order = sorted(range(len(cells)), key=lambda i: (rows[i], cols[i], cell_boxes[i].y0, cell_boxes[i].x0))
    above = [i for i, b in enumerate(boxes) if (b.y0 + b.y1) / 2.0 < table.box.y0]
    below = [i for i, b in enumerate(boxes) if (b.y0 + b.y1) / 2.0 >= table.box.y0]
    out_boxes = [boxes[i] for i in above] + [cell_boxes[i] for i in order] + [boxes[i] for i in below]
    out_masks = [masks[i] for i in above] + [cells[i][1] for i in order] + [masks[i] for i in below]
    first = len(above)
    make_cells(table, [cell_boxes[i] for i in order], [cols[i] for i in order], [rows[i] for i in order])
    for cell in table.cells:
        cell.lines = [first + k for k in cell.lines]
    return out_boxes, out_masks


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


def _page_points(points: Sequence[tuple[float, float]], angle: float, w: int, h: int) -> np.ndarray:
    """Points (x, y) in deskewed coordinates -> original page coordinates (int32, for drawing)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if abs(angle) >= 1e-6:
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -angle, 1.0)
        pts = np.hstack([pts, np.ones((len(pts), 1))]) @ m.T
    return np.round(pts).astype(np.int32)


def page_polygon(box: Box, angle: float, width: int, height: int) -> np.ndarray:
    """A box in deskewed coordinates -> its four corners in original page coordinates (what a
    line crop cut from the deskewed page covers: a rectangle turned by ``angle``)."""
    return _page_points([(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)], angle, width, height)


def _draw_table(out: np.ndarray, layout: PageLayout) -> None:
    """A register's table: header band and column boundaries (green), row tops (magenta)."""
    t = layout.table
    if t is None:
        return
    green, magenta = (0, 160, 0), (200, 0, 200)
    a, w, h = layout.angle, layout.width, layout.height
    hb = t.header
    band = _page_points([(hb.x0, hb.y0), (hb.x1, hb.y0), (hb.x1, hb.y1), (hb.x0, hb.y1)], a, w, h)
    cv2.polylines(out, [band], True, green, 2)
    for col in t.columns:
        for rule in (col.left, col.right):
            y0 = max(rule.top, t.box.y0)
            cv2.polylines(out, [_page_points([(rule.x(y0), y0), (rule.x(t.box.y1), t.box.y1)], a, w, h)], False, green, 2)
    for r in t.rows:
        cv2.polylines(out, [_page_points([(t.box.x0, r.y0), (t.box.x1, r.y0)], a, w, h)], False, magenta, 1)


def draw_overlay(image: np.ndarray, layout: PageLayout) -> np.ndarray:
    """The page with line boxes (blue), word boxes (orange), skipped printed lines (gray) and
    a register's table (green: header band and columns; magenta: row tops), for a person to check."""
    out: np.ndarray = cv2.cvtColor(to_gray_u8(image), cv2.COLOR_GRAY2BGR)
    _draw_table(out, layout)
    for b in layout.printed:
        cv2.rectangle(out, (b.x0, b.y0), (b.x1 - 1, b.y1 - 1), (150, 150, 150), 2)
    a, w, h = layout.angle, layout.width, layout.height
    for i, line in enumerate(layout.lines):
        shape = page_polygon(line.box, a, w, h)  # the box on the deskewed page, turned back: what its crop covers
        cv2.polylines(out, [shape], True, (200, 80, 0), 2)
        x0, y0 = int(shape[:, 0].min()), int(shape[:, 1].min())
        cv2.putText(out, str(i + 1), (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 80, 0), 1, cv2.LINE_AA)
        for wb in line.words:
            cv2.polylines(out, [page_polygon(wb, a, w, h)], True, (0, 140, 255), 1)
    return out
