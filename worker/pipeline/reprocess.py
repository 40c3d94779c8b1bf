"""``htr reprocess``: read documents again (with the promoted model, or a
chosen one) and keep what people corrected.

Before the pages are read again, each reviewed line is remembered with its
page, box, text and edit history; afterwards it is laid on the new line that
overlaps it most on the same page (IoU ≥ ``MATCH_IOU``), whose text becomes
the person's again, with the history carried over and one ``reprocess``
row. A reviewed line that no new line matches is reported, not lost silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ..db import Document, Line, LineEdit, Page, Status, utcnow
from ..db.corrections import review_line
from .inprocess import process_document

log = logging.getLogger(__name__)

MATCH_IOU = 0.3


@dataclass
class _Reviewed:
    page: int
    box: tuple[int, int, int, int]
    text: str
    by: str
    at: datetime | None
    edits: list[dict] = field(default_factory=list)


@dataclass
class ReprocessResult:
    document_id: int
    status: str
    corrections_kept: int
    corrections_unmatched: list[str]
    model: str | None


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _remember(session, doc_id: int) -> list[_Reviewed]:
    rows = session.execute(
        select(Line, Page.index)
        .join(Page, Page.id == Line.page_id)
        .where(Page.document_id == doc_id, Line.reviewed_at.is_not(None))
    ).all()
    out = []
    for line, page_index in rows:
        edits = session.scalars(select(LineEdit).where(LineEdit.line_id == line.id).order_by(LineEdit.at, LineEdit.id))
        out.append(
            _Reviewed(
                page_index,
                (line.x0, line.y0, line.x1, line.y1),
                line.text,
                line.reviewed_by or "?",
                line.reviewed_at,
                [
                    {
                        "user_name": e.user_name,
                        "at": e.at,
                        "action": e.action,
                        "old_text": e.old_text,
                        "new_text": e.new_text,
                        "model_version_id": e.model_version_id,
                    }
                    for e in edits
                ],
            )
        )
    return out


def reprocess_document(doc_id: int, sessions: sessionmaker, store, models, **kwargs) -> ReprocessResult:
    """Read a document again with ``models`` (a ``registry.ModelSource`` or a
    predictor, as :func:`process_document` takes) and put people's corrections back."""
    with sessions() as s:
        doc = s.get(Document, doc_id)
        if doc is None:
            raise KeyError(f"no document {doc_id}")
        if doc.store_key is None:
            return ReprocessResult(doc_id, doc.status, 0, [], None)
        reviewed = _remember(s, doc_id)
        doc.status = Status.QUEUED
        s.commit()
    doc = process_document(doc_id, sessions, store, models, **kwargs)
    kept, unmatched = 0, []
    with sessions() as s:
        lines_by_page: dict[int, list[Line]] = {}
        for line, page_index in s.execute(select(Line, Page.index).join(Page).where(Page.document_id == doc_id)).all():
            lines_by_page.setdefault(page_index, []).append(line)
        taken: set[int] = set()
        for r in reviewed:
            best, score = None, MATCH_IOU
            for line in lines_by_page.get(r.page, []):
                iou = _iou(r.box, (line.x0, line.y0, line.x1, line.y1))
                if line.id not in taken and iou >= score:
                    best, score = line, iou
            if best is None:
                unmatched.append(f"page {r.page + 1}: {r.text}")
                continue
            taken.add(best.id)
            for e in r.edits:
                s.add(LineEdit(line_id=best.id, **e))
            recognized = best.text
            review_line(s, best.id, r.by, r.text)
            best.reviewed_at = r.at
            last = s.scalars(select(LineEdit).where(LineEdit.line_id == best.id).order_by(LineEdit.id.desc())).first()
            if last is not None:
                last.action, last.at, last.old_text = "reprocess", utcnow(), recognized
            kept += 1
        s.commit()
        model = None
        d = s.get(Document, doc_id)
        if d is not None and d.model_version is not None:
            model = f"{d.model_version.name} {d.model_version.version}"
    if unmatched:
        log.warning("document %s: %d reviewed lines found no line to go on: %s", doc_id, len(unmatched), unmatched)
    return ReprocessResult(doc_id, str(doc.status), kept, unmatched, model)
