"""A form's printed labels read without a template, and which handwriting each one names.

On a page that mixes print and handwriting (``PageLayout.printed``: its template text), every
printed line is read with Tesseract (``printed_ocr.ocr_words``, one line at a time) and cut into
labels: a label ends at a word ending in ``:`` or before a gap wider than twice the print's
height (``Nom : ....  Prénom :`` is two labels); a run of more than :data:`LABEL_WORDS` words
not ending in ``:`` is a printed sentence, no label. :func:`assign` gives each handwritten line the
label it answers: the nearest label ending to its left on the same band, else the nearest label
above it (within :data:`ABOVE` label heights, overlapping it across); a line with no such label
is no field. Words read inside a label's box (a label and its answer cut as one line) are left
out of the value.

A form whose answers are drawn boxes (:func:`boxed_fields`) is read box by box instead: the
boxes are the paper enclosed by long straight strokes (:func:`line_mask`, :func:`find_boxes`),
the labels Tesseract's sure printed words outside them, and each box is named by the nearest
label above it or to its left (a checkbox: to its right first); the pipeline then cuts and reads
them as a registered template's fields, the box edges taken out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from .forms import FormField, FormLayout, FormMatch, FormTemplate, cut_fields
from .layout import Box
from .printed_ocr import MIN_CONFIDENCE, ocr_words

ABOVE = 2.5  # label heights between a label and the answer under it, at most
LABEL_WORDS = 6  # a longer run of print is a sentence, not a label (unless it ends with ":")
GAP = 2.0  # print heights: a wider gap between two printed words ends a label
PAD = 6  # pixels round a printed line when it is read


@dataclass(frozen=True)
class Label:
    text: str
    box: Box  # on the page

    @property
    def key(self) -> str:
        """The label as a field's key: dotted leaders, colons and ends trimmed."""
        return re.sub(r"[\s.:_…·-]+$", "", re.sub(r"\.{2,}|_{2,}|…", " ", self.text)).strip(" :") or self.text


def read_labels(gray: np.ndarray, printed: Sequence[Box]) -> list[Label]:
    """The labels of the printed lines ``printed`` (page boxes) of ``gray``, top to bottom."""
    h, w = gray.shape[:2]
    labels: list[Label] = []
    for b in printed:
        x0, y0, x1, y1 = max(0, b.x0 - PAD), max(0, b.y0 - PAD), min(w, b.x1 + PAD), min(h, b.y1 + PAD)
        words = [wd for wd in ocr_words(gray[y0:y1, x0:x1], psm=7) if wd.confidence >= MIN_CONFIDENCE and wd.text.strip("|")]
        labels.extend(_split([(wd.text, Box(wd.box.x0 + x0, wd.box.y0 + y0, wd.box.x1 + x0, wd.box.y1 + y0)) for wd in words]))
    return labels


def _split(words: list[tuple[str, Box]]) -> list[Label]:
    """One printed line's words (left to right) cut into labels."""
    out: list[Label] = []
    run: list[tuple[str, Box]] = []
    words = sorted(words, key=lambda t: t[1].x0)
    height = float(np.median([b.height for _t, b in words])) if words else 0.0

    def close() -> None:
        if run:
            box = Box(
                min(b.x0 for _t, b in run), min(b.y0 for _t, b in run), max(b.x1 for _t, b in run), max(b.y1 for _t, b in run)
            )
            out.append(Label(" ".join(t for t, _b in run), box))
            run.clear()

    for text, box in words:
        if run and box.x0 - run[-1][1].x1 > GAP * height:
            close()
        run.append((text, box))
        if text.endswith(":"):
            close()
    close()
    return [
        lb for lb in out if any(ch.isalpha() for ch in lb.text) and (len(lb.text.split()) <= LABEL_WORDS or lb.text.endswith(":"))
    ]


def _band_overlap(a: Box, b: Box) -> float:
    return max(0, min(a.y1, b.y1) - max(a.y0, b.y0)) / max(1, min(a.height, b.height))


def assign(labels: Sequence[Label], lines: Sequence[Box]) -> list[int | None]:
    """For each handwritten line's box, the index of the label it answers, or None."""
    out: list[int | None] = []
    for ln in lines:
        beside = [
            (ln.x0 - lb.box.x1, i)
            for i, lb in enumerate(labels)
            if _band_overlap(lb.box, ln) >= 0.5 and lb.box.x1 <= ln.x0 + lb.box.height and lb.box.x0 < ln.x0
        ]
        if beside:
            out.append(min(beside)[1])
            continue
        above = [
            (ln.y0 - lb.box.y1, i)
            for i, lb in enumerate(labels)
            if lb.box.y1 <= ln.y0 + 0.5 * lb.box.height
            and ln.y0 - lb.box.y1 <= ABOVE * lb.box.height
            and lb.box.x0 < ln.x1
            and ln.x0 < lb.box.x1 + 4 * lb.box.height
        ]
        out.append(min(above)[1] if above else None)
    return out


def inside(box: Box, labels: Sequence[Label]) -> bool:
    """Whether ``box``'s centre lies in one of the labels' boxes."""
    cx, cy = (box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0
    return any(lb.box.x0 <= cx <= lb.box.x1 and lb.box.y0 <= cy <= lb.box.y1 for lb in labels)


# ---------------------------------------------------------------- boxed forms without a template

MIN_BOX = 14  # pixels: a smaller enclosed area is no answer box
BOX_SIDE = 1400  # pixels: the long side of the page boxes are looked for in
MAX_BOXES = 60  # more enclosed areas than this are squared paper or a grid, not a form's answers
LABELLED = 0.5  # of a form's boxes at least this share have a printed label
EDGE = 6  # pixels each side of a box's outline where its drawn edge is taken out
LABEL_CONFIDENCE = 0.6  # printed words Tesseract is at least this sure of label boxes


def line_mask(gray: np.ndarray) -> np.ndarray:
    """The long straight strokes of a page (uint8 0/255): box edges and rules, not writing."""
    _t, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    h, w = gray.shape
    horiz = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(30, w // 25), 1)))
    vert = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(20, h // 50))))
    return cast(np.ndarray, cv2.dilate(horiz | vert, np.ones((3, 3), np.uint8)))


def find_boxes(lines: np.ndarray) -> list[Box]:
    """Areas enclosed by drawn lines (answer boxes, checkboxes), top to bottom: rectangles of
    paper inside the line mask, not touching the page's edge."""
    n, _labels, stats, _c = cv2.connectedComponentsWithStats((lines == 0).astype(np.uint8), connectivity=4)
    h, w = lines.shape
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if x == 0 or y == 0 or x + bw >= w or y + bh >= h or min(bw, bh) < MIN_BOX:
            continue
        if area < 0.85 * bw * bh or bw * bh > 0.25 * w * h:  # not a rectangle, or the page's frame
            continue
        out.append(Box(max(0, x - 2), max(0, y - 2), min(w, x + bw + 2), min(h, y + bh + 2)))  # the box with its edges
    return sorted(out, key=lambda b: (b.y0, b.x0))


def _phrases(words: list[tuple[str, Box]]) -> list[Label]:
    """Printed words grouped into lines (half a height of overlap), each cut into labels."""
    rows: list[list[tuple[str, Box]]] = []
    for t, b in sorted(words, key=lambda t: (t[1].y0 + t[1].y1) / 2):
        for row in rows:
            if _band_overlap(row[0][1], b) >= 0.5:
                row.append((t, b))
                break
        else:
            rows.append([(t, b)])
    return [lb for row in rows for lb in _split(row)]


def box_label(box: Box, labels: Sequence[Label], checkbox: bool) -> int | None:
    """The label naming an answer box: the nearest printed label above it (overlapping it
    across), else to its left on its band, else (a checkbox) to its right."""
    above = [
        (box.y0 - lb.box.y1, i)
        for i, lb in enumerate(labels)
        if lb.box.y1 <= box.y0 + 0.3 * lb.box.height
        and box.y0 - lb.box.y1 <= ABOVE * lb.box.height
        and lb.box.x0 < box.x1
        and lb.box.x1 > box.x0 - 2 * lb.box.height
    ]
    left = [
        (box.x0 - lb.box.x1, i)
        for i, lb in enumerate(labels)
        if _band_overlap(lb.box, box) >= 0.5 and lb.box.x1 <= box.x0 + lb.box.height and box.x0 - lb.box.x1 <= 8 * lb.box.height
    ]
    right = [
        (lb.box.x0 - box.x1, i)
        for i, lb in enumerate(labels)
        if checkbox
        and _band_overlap(lb.box, box) >= 0.5
        and lb.box.x0 >= box.x1 - lb.box.height
        and lb.box.x0 - box.x1 <= 4 * lb.box.height
    ]
    for near in (right, left, above) if checkbox else (above, left):
        if near:
            return min(near)[1]
    return None


def _near_labels(gray: np.ndarray, box: Box, height: float, checkbox: bool) -> list[Label]:
    """Labels read one strip at a time (Tesseract's single-line mode) where a box's label would
    be: above it, or to a checkbox's right."""
    w = gray.shape[1]
    strips = [Box(max(0, int(box.x0 - height)), max(0, int(box.y0 - ABOVE * height)), min(w, box.x1), max(0, box.y0 - 1))]
    if checkbox:
        strips.insert(0, Box(min(w, box.x1 + 1), box.y0, min(w, int(box.x1 + 12 * height)), box.y1))
    out: list[Label] = []
    for s in strips:
        if s.width < 4 or s.height < 4:
            continue
        words = ocr_words(gray[s.y0 : s.y1, s.x0 : s.x1], psm=7)
        found = [(wd.text, Box(wd.box.x0 + s.x0, wd.box.y0 + s.y0, wd.box.x1 + s.x0, wd.box.y1 + s.y0)) for wd in words]
        out.extend(
            lb
            for lb in _phrases([(t, b) for t, b in found if any(c.isalpha() for c in t)])
            if sum(c.isalpha() for c in lb.text) >= 3
        )
    return out


def boxed_fields(deskewed: np.ndarray) -> tuple[np.ndarray, list[FormField]] | None:
    """A form read without a template from its drawn answer boxes: each box that a printed
    label names (Tesseract; at least three letters) is a field keyed by that label (a small
    square one a checkbox); None unless at least two and half the boxes are, by labels mostly
    their own (one word named many boxes is handwriting misread as print), and there are at
    most :data:`MAX_BOXES` boxes (squared paper is no form). Returns the page's line mask (the
    "print" to take out of each box) and the fields, in ``deskewed``'s pixels. Boxes are looked
    for at most :data:`BOX_SIDE` pixels high or wide (every page is looked at: it stays cheap)."""
    scale = min(1.0, BOX_SIDE / max(deskewed.shape))
    small = deskewed if scale == 1.0 else cv2.resize(deskewed, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = find_boxes(line_mask(small))
    if len(found) < 2:
        return None
    h, w = deskewed.shape
    boxes = [
        Box(
            max(0, int(b.x0 / scale)),
            max(0, int(b.y0 / scale)),
            min(w, int(np.ceil(b.x1 / scale))),
            min(h, int(np.ceil(b.y1 / scale))),
        )
        for b in found
    ]
    lines = line_mask(deskewed)
    outside = deskewed.copy()  # labels lie outside the boxes: what is written in them is not read (Tesseract's time)
    for b in boxes:
        outside[b.y0 + EDGE : b.y1 - EDGE, b.x0 + EDGE : b.x1 - EDGE] = 255
    words = [
        (w.text, w.box)
        for w in ocr_words(outside, psm=11)
        if w.confidence >= LABEL_CONFIDENCE and any(c.isalpha() for c in w.text)
    ]
    words = [
        (t, b)
        for t, b in words
        if not any(bx.x0 <= (b.x0 + b.x1) / 2 <= bx.x1 and bx.y0 <= (b.y0 + b.y1) / 2 <= bx.y1 for bx in boxes)
    ]
    labels = [lb for lb in _phrases(words) if sum(c.isalpha() for c in lb.text) >= 3]
    if not labels or len(boxes) > MAX_BOXES:
        return None
    height = float(np.median([lb.box.height for lb in labels]))
    fields: list[FormField] = []
    names: dict[str, int] = {}
    for box in boxes:
        checkbox = max(box.width, box.height) <= 4 * height and 0.6 <= box.width / max(1, box.height) <= 1.6
        k = box_label(box, labels, checkbox)
        if k is None or (checkbox and labels[k].box.x0 < box.x1 - height):  # missed: read where its label would be
            labels.extend(_near_labels(deskewed, box, height, checkbox))
            k = box_label(box, labels, checkbox)
        if k is None:
            continue
        key = labels[k].key
        names[key] = names.get(key, 0) + 1
        name = key if names[key] == 1 else f"{key} {names[key]}"
        fields.append(FormField(name, "checkbox" if checkbox else "text", box, {"label": labels[k].text}))
    distinct = len({f.spec["label"] for f in fields})
    return (lines, fields) if distinct >= 2 and distinct >= 0.5 * len(fields) and len(fields) >= LABELLED * len(boxes) else None


def boxed_form(page: np.ndarray, deskewed: np.ndarray, angle: float) -> FormLayout | None:
    """:func:`boxed_fields` of a page (gray) that segmentation turned by ``angle`` degrees into
    ``deskewed``, cut as a template's fields are (``forms.cut_fields``: the box edges taken
    out); the layout's template name is empty. None unless it is such a form."""
    found = boxed_fields(deskewed)
    if found is None:
        return None
    lines, fields = found
    h, w = deskewed.shape
    to_deskewed = np.vstack([cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0), [0.0, 0.0, 1.0]])
    edges = np.zeros_like(lines)  # only a box's own edges are taken out, never strokes inside it
    for f in fields:
        b = f.box
        cv2.rectangle(edges, (b.x0, b.y0), (b.x1 - 1, b.y1 - 1), 255, 2 * EDGE + 1)
    frame = FormTemplate("", cast(np.ndarray, 255 - (lines & edges)), fields)
    return cut_fields(page, FormMatch(frame, to_deskewed, 0))
