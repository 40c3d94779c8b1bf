"""``htr reindex``: the keyword index of documents read before it existed,
rebuilt from their stored page images and line boxes (no re-segmentation,
transcripts untouched). A reviewed line's index is its corrected words."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload, sessionmaker

from ..db import Document, Line, Page, WordCandidate
from ..db.corrections import certain_candidates
from ..io.store import Store, stored_gray
from .relines import box_crop


def _candidates_of_reading(line: Line, rec, x_offset: int) -> list[WordCandidate]:
    out = []
    for wi, w in enumerate(rec.words):
        x0 = min(max(int(x_offset + w.x0), line.x0), line.x1 - 1)
        x1 = max(x0 + 1, min(int(x_offset + w.x1), line.x1))
        out += WordCandidate.of_word(wi, [(a.text, a.probability) for a in w.alternatives], (x0, line.y0, x1, line.y1))
    return out


def reindex_document(doc_id: int, sessions: sessionmaker, store: Store, predictor) -> int:
    """Rebuild one document's keyword index; the number of lines indexed.
    ``predictor`` must give alternatives (``keywords=True``)."""
    indexed = 0
    with sessions() as s:
        pages = s.scalars(
            select(Page)
            .where(Page.document_id == doc_id)
            .order_by(Page.index)
            .options(selectinload(Page.lines).selectinload(Line.words), selectinload(Page.lines).selectinload(Line.candidates))
        ).all()
        for page in pages:
            if not page.lines:
                continue
            image = stored_gray(store, page.image_key)
            todo, crops, offsets = [], [], []
            for line in page.lines:
                if line.reviewed_at is not None:
                    line.candidates.clear()
                    s.flush()
                    line.candidates.extend(certain_candidates(line.words))
                    indexed += 1
                    continue
                if image is None:
                    continue
                crop, x0 = box_crop(image, line)
                if crop.size == 0:
                    continue
                todo.append(line)
                crops.append(crop)
                offsets.append(x0)
            for line, rec, off in zip(todo, predictor.predict(crops) if crops else [], offsets):
                line.candidates.clear()
                s.flush()
                line.candidates.extend(_candidates_of_reading(line, rec, off))
                indexed += 1
            s.commit()
        if s.get(Document, doc_id) is None:
            raise KeyError(f"no document {doc_id}")
    return indexed
