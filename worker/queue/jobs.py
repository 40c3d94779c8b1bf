"""Producing work and watching it: submit, scan and status as plain functions.

``enqueue`` is passed in (the CLI gives Celery's ``apply_async``), so nothing
here depends on the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..db import Document, Page, Status, TaskRun, WorkerDeath, as_utc, utcnow
from ..io.documents import Limits
from ..io.store import S3Store, Store, split_s3_url
from ..pipeline import register_document


class Enqueue(Protocol):
    """The queue as submitting sees it: a registered document handed on for processing (Celery's
    ``apply_async`` of the start task, ``tasks.enqueue``; a test's list append)."""

    def __call__(self, doc_id: int, /) -> None: ...


@dataclass
class Submitted:
    path: str
    id: int | None
    status: str  # the document's status, or "failed" when it could not be read
    created: bool  # False: the same bytes (or S3 object) were already known
    error: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _s3_objects(url: str) -> Iterator[tuple[str, S3Store, str]]:
    """(source URL, store, key) for every object under s3://bucket/prefix."""
    bucket, prefix = split_s3_url(url)
    src = S3Store(bucket)
    for key in src.list(prefix):
        if not key.endswith("/"):
            yield f"s3://{bucket}/{key}", src, key


def _known_source(session: Session, source: str) -> Document | None:
    return session.scalar(select(Document).where(Document.source == source).limit(1))


def _register(
    sessions: sessionmaker, store: Store, path: Path, source: str, enqueue: Enqueue, limits: Limits | None
) -> Submitted:
    with sessions() as s:
        doc, created = register_document(s, store, path, source=source, limits=limits)
        doc_id, status, error = doc.id, doc.status, doc.error
    if created and status == Status.QUEUED:
        enqueue(doc_id)
    return Submitted(source, doc_id, status, created, error)


def submit(
    sessions: sessionmaker, store: Store, targets: Iterable[str], enqueue: Enqueue, limits: Limits | None = None
) -> Iterator[Submitted]:
    """Store and record each file (folders are walked, s3://bucket/prefix is
    listed) and enqueue the new ones; the same bytes are never queued twice."""
    for target in targets:
        if target.startswith("s3://"):
            for source, src, key in _s3_objects(target):
                with sessions() as s:
                    known = _known_source(s, source)
                if known is not None:
                    yield Submitted(source, known.id, known.status, False)
                    continue
                with src.local_copy(key) as local:
                    yield _register(sessions, store, local, source, enqueue, limits)
            continue
        p = Path(target)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            if not f.is_file():
                yield Submitted(str(f), None, Status.FAILED, False, "no such file")
                continue
            yield _register(sessions, store, f, str(f.resolve()), enqueue, limits)


def scan_prefix(
    sessions: sessionmaker, store: Store, url: str, enqueue: Enqueue, limits: Limits | None = None
) -> list[Submitted]:
    """The nightly job: enqueue the objects under ``url`` not seen before."""
    return [r for r in submit(sessions, store, [url], enqueue, limits) if r.created]


def status(session: Session, window_minutes: int = 60) -> dict:
    """Counts per state, recent throughput and an ETA for what is waiting."""
    counts: dict[str, int] = dict.fromkeys(Status, 0)
    for st, n in session.execute(select(Document.status, func.count()).group_by(Document.status)):
        counts[st] = n
    since = utcnow() - timedelta(minutes=window_minutes)
    finished = session.execute(
        select(Document.started_at, Document.finished_at, Document.page_count).where(
            Document.status == Status.DONE, Document.finished_at >= since
        )
    ).all()
    docs = len(finished)
    pages = sum(r.page_count or 0 for r in finished)
    if docs:
        first = min(t for r in finished if (t := as_utc(r.started_at) or as_utc(r.finished_at)) is not None)
        minutes = max((utcnow() - first).total_seconds() / 60.0, 1 / 60)
        minutes = min(minutes, float(window_minutes))
    else:
        minutes = float(window_minutes)
    docs_per_min = docs / minutes
    waiting = counts[Status.QUEUED] + counts[Status.PROCESSING]
    eta = waiting / docs_per_min * 60.0 if docs_per_min > 0 else None
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "throughput": {
            "window_minutes": window_minutes,
            "documents_per_min": round(docs_per_min, 2),
            "pages_per_min": round(pages / minutes, 2),
        },
        "waiting": waiting,
        "eta_seconds": round(eta, 1) if eta is not None else None,
    }


def document_status(session: Session, doc_id: int) -> dict | None:
    doc = session.get(Document, doc_id)
    if doc is None:
        return None
    done_pages = session.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc_id))
    runs = session.scalars(select(TaskRun).where(TaskRun.document_id == doc_id)).all()
    seconds: dict[str, float] = {}
    for r in runs:
        seconds[r.stage] = round(seconds.get(r.stage, 0.0) + (r.seconds or 0.0), 3)
    return {
        "id": doc.id,
        "source": doc.source,
        "status": doc.status,
        "pages": doc.page_count,
        "pages_done": done_pages,
        "attempts": doc.attempts,
        "worker_deaths": session.scalar(select(func.count()).select_from(WorkerDeath).where(WorkerDeath.document_id == doc_id)),
        "redeliveries": sum(r.deaths for r in runs),
        "error": doc.error,
        "seconds": seconds or doc.timings,
        "created_at": doc.created_at.isoformat() if doc.created_at else None,
        "finished_at": doc.finished_at.isoformat() if doc.finished_at else None,
    }
