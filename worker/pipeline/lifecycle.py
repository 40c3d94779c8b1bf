"""A document's life in the database, the same for both runners.

    register_document   checked, stored once by content, recorded queued (or failed, unread)
    begin_document      queued/failed → processing (one more attempt)
    store_page          one recognized page written, with a register's cells as fields (a
                        page already stored is kept as it is, unless it is read again on
                        purpose: ``htr reprocess``); the document is done when its last
                        page is stored, and its fields get one key per column then
    fail_document       the reason recorded; a done document stays done
    interrupt_document  Ctrl-C: back to queued, the pages stored so far kept

A document is identified by the sha256 of its bytes, so registering or
processing the same file again writes nothing new. Processing never deletes a
line a person reviewed, nor its history: a page read again keeps its reviewed
lines (each in place of the new line it overlaps most, with a ``reprocess``
history row) and only its unreviewed lines are replaced.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recognition import document

from ..db import Document, Line, LineEdit, ModelVersion, Page, Status, Word, WordCandidate, utcnow
from ..io import keys
from ..io.documents import BadInput, Limits, page_count
from .fields import store_fields, unify_keys
from .pages import PageWork


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def register_document(
    session: Session, store, path: str | Path, source: str | None = None, limits: Limits | None = None
) -> tuple[Document, bool]:
    """Check a file, put it in the store and record it; (document, created).
    Same bytes → same document. A file that fails the checks that need no
    rendering (type, size, pages, pixels; links, folders and special files
    refused unread) is recorded failed with the reason and never stored; the
    same rejected path gives the same row."""
    try:
        page_count(path, limits)
    except BadInput as exc:
        return _rejected(session, path, source, str(exc))
    digest = sha256_file(path)
    existing = session.scalar(select(Document).where(Document.content_hash == digest))
    if existing is not None:
        return existing, False
    key = keys.original(digest, Path(path).name)
    if not store.exists(key):
        store.put_file(key, path)
    doc = Document(source=source or str(path), store_key=key, content_hash=digest, status=Status.QUEUED, attempts=0)
    session.add(doc)
    session.commit()
    return doc, True


def _rejected(session: Session, path: str | Path, source: str | None, reason: str) -> tuple[Document, bool]:
    key = hashlib.sha256(f"rejected\0{Path(path).absolute()}\0{reason}".encode()).hexdigest()
    existing = session.scalar(select(Document).where(Document.content_hash == key))
    if existing is not None:
        return existing, False
    doc = Document(
        source=source or str(path),
        store_key=None,
        content_hash=key,
        status=Status.FAILED,
        error=reason,
        attempts=0,
        finished_at=utcnow(),
    )
    session.add(doc)
    session.commit()
    return doc, True


def model_version(session: Session, bundle) -> ModelVersion:
    """The row of a loaded model bundle in model_versions (created on first use)."""
    mv = session.scalar(select(ModelVersion).where(ModelVersion.name == bundle.name, ModelVersion.version == bundle.version))
    if mv is None:
        mv = ModelVersion(
            name=bundle.name,
            version=bundle.version,
            metrics={k: v for k, v in bundle.metrics.items() if not k.startswith("reliability")},
        )
        session.add(mv)
        session.commit()
    return mv


def begin_document(session: Session, doc_id: int) -> Document | None:
    """Mark a document processing (one more attempt); None if it is already
    done or was rejected at registration (nothing stored to process)."""
    doc = session.get(Document, doc_id)
    if doc is None:
        raise KeyError(f"no document {doc_id}")
    if doc.status == Status.DONE or doc.store_key is None:
        return None
    doc.status = Status.PROCESSING
    doc.attempts += 1
    doc.started_at = utcnow()
    doc.finished_at = None
    doc.error = None
    session.commit()
    return doc


MATCH_IOU = 0.3  # a reviewed line stands in for the new line it overlaps at least this much


def _new_lines(read: document.Page) -> list[Line]:
    """The rows of a read page's lines, words and keyword index (its words' probable spellings)."""
    lines = []
    for li, ln in enumerate(read.lines):
        x0, y0, x1, y1 = ln.box
        row = Line(index=li, x0=x0, y0=y0, x1=x1, y1=y1, text=ln.text, confidence=ln.confidence)
        for wi, w in enumerate(ln.words):
            wx0, wy0, wx1, wy1 = w.box
            row.words.append(Word(index=wi, x0=wx0, y0=wy0, x1=wx1, y1=wy1, text=w.text, confidence=w.confidence))
            # The keyword index, in the same transaction as the transcript.
            row.candidates += WordCandidate.of_word(wi, [(a.text, a.probability) for a in w.alternatives], w.box)
        lines.append(row)
    return lines


def _iou(a: Line, b: Line) -> float:
    ix = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union > 0 else 0.0


def _reread_page(session: Session, page: Page, work: PageWork, read: document.Page, model_version_id: int | None) -> None:
    """A stored page read again: its unreviewed lines give way to the new reading; each
    reviewed line stays (its row, words and history) in place of the new line it overlaps
    most, with a ``reprocess`` history row; a reviewed line that no new line overlaps stays
    too, in reading order by its height on the page."""
    page.width, page.height, page.dpi, page.skew_degrees = work.width, work.height, work.dpi, work.angle
    page.image_key = work.image_key or page.image_key
    reviewed = [ln for ln in page.lines if ln.reviewed_at is not None]
    for ln in [ln for ln in page.lines if ln.reviewed_at is None]:
        page.lines.remove(ln)  # machine output only: deleted with its words and index entries
    for k, ln in enumerate(reviewed):
        ln.index = -1 - k  # out of the way of the new numbering
    session.flush()
    order: list[Line] = _new_lines(read)
    for ln in reviewed:
        free = [n for n in order if n.id is None]
        best = max(free, key=lambda n: _iou(ln, n), default=None)
        if best is not None and _iou(ln, best) >= MATCH_IOU:
            order[order.index(best)] = ln
            session.add(
                LineEdit(
                    line_id=ln.id,
                    user_name=ln.reviewed_by or "?",
                    at=utcnow(),
                    action="reprocess",
                    old_text=best.text,
                    new_text=ln.text,
                    model_version_id=model_version_id,
                )
            )
        else:
            middle = (ln.y0 + ln.y1) / 2
            at = next((i for i, n in enumerate(order) if (n.y0 + n.y1) / 2 > middle), len(order))
            order.insert(at, ln)
    for i, ln in enumerate(order):
        ln.index = i
        if ln.id is None:
            page.lines.append(ln)
    session.flush()


def store_page(session: Session, doc_id: int, work: PageWork, recs, model_version_id: int | None, reread: bool = False) -> bool:
    """Write one recognized page, record the model that read it, and mark the
    document done when this was its last page. A page already stored is kept
    as it is (a page written twice is stored once), unless ``reread`` (``htr
    reprocess``): then its unreviewed lines are replaced and its reviewed lines
    kept (:func:`_reread_page`). The document's row lock comes first, so pages
    finishing together take turns and the last sees them all. The caller
    commits. Returns whether the document is now done."""
    doc = session.get(Document, doc_id, with_for_update=True)
    if doc is None:
        raise KeyError(f"no document {doc_id}")
    stored = session.scalar(select(Page).where(Page.document_id == doc_id, Page.index == work.index))
    read = work.page_model(recs)  # the page in the document model: what is stored
    if stored is None:
        page = Page(
            document_id=doc_id,
            index=work.index,
            width=work.width,
            height=work.height,
            dpi=work.dpi,
            skew_degrees=work.angle,
            image_key=work.image_key,
        )
        page.lines.extend(_new_lines(read))
        store_fields(session, doc_id, page, work, read)
        session.add(page)
    elif reread:
        _reread_page(session, stored, work, read, model_version_id)
        store_fields(session, doc_id, stored, work, read, reread=True)
    else:
        return finish_document(session, doc)
    if model_version_id is not None:
        doc.model_version_id = model_version_id
    session.flush()
    return finish_document(session, doc)


def stored_pages(session: Session, doc_id: int) -> set[int]:
    """The indices of a document's pages already stored."""
    return set(session.scalars(select(Page.index).where(Page.document_id == doc_id)))


def finish_document(session: Session, doc: Document) -> bool:
    """Mark a processing document done when all its pages are stored (a register's fields get
    one key per column then: :func:`fields.unify_keys`). Returns whether it is done."""
    if doc.status == Status.DONE:
        return True
    stored = session.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc.id)) or 0
    if doc.status == Status.PROCESSING and doc.page_count is not None and stored >= doc.page_count:
        doc.status = Status.DONE
        doc.finished_at = utcnow()
        unify_keys(session, doc.id)
        return True
    return False


def fail_document(session: Session, doc_id: int, reason: str) -> None:
    """Record why a document cannot be processed. Pages already stored stay.
    A document that is done stays done (the error came from a stale delivery)."""
    session.rollback()
    doc = session.get(Document, doc_id)
    if doc is None:
        raise KeyError(f"no document {doc_id}")
    if doc.status == Status.DONE:
        return
    doc.status = Status.FAILED
    doc.error = reason
    doc.finished_at = utcnow()
    session.commit()


def interrupt_document(session: Session, doc_id: int) -> tuple[int, int | None]:
    """Ctrl-C: the pages committed so far stay, the rest of the work is rolled
    back, and the document waits (queued) for the next run, which continues
    from its first unread page. Returns (pages kept, page count)."""
    session.rollback()
    doc = session.get(Document, doc_id)
    if doc is None:
        raise KeyError(f"no document {doc_id}")
    kept = len(stored_pages(session, doc_id))
    if doc.status != Status.DONE:
        doc.status = Status.QUEUED
        total = "?" if doc.page_count is None else doc.page_count
        doc.error = f"interrupted with {kept} of {total} pages read (kept); processing it again continues from there"
        doc.finished_at = None
    session.commit()
    return kept, doc.page_count
