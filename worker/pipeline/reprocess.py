"""``htr reprocess``: read documents again (with the promoted model, or a
chosen one) and keep what people corrected.

Every page is read again and stored in one transaction per batch of pages
(:func:`worker.pipeline.lifecycle.store_page` with ``reread``): its unreviewed
lines give way to the new reading, and each reviewed line stays as it is (its
row, text, words and history) in place of the new line that overlaps it most
on the same page (IoU ≥ ``MATCH_IOU``), with one ``reprocess`` history row
(what the new model read, the person's text). A reviewed line that no new line
overlaps stays too, and is reported. An interrupted reprocess loses nothing:
the pages not yet read again are as they were.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from ..db import Document, Line, LineEdit, Page, Status
from ..io.store import Store
from .inprocess import process_document
from .lifecycle import MATCH_IOU

log = logging.getLogger(__name__)

__all__ = ["MATCH_IOU", "ReprocessResult", "reprocess_document"]


@dataclass
class ReprocessResult:
    document_id: int
    status: str
    corrections_kept: int  # reviewed lines, all kept
    corrections_unmatched: list[str]  # of those, the ones no new line overlaps ("page N: text")
    model: str | None


def reprocess_document(doc_id: int, sessions: sessionmaker, store: Store, models, **kwargs) -> ReprocessResult:
    """Read a document again with ``models`` (a ``registry.ModelSource`` or a
    predictor, as :func:`process_document` takes), people's corrections kept."""
    with sessions() as s:
        doc = s.get(Document, doc_id)
        if doc is None:
            raise KeyError(f"no document {doc_id}")
        if doc.store_key is None:
            return ReprocessResult(doc_id, doc.status, 0, [], None)
        reviewed = s.execute(
            select(Line.id, Page.index, Line.text)
            .join(Page, Page.id == Line.page_id)
            .where(Page.document_id == doc_id, Line.reviewed_at.is_not(None))
            .order_by(Page.index, Line.index)
        ).all()
        last_edit = s.scalar(select(func.max(LineEdit.id))) or 0
        doc.status = Status.QUEUED
        s.commit()
    doc = process_document(doc_id, sessions, store, models, reread=True, **kwargs)
    with sessions() as s:
        laid = set(s.scalars(select(LineEdit.line_id).where(LineEdit.id > last_edit, LineEdit.action == "reprocess")))
        still = set(s.scalars(select(Line.id).where(Line.id.in_([r[0] for r in reviewed])))) if reviewed else set()
        unmatched = [f"page {page + 1}: {text}" for line_id, page, text in reviewed if line_id in still and line_id not in laid]
        model = None
        d = s.get(Document, doc_id)
        if d is not None and d.model_version is not None:
            model = f"{d.model_version.name} {d.model_version.version}"
    if unmatched:
        log.warning(
            "document %s: %d reviewed lines overlap no new line (kept as they were): %s", doc_id, len(unmatched), unmatched
        )
    return ReprocessResult(doc_id, str(doc.status), len(still), unmatched, model)
