"""The document pipeline as plain functions: store → render → segment → recognize → persist.

``htr process`` calls these in-process; Celery tasks (issue 4) call the same
functions. A document is identified by the sha256 of its bytes, so registering
or processing the same file again writes nothing new. Pages are rendered and
segmented one at a time; their line crops are buffered and recognized in
batches that span pages, then the pages are written (replacing any earlier
rows for the same page, so a retried page is stored once).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from segmentation import CROP_MARGIN, Box, PageLayout, line_crops, segment_page, to_page_box

from .db import Document, Line, ModelVersion, Page, Status, Word, utcnow
from .documents import BadInput, iter_pages

LINE_BATCH = 64  # lines buffered before recognition runs


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def register_document(session: Session, store, path: str | Path, source: str | None = None) -> tuple[Document, bool]:
    """Put a file in the store and record it; (document, created). Same bytes → same document."""
    digest = sha256_file(path)
    existing = session.scalar(select(Document).where(Document.content_hash == digest))
    if existing is not None:
        return existing, False
    key = f"originals/{digest[:2]}/{digest}{Path(path).suffix.lower()}"
    if not store.exists(key):
        store.put_file(key, path)
    doc = Document(source=source or str(path), store_key=key, content_hash=digest, status=Status.QUEUED, attempts=0)
    session.add(doc)
    session.commit()
    return doc, True


def model_version(session: Session, predictor_bundle) -> ModelVersion:
    mv = session.scalar(select(ModelVersion).where(ModelVersion.name == predictor_bundle.name, ModelVersion.version == predictor_bundle.version))
    if mv is None:
        mv = ModelVersion(name=predictor_bundle.name, version=predictor_bundle.version, metrics={k: v for k, v in predictor_bundle.metrics.items() if k != "reliability_held_out"})
        session.add(mv)
        session.commit()
    return mv


@dataclass
class _PendingPage:
    index: int
    dpi: int
    layout: PageLayout
    image_key: str | None
    crops: list[np.ndarray]


@dataclass
class Timings:
    seconds: dict = field(default_factory=lambda: {"render": 0.0, "segment": 0.0, "recognize": 0.0, "persist": 0.0})

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - t0
        return now


def _persist_page(session: Session, doc: Document, pending: _PendingPage, recs) -> None:
    session.execute(delete(Page).where(Page.document_id == doc.id, Page.index == pending.index))
    layout = pending.layout
    page = Page(document_id=doc.id, index=pending.index, width=layout.width, height=layout.height,
                dpi=pending.dpi, skew_degrees=float(layout.angle), image_key=pending.image_key)
    for li, (line, rec) in enumerate(zip(layout.lines, recs)):
        pb = line.page_box
        row = Line(index=li, x0=pb.x0, y0=pb.y0, x1=pb.x1, y1=pb.y1, text=rec.text, confidence=float(rec.confidence))
        for wi, w in enumerate(rec.words):
            # Word x-span from the CTC alignment, in crop pixels -> page pixels.
            x0 = int(line.box.x0 + w.x0 - CROP_MARGIN)
            x1 = int(line.box.x0 + w.x1 - CROP_MARGIN)
            x0, x1 = max(line.box.x0, min(x0, line.box.x1)), max(line.box.x0, min(max(x1, x0 + 1), line.box.x1))
            wb = to_page_box(layout, Box(x0, line.box.y0, x1, line.box.y1))
            row.words.append(Word(index=wi, x0=wb.x0, y0=wb.y0, x1=wb.x1, y1=wb.y1, text=w.text, confidence=float(w.confidence)))
        page.lines.append(row)
    session.add(page)


def process_document(
    doc_id: int,
    sessions: sessionmaker,
    store,
    predictor,
    bundle=None,
    keep_page_images: bool = True,
    on_page: Callable[[int, int | None], None] | None = None,
) -> Document:
    """Render, segment, recognize and persist one registered document.

    Bad input marks the document failed with the reason and returns; other
    errors (store, database) propagate so the caller can retry.
    """
    timings = Timings()
    with sessions() as session:
        doc = session.get(Document, doc_id)
        if doc is None:
            raise KeyError(f"no document {doc_id}")
        if doc.status == Status.DONE:
            return doc
        doc.status = Status.PROCESSING
        doc.attempts += 1
        doc.started_at = utcnow()
        doc.error = None
        if bundle is not None:
            doc.model_version_id = model_version(session, bundle).id
        session.commit()
        pending: list[_PendingPage] = []

        def flush() -> None:
            nonlocal doc
            if not pending:
                return
            t0 = time.perf_counter()
            crops = [c for p in pending for c in p.crops]
            recs = predictor.predict(crops) if crops else []
            t0 = timings.add("recognize", t0)
            k = 0
            for p in pending:
                _persist_page(session, doc, p, recs[k : k + len(p.crops)])
                k += len(p.crops)
            session.commit()
            # Written pages leave the session: memory stays flat in document length.
            session.expunge_all()
            doc = session.get(Document, doc_id)
            timings.add("persist", t0)
            pending.clear()

        try:
            n_pages = 0
            with store.local_copy(doc.store_key) as local:
                t0 = time.perf_counter()
                for page in iter_pages(local):
                    t0 = timings.add("render", t0)
                    layout = segment_page(page.image)
                    crops = line_crops(layout)
                    layout.deskewed = None  # the crops hold what recognition needs
                    t0 = timings.add("segment", t0)
                    key = None
                    if keep_page_images:
                        ok, buf = cv2.imencode(".png", page.image)
                        key = f"pages/{doc.content_hash}/{page.index:05d}.png"
                        store.put_bytes(key, buf.tobytes())
                    pending.append(_PendingPage(page.index, page.dpi, layout, key, crops))
                    n_pages += 1
                    if sum(len(p.crops) for p in pending) >= LINE_BATCH:
                        flush()
                    if on_page:
                        on_page(n_pages, None)
                    t0 = time.perf_counter()
                flush()
            if n_pages == 0:
                raise BadInput("document has no pages")
            doc.status = Status.DONE
            doc.page_count = n_pages
        except BadInput as exc:
            session.rollback()
            doc = session.get(Document, doc_id)
            doc.status = Status.FAILED
            doc.error = str(exc)
        doc.finished_at = utcnow()
        doc.timings = {k: round(v, 3) for k, v in timings.seconds.items()}
        session.commit()
        return doc
