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
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from segmentation import Box, crop_span_to_page, line_crops, segment_page
from segmentation.crop import cut_line, cut_polygon, polygon_box  # the crops recognition reads, for training and evaluation
from segmentation.forms import TICK_FILL, FormLayout, FormTemplate, cut_fields, match_template
from segmentation.labels import Label, assign, boxed_form, inside, read_labels
from segmentation.printed_ocr import read_header
from segmentation.table import Table

from .document import Alternative, Field, Line, Page, Word
from .field_types import field_type, parse, searched_as
from .text import normalize_text, search_form

if TYPE_CHECKING:
    from .predictor import Predictor, Recognition

__all__ = [
    "assemble_page",
    "cut_line",
    "cut_polygon",
    "form_field",
    "form_page",
    "label_fields",
    "polygon_box",
    "read_page",
    "table_fields",
]

EMPTY_CONFIDENCE = 0.95  # a field with no ink left in its box once the print is taken out


def form_field(
    template: str, spec: dict[str, Any], box: Box, reading: Recognition | None, fill: float | None, tick_fill: float
) -> Field:
    """A registered form's field as read: ``spec`` its definition (``name``, ``type`` and what the
    type needs), ``box`` its box on the page, ``reading`` its crop's recognition (None: nothing
    written), ``fill`` a checkbox's inked share (ticked from ``tick_fill``). ``normalized`` is the
    value's normal form for its kind (``field_types.parse``); a reading that does not parse is
    flagged (``valid`` False) and keeps its text."""
    ftype = field_type(spec)
    b = (box.x0, box.y0, box.x1, box.y1)
    name = str(spec["name"])
    if ftype.kind == "checkbox":
        f = fill or 0.0
        value = "yes" if f >= tick_fill else "no"
        confidence = 0.5 + 0.5 * min(1.0, abs(f - tick_fill) / tick_fill)
        return Field(name, value, b, confidence, template=template, label=name, normalized=value, kind="checkbox", parsed=value)
    if reading is None or not reading.text.strip():
        return Field(name, "", b, EMPTY_CONFIDENCE, template=template, label=name, kind=ftype.kind)
    value = normalize_text(reading.text)
    normal = parse(ftype, value) if reading.valid else None
    return Field(
        name,
        value,
        b,
        float(reading.confidence),
        template=template,
        label=name,
        normalized=searched_as(value, normal),
        kind=ftype.kind,
        valid=normal is not None,
        parsed=normal if normal is not None and ftype.kind != "text" else "",
    )


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


def label_fields(labels: Sequence[Label], lines: Sequence[Line]) -> list[Field]:
    """A form read without a template: each handwritten line under the printed label it answers
    (``segmentation.labels.assign``), the lines of one label joined in reading order; words read
    inside a label's box are not part of the value. Confidence: the words', weighted by length."""
    parts: dict[int, list[Word]] = {}
    for ln in lines:
        words = [w for w in ln.words if not inside(Box(*w.box), labels) and w.text.strip()]
        if not words:
            continue
        box = Box(
            min(w.box[0] for w in words), min(w.box[1] for w in words), max(w.box[2] for w in words), max(w.box[3] for w in words)
        )
        (k,) = assign(labels, [box])
        if k is not None:
            parts.setdefault(k, []).extend(words)
    fields = []
    for k in sorted(parts, key=lambda i: (labels[i].box.y0, labels[i].box.x0)):
        words = parts[k]
        value = normalize_text(" ".join(w.text for w in words))
        weights = [max(1, len(w.text)) for w in words]
        union = (
            min(w.box[0] for w in words),
            min(w.box[1] for w in words),
            max(w.box[2] for w in words),
            max(w.box[3] for w in words),
        )
        conf = sum(n * w.confidence for n, w in zip(weights, words)) / sum(weights)
        fields.append(Field(labels[k].key, value, union, float(conf), label=labels[k].text, normalized=search_form(value)))
    return fields


def form_page(
    index: int,
    width: int,
    height: int,
    form: FormLayout,
    readings: Sequence[Recognition],
    dpi: int | None = None,
    image: str | None = None,
) -> Page:
    """A form page's document model: every field of its template (:func:`form_field`) and, for
    each field with something written, a line of its value (the page's transcript, searched
    and reviewed like any line). ``readings``: one per field crop, in field order."""
    found = iter(readings)
    lines, fields = [], []
    for cut in form.cuts:
        rec = next(found) if cut.crop_box is not None else None
        spec = {**cut.field.spec, "name": cut.field.name, "type": cut.field.kind}
        f = form_field(form.template, spec, cut.page_box, rec, cut.fill, TICK_FILL)
        f.template = form.template or None  # a form of labelled boxes read without a template has none
        fields.append(f)
        if rec is None or not f.value or cut.crop_box is None:
            continue
        cb = cut.crop_box
        words = []
        for w in rec.words:
            wb = form.to_page(Box(cb.x0 + int(w.x0), cb.y0, cb.x0 + max(int(w.x0) + 1, int(round(w.x1))), cb.y1))
            alts = [Alternative(a.text, float(a.probability)) for a in w.alternatives]
            words.append(Word(w.text, (wb.x0, wb.y0, wb.x1, wb.y1), float(w.confidence), alts))
        pb = form.to_page(cb)
        lines.append(Line(f.value, (pb.x0, pb.y0, pb.x1, pb.y1), f.confidence, words))
    return Page(index, width, height, lines, dpi, 0.0, image, fields)


def _read_form(predictor: Predictor, gray: np.ndarray, form: FormLayout, index: int) -> Page:
    types = [field_type({**c.field.spec, "type": c.field.kind}) for c in form.cuts if c.crop is not None]
    readings = predictor.predict(form.crops, types) if form.crops else []
    return form_page(index, gray.shape[1], gray.shape[0], form, readings)


def _gray(image: np.ndarray | str | Path) -> np.ndarray:
    import cv2

    if isinstance(image, (str, Path)):
        img = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
        if img is None or img.size == 0:
            raise ValueError(f"{image}: not a readable image")
        return cast(np.ndarray, img)
    return np.asarray(image)


def read_page(
    image: np.ndarray | str | Path, predictor: Predictor | None = None, index: int = 0, templates: Sequence[FormTemplate] = ()
) -> Page:
    """Read one page image (an array, or the path of a PNG/JPEG/TIFF) with ``predictor``
    (default: the bundled model on ONNX Runtime, beam search with its n-gram, as ``htr process``
    reads; TensorFlow is not imported) into a ``document.Page``; a register page's cells are its
    ``fields``, keyed by their columns' printed headers (Tesseract); a copy of one of the
    ``templates`` is read field by field, each as its type allows (:func:`form_page`)."""
    if predictor is None:
        from .predictor import DecoderOptions, Predictor

        predictor = Predictor.load(backend="onnx", decoder=DecoderOptions(name="beam"))
    gray = _gray(image)
    match = match_template(gray, list(templates))
    if match is not None:
        return _read_form(predictor, gray, cut_fields(gray, match), index)
    layout = segment_page(gray)
    if layout.table is None and layout.deskewed is not None:
        boxed = boxed_form(gray, layout.deskewed, layout.angle)  # a form of labelled boxes, no template
        if boxed is not None:
            return _read_form(predictor, gray, boxed, index)
    crops = line_crops(layout)
    readings = predictor.predict(crops) if crops else []
    if layout.table is not None and layout.deskewed is not None:
        read_header(layout.deskewed, layout.table)  # a register: its columns' printed headers
    page = assemble_page(
        index,
        layout.width,
        layout.height,
        layout.angle,
        [ln.box for ln in layout.lines],
        [ln.page_box for ln in layout.lines],
        readings,
        table=layout.table,
    )
    if layout.printed and layout.table is None:  # a form with no template: labels name the answers
        page.fields = label_fields(read_labels(gray, layout.printed), page.lines)
    return page
