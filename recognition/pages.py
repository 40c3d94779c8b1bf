"""Whole pages read without a database: segmentation, the line crops, the predictor, and the
document model they make.

    from recognition import read_page
    page = read_page("scan.png")              # the bundled model, greedy decoding
    for line in page.lines:
        print(line.box, f"{line.confidence:.2f}", line.text)

:func:`assemble_page` is the one place a page's readings become ``document.Page``: the
pipeline's page step and :func:`read_page` both call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from segmentation import Box, crop_span_to_page, line_crops, segment_page
from segmentation.crop import cut_line, cut_polygon, polygon_box  # the crops recognition reads, for training and evaluation
from segmentation.printed_ocr import read_header
from segmentation.table import Table

from .document import Alternative, Field, Line, Page, Word
from .text import normalize_text

if TYPE_CHECKING:
    from .predictor import Predictor, Recognition

__all__ = ["assemble_page", "cut_line", "cut_polygon", "polygon_box", "read_page", "table_fields"]


def table_fields(table: Table, page_boxes: Sequence[Box], readings: Sequence[Recognition]) -> list[Field]:
    """A register's cells as fields: each cell's lines as read, top to bottom, joined by spaces,
    under its column's key (``column N`` when none was read); its confidence the lines'
    weighted by the length of their text; its box the lines' boxes on the page."""
    fields = []
    for cell in table.cells:
        lines = [i for i in cell.lines if i < len(readings)]
        if not lines:
            continue
        texts = [normalize_text(readings[i].text) for i in lines]
        weights = [max(1, len(t)) for t in texts]
        boxes = [page_boxes[i] for i in lines]
        fields.append(
            Field(
                table.columns[cell.column].key or f"column {cell.column + 1}",
                " ".join(t for t in texts if t),
                (min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes)),
                sum(w * float(readings[i].confidence) for w, i in zip(weights, lines)) / sum(weights),
                cell.row,
                cell.column,
            )
        )
    return fields


def assemble_page(
    index: int,
    width: int,
    height: int,
    angle: float,
    boxes: Sequence[Box],
    page_boxes: Sequence[Box],
    readings: Sequence[Recognition],
    dpi: int | None = None,
    image: str | None = None,
    table: Table | None = None,
) -> Page:
    """A page's document model from its line boxes (deskewed and on the page) and the readings
    of its line crops: each word's box is its span in the crop (from the CTC alignment) mapped
    back onto the page; a register's ``table`` gives its fields (:func:`table_fields`)."""
    lines = []
    for box, pb, rec in zip(boxes, page_boxes, readings):
        words = []
        for w in rec.words:
            wb = crop_span_to_page(width, height, angle, box, w.x0, w.x1)
            words.append(
                Word(
                    w.text,
                    (wb.x0, wb.y0, wb.x1, wb.y1),
                    float(w.confidence),
                    [Alternative(a.text, float(a.probability)) for a in w.alternatives],
                )
            )
        lines.append(Line(rec.text, (pb.x0, pb.y0, pb.x1, pb.y1), float(rec.confidence), words))
    fields = table_fields(table, page_boxes, readings) if table is not None else []
    return Page(index, width, height, lines, dpi, float(angle), image, fields)


def _gray(image: np.ndarray | str | Path) -> np.ndarray:
    import cv2

    if isinstance(image, (str, Path)):
        img = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
        if img is None or img.size == 0:
            raise ValueError(f"{image}: not a readable image")
        return cast(np.ndarray, img)
    return np.asarray(image)


def read_page(image: np.ndarray | str | Path, predictor: Predictor | None = None, index: int = 0) -> Page:
    """Read one page image (an array, or the path of a PNG/JPEG/TIFF) with ``predictor``
    (default: the bundled model on ONNX Runtime, beam search with its n-gram, as ``htr process``
    reads; TensorFlow is not imported) into a ``document.Page``; a register page's cells are its
    ``fields``, keyed by their columns' printed headers (Tesseract)."""
    if predictor is None:
        from .predictor import DecoderOptions, Predictor

        predictor = Predictor.load(backend="onnx", decoder=DecoderOptions(name="beam"))
    layout = segment_page(_gray(image))
    crops = line_crops(layout)
    readings = predictor.predict(crops) if crops else []
    if layout.table is not None and layout.deskewed is not None:
        read_header(layout.deskewed, layout.table)  # a register: its columns' printed headers
    return assemble_page(
        index,
        layout.width,
        layout.height,
        layout.angle,
        [ln.box for ln in layout.lines],
        [ln.page_box for ln in layout.lines],
        readings,
        table=layout.table,
    )
