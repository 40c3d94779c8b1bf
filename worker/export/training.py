"""Reviewed lines as training data: ``htr corrections export DIR``.

Writes each reviewed line's crop from its stored page image (or, for
self-training, each run of surely read words') and ``labels.tsv`` (``file<TAB>text``, the folder format ``htr train`` and
``htr evaluate`` read), plus ``manifest.json``: the documents, lines,
reviewers and model versions the lines came from. Only lines a person
reviewed as a whole are written.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Document, Line, ModelVersion, Page, Word, utcnow
from ..io.store import Store, stored_gray

CROP_MARGIN = 4  # px of page around the line box, as segmentation cuts line crops


def export_corrections(
    session: Session, store: Store, out_dir: str | Path, document_id: int | None = None, since: datetime | None = None
) -> dict:
    """The lines people reviewed (all, one document's, or since a time)."""
    q = _lines().where(Line.reviewed_at.is_not(None), Line.text != "")
    if document_id is not None:
        q = q.where(Document.id == document_id)
    if since is not None:
        q = q.where(Line.reviewed_at >= since)
    crops = [
        Crop.of(
            doc,
            page,
            line,
            line.text,
            reviewed_by=line.reviewed_by,
            reviewed_at=line.reviewed_at.isoformat() if line.reviewed_at else None,
        )
        for line, page, doc in session.execute(q).all()
    ]
    return _write(session, store, Path(out_dir), crops, "lines", {"since": since.isoformat() if since else None})


def export_confident(
    session: Session, store: Store, out_dir: str | Path, document_ids: list[int], min_confidence: float = 0.95
) -> dict:
    """Self-training data: in the documents' unreviewed lines, each run of consecutive words
    read at calibrated confidence ``min_confidence`` or more, cut at the line's height from
    its first word to its last and labelled with what was read (no person involved). Runs,
    not lines: a line is rarely sure in every word; runs, not single words: the model reads
    lines, spaces and neighbouring words included."""
    q = (
        select(Word, Line, Page, Document)
        .join(Line, Line.id == Word.line_id)
        .join(Page, Page.id == Line.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(Document.id.in_(document_ids), Line.reviewed_at.is_(None), Word.confidence >= min_confidence, Word.text != "")
        .order_by(Document.id, Page.index, Line.index, Word.index)
    )
    crops: list[Crop] = []
    words = 0
    for _, rows in groupby(session.execute(q).all(), key=lambda row: row[1].id):
        run: list = []
        for row in [*rows, None]:
            if run and (row is None or row[0].index != run[-1][0].index + 1):
                crops.append(Crop.of(run[0][3], run[0][2], run[0][1], " ".join(r[0].text for r in run), span=[r[0] for r in run]))
                words += len(run)
                run = []
            if row is not None:
                run.append(row)
    extra = {"self_train": {"documents": document_ids, "min_confidence": min_confidence}, "word_count": words}
    return _write(session, store, Path(out_dir), crops, "spans", extra)


@dataclass
class Crop:
    page: Page
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 on the page
    file: str
    text: str
    entry: dict  # the manifest's record of it

    @classmethod
    def of(cls, doc: Document, page: Page, line: Line, text: str, span: list[Word] | None = None, **entry) -> Crop:
        """A line's crop, or with ``span`` (consecutive words of the line) theirs: the line's
        height, from the first word's left edge to the last's right edge."""
        name = f"d{doc.id}_p{page.index + 1:04d}_l{line.index + 1:03d}"
        where: dict[str, object] = {"document_id": doc.id, "page": page.index + 1, "line": line.index + 1, "line_id": line.id}
        box, file = (line.x0, line.y0, line.x1, line.y1), f"lines/{name}.png"
        if span:
            first, last = span[0].index + 1, span[-1].index + 1
            box, file = (span[0].x0, line.y0, span[-1].x1, line.y1), f"spans/{name}_w{first:02d}-{last:02d}.png"
            where["words"] = [first, last]
            where["confidence"] = round(min(w.confidence for w in span), 4)
        return cls(page, box, file, text, {**where, **entry, "model_version_id": doc.model_version_id})


def _lines():
    return (
        select(Line, Page, Document)
        .join(Page, Page.id == Line.page_id)
        .join(Document, Document.id == Page.document_id)
        .order_by(Document.id, Page.index, Line.index)
    )


def _write(session: Session, store: Store, out: Path, crops: list[Crop], kind: str, extra: dict) -> dict:
    (out / kind).mkdir(parents=True, exist_ok=True)
    labels: list[str] = []
    entries: list[dict] = []
    images: dict[int, np.ndarray | None] = {}
    for c in crops:
        if c.page.id not in images:
            images = {c.page.id: stored_gray(store, c.page.image_key)}  # crops come page by page: keep one page in memory
        img = images[c.page.id]
        if img is None:
            continue
        x0, y0, x1, y1 = c.box
        crop = img[max(0, y0 - CROP_MARGIN) : y1 + CROP_MARGIN, max(0, x0 - CROP_MARGIN) : x1 + CROP_MARGIN]
        if crop.size == 0:
            continue
        cv2.imwrite(str(out / c.file), crop)
        labels.append(f"{c.file}\t{c.text}")
        entries.append({"file": c.file, **c.entry})
    (out / "labels.tsv").write_text("".join(f"{row}\n" for row in labels), encoding="utf-8")
    versions = {
        mv.id: f"{mv.name} {mv.version}"
        for mv in session.scalars(select(ModelVersion).where(ModelVersion.id.in_({e["model_version_id"] for e in entries})))
    }
    manifest = {
        "exported_at": utcnow().isoformat(),
        kind: entries,
        f"{kind[:-1]}_count": len(entries),
        "documents": sorted({e["document_id"] for e in entries}),
        "reviewers": dict(Counter(e["reviewed_by"] for e in entries if e.get("reviewed_by"))),
        "model_versions": {versions.get(k, str(k)): n for k, n in Counter(e["model_version_id"] for e in entries).items()},
        **extra,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest
