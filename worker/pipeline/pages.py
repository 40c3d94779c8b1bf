"""A page between segmentation and recognition, and the step that makes it.

:class:`PageWork` is what :func:`segment` makes of a rendered page: line boxes
and the crops recognition reads, and on a register page its table (columns
keyed by their printed headers, read here with Tesseract; rows; the lines of
each cell). It serializes (``to_bytes``) so a segmenting worker can hand it
through the store to a recognizing worker elsewhere.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from recognition import document
from recognition.field_types import FieldType, field_type
from recognition.pages import form_page, label_fields, table_fields
from recognition.text import search_form
from segmentation import Box, crop_span_to_page, line_crops, segment_page
from segmentation.forms import FormLayout, FormTemplate, cut_fields, match_template
from segmentation.labels import Label, boxed_form, read_labels
from segmentation.printed_ocr import read_header
from segmentation.table import Table

from ..db.models import word_span
from ..io import keys
from ..io.documents import PageImage
from ..io.store import Store

log = logging.getLogger(__name__)


@dataclass
class PageWork:
    """One page segmented and waiting for recognition: line boxes and crops."""

    index: int
    dpi: int
    width: int
    height: int
    angle: float
    boxes: list[Box]  # line boxes in deskewed page coordinates
    page_boxes: list[Box]  # the same in original page coordinates
    crops: list[np.ndarray]
    image_key: str | None = None
    table: dict | None = None  # a register's table (``segmentation.table.Table.to_json``): keys, rows, cells
    form: dict | None = None  # a registered form's fields (``segmentation.forms.FormLayout.to_json``); crops: its fields'
    labels: list | None = None  # a form's printed labels read without a template: [text, [x0, y0, x1, y1]] each

    @property
    def types(self) -> list[FieldType | None] | None:
        """Each crop's field type on a form page (None: a page of lines)."""
        if not self.form:
            return None
        return [field_type({**f["spec"], "type": f["type"]}) for f in self.form["fields"] if f.get("crop_box")]

    def word_box(self, line: int, x0: float, x1: float) -> Box:
        """A word's span in line ``line``'s crop → its box on the original page, at
        least a quarter of the line's height wide (a one-frame word is no 1-pixel sliver)."""
        b = crop_span_to_page(self.width, self.height, self.angle, self.boxes[line], x0, x1)
        lb = self.page_boxes[line]
        a, z = word_span(b.x0, b.x1, min(lb.x0, b.x0), max(lb.x1, b.x1), lb.y1 - lb.y0)
        return Box(a, b.y0, z, b.y1)

    def page_model(self, recs) -> document.Page:
        """The page as read (``recs``: the readings of its crops, in order) in the document
        model: lines and words on the original page, words with their probable spellings, a
        register's cells as fields, a form's fields. The database rows, the exports and ``htr
        process --no-db`` are made from it."""
        if self.form:
            return form_page(self.index, self.width, self.height, FormLayout.from_json(self.form), recs, self.dpi, self.image_key)
        lines = []
        for li, (pb, rec) in enumerate(zip(self.page_boxes, recs)):
            words = []
            for w in rec.words:
                wb = self.word_box(li, w.x0, w.x1)  # the word's x-span from the CTC alignment
                alternatives = [document.Alternative(a.text, float(a.probability)) for a in w.alternatives]
                words.append(document.Word(w.text, (wb.x0, wb.y0, wb.x1, wb.y1), float(w.confidence), alternatives))
            lines.append(document.Line(rec.text, (pb.x0, pb.y0, pb.x1, pb.y1), float(rec.confidence), words))
        fields = table_fields(Table.from_json(self.table), self.page_boxes, recs) if self.table else []
        for f in fields:
            f.label, f.normalized = f.key, search_form(f.value)
        if self.labels:
            fields += label_fields([Label(t, Box(*b)) for t, b in self.labels], lines)
        return document.Page(self.index, self.width, self.height, lines, self.dpi, self.angle, self.image_key, fields)

    def to_bytes(self) -> bytes:
        meta = {
            "index": self.index,
            "dpi": self.dpi,
            "width": self.width,
            "height": self.height,
            "angle": self.angle,
            "boxes": [b.to_list() for b in self.boxes],
            "page_boxes": [b.to_list() for b in self.page_boxes],
            "image_key": self.image_key,
            "table": self.table,
            "form": self.form,
            "labels": self.labels,
        }
        arrays = {f"crop{i:05d}": np.frombuffer(cv2.imencode(".png", c)[1].tobytes(), np.uint8) for i, c in enumerate(self.crops)}
        buf = io.BytesIO()
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub reads ** as allow_pickle
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PageWork:
        with np.load(io.BytesIO(data)) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            crops = [cv2.imdecode(z[k], cv2.IMREAD_GRAYSCALE) for k in sorted(k for k in z.files if k.startswith("crop"))]
        return cls(
            meta["index"],
            meta["dpi"],
            meta["width"],
            meta["height"],
            meta["angle"],
            [Box(*b) for b in meta["boxes"]],
            [Box(*b) for b in meta["page_boxes"]],
            crops,
            meta["image_key"],
            meta.get("table"),
            meta.get("form"),
            meta.get("labels"),
        )


def form_work(page: PageImage, templates: list[FormTemplate]) -> PageWork | None:
    """A page that is a copy of one of ``templates``: its fields cut out, the crops those
    with writing; None when it matches none."""
    match = match_template(page.image, templates)
    if match is None:
        return None
    form = cut_fields(page.image, match)
    log.info("page %d: form %s (%d features agree), %d fields", page.index + 1, form.template, match.inliers, len(form.cuts))
    return _form_work(page, form)


def _form_work(page: PageImage, form: FormLayout) -> PageWork:
    crop_boxes = [c.crop_box for c in form.cuts if c.crop_box is not None]
    h, w = page.image.shape[:2]
    return PageWork(
        page.index, page.dpi, w, h, 0.0, crop_boxes, [form.to_page(b) for b in crop_boxes], form.crops, form=form.to_json()
    )


def segment(page: PageImage, skip_printed: bool = True, templates: list[FormTemplate] | None = None) -> PageWork:
    """Segment a rendered page into line boxes and the crops recognition reads
    (machine-printed lines of a form left out when ``skip_printed``); a register's
    table with its printed column headers read; a copy of a registered form (one of
    ``templates``) cut into its fields (:func:`form_work`)."""
    if templates:
        work = form_work(page, templates)
        if work is not None:
            return work
    layout = segment_page(page.image, skip_printed=skip_printed)
    if layout.printed:
        log.info(
            "page %d: %d printed lines left out (form template text; HTR_PRINTED=read reads them)",
            page.index + 1,
            len(layout.printed),
        )
    table = None
    if layout.table is not None and layout.deskewed is not None:
        names = read_header(layout.deskewed, layout.table)
        log.info(
            "page %d: a register: %d columns (%s), %d rows", page.index + 1, len(names), "; ".join(names), len(layout.table.rows)
        )
        table = layout.table.to_json()
    labels = None
    if layout.table is None and layout.deskewed is not None:  # a form with no template: labels name the answers
        boxed = boxed_form(page.image, layout.deskewed, layout.angle)
        if boxed is not None:
            log.info("page %d: a form of %d labelled boxes, no template", page.index + 1, len(boxed.cuts))
            return _form_work(page, boxed)
        if layout.printed:
            labels = [[lb.text, lb.box.to_list()] for lb in read_labels(page.image, layout.printed)]
    return PageWork(
        page.index,
        page.dpi,
        layout.width,
        layout.height,
        float(layout.angle),
        [ln.box for ln in layout.lines],
        [ln.page_box for ln in layout.lines],
        line_crops(layout),
        table=table,
        labels=labels,
    )


def save_page_image(store: Store, content_hash: str, page: PageImage) -> str:
    """Keep the rendered page in the store for review; returns its key."""
    _ok, buf = cv2.imencode(".png", page.image)
    return store.put_bytes(keys.page_image(content_hash, page.index), buf.tobytes())


def prepare_page(
    page: PageImage,
    store: Store,
    content_hash: str,
    skip_printed: bool,
    keep_image: bool = True,
    templates: list[FormTemplate] | None = None,
) -> PageWork:
    """The step between a rendered page and recognition, for both runners:
    segment it (or cut a registered form's fields) and keep its image in the store."""
    work = segment(page, skip_printed, templates)
    if keep_image:
        work.image_key = save_page_image(store, content_hash, page)
    return work


def recognize_pages(predict, works: list[PageWork]) -> list[list]:
    """Recognize the lines of several pages in one call of ``predict`` (a
    predictor's ``predict``, or the queue's micro-batcher; with form pages among them it is
    given each crop's field type too): recognitions per page."""
    crops = [c for w in works for c in w.crops]
    if any(w.form for w in works):  # a form's fields are each read as their type allows
        types = [t for w in works for t in (w.types or [None] * len(w.crops))]
        recs = predict(crops, types) if crops else []
    else:
        recs = predict(crops) if crops else []
    out, k = [], 0
    for w in works:
        out.append(recs[k : k + len(w.crops)])
        k += len(w.crops)
    return out
