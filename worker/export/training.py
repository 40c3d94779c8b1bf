"""Reviewed lines as training data: ``htr corrections export DIR``.

Writes each reviewed line's crop from its stored page image and
``labels.tsv`` (``file<TAB>text``, the folder format ``htr train`` and
``htr evaluate`` read), plus ``manifest.json``: the documents, lines,
reviewers and model versions the lines came from. Only lines a person
reviewed as a whole are written.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import Document, Line, ModelVersion, Page, Word, utcnow

CROP_MARGIN = 4  # px of page around the line box, as segmentation cuts line crops


def export_corrections(
    session: Session, store, out_dir: str | Path, document_id: int | None = None, since: datetime | None = None
) -> dict:
    """The lines people reviewed (all, one document's, or since a time)."""
    q = _lines().where(Line.reviewed_at.is_not(None), Line.text != "")
    if document_id is not None:
        q = q.where(Document.id == document_id)
    if since is not None:
        q = q.where(Line.reviewed_at >= since)
    return _write(session, store, Path(out_dir), session.execute(q).all(), {"since": since.isoformat() if since else None})


def export_confident(session: Session, store, out_dir: str | Path, document_ids: list[int], min_confidence: float = 0.95) -> dict:
    """Self-training data: the documents' unreviewed lines whose every word was
    read at calibrated confidence ``min_confidence`` or more, labelled with what
    was read (no person involved)."""
    sure = select(Word.line_id).group_by(Word.line_id).having(func.min(Word.confidence) >= min_confidence)
    q = _lines().where(Document.id.in_(document_ids), Line.reviewed_at.is_(None), Line.text != "", Line.id.in_(sure))
    return _write(
        session,
        store,
        Path(out_dir),
        session.execute(q).all(),
        {"self_train": {"documents": document_ids, "min_confidence": min_confidence}},
    )


def _lines():
    return (
        select(Line, Page, Document)
        .join(Page, Page.id == Line.page_id)
        .join(Document, Document.id == Page.document_id)
        .order_by(Document.id, Page.index, Line.index)
    )


def _write(session: Session, store, out: Path, rows, extra: dict) -> dict:
    (out / "lines").mkdir(parents=True, exist_ok=True)
    labels: list[str] = []
    entries: list[dict] = []
    images: dict[int, np.ndarray | None] = {}
    for line, page, doc in rows:
        if page.id not in images:
            images = {page.id: _page_image(store, page)}  # lines come page by page: keep one page in memory
        img = images[page.id]
        if img is None:
            continue
        crop = img[max(0, line.y0 - CROP_MARGIN) : line.y1 + CROP_MARGIN, max(0, line.x0 - CROP_MARGIN) : line.x1 + CROP_MARGIN]
        if crop.size == 0:
            continue
        name = f"lines/d{doc.id}_p{page.index + 1:04d}_l{line.index + 1:03d}.png"
        cv2.imwrite(str(out / name), crop)
        labels.append(f"{name}\t{line.text}")
        entries.append(
            {
                "file": name,
                "document_id": doc.id,
                "page": page.index + 1,
                "line": line.index + 1,
                "line_id": line.id,
                "reviewed_by": line.reviewed_by,
                "reviewed_at": line.reviewed_at.isoformat() if line.reviewed_at else None,
                "model_version_id": doc.model_version_id,
            }
        )
    (out / "labels.tsv").write_text("".join(f"{row}\n" for row in labels), encoding="utf-8")
    versions = {
        mv.id: f"{mv.name} {mv.version}"
        for mv in session.scalars(select(ModelVersion).where(ModelVersion.id.in_({e["model_version_id"] for e in entries})))
    }
    manifest = {
        "exported_at": utcnow().isoformat(),
        "lines": entries,
        "line_count": len(entries),
        "documents": sorted({e["document_id"] for e in entries}),
        "reviewers": dict(Counter(e["reviewed_by"] for e in entries if e["reviewed_by"])),
        "model_versions": {versions.get(k, str(k)): n for k, n in Counter(e["model_version_id"] for e in entries).items()},
        **extra,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _page_image(store, page: Page) -> np.ndarray | None:
    if not page.image_key:
        return None
    try:
        data = store.get_bytes(page.image_key)
    except FileNotFoundError:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
