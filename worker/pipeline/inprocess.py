"""The in-process runner (``htr process``): one document at a time in this process.

Pages are rendered and segmented in a background thread, at most two pages
ahead of recognition; their lines are buffered and recognized in batches that
span pages (``LINE_BATCH``), then the pages are stored. Any error fails the
document with the reason (the error classifier's words) and the batch goes on.

:func:`read_document` runs the same steps without a database or a store (``htr process
--no-db``): the document comes back in the document model.

A document is resumed where it stopped: the pages already stored (by an
interrupted or failed run) are kept and not read again, so what people
reviewed on them stays. Ctrl-C (KeyboardInterrupt) keeps what was committed,
puts the document back to queued and raises :class:`Interrupted`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from recognition import document
from segmentation.forms import FormTemplate

from ..db import Document, Status
from ..io.documents import Limits, PageSource
from .errors import classify
from .fields import unify_document_keys
from .lifecycle import (
    begin_document,
    fail_document,
    finish_document,
    interrupt_document,
    model_version,
    sha256_file,
    store_page,
    stored_pages,
)
from .pages import PageWork, prepare_page, recognize_pages, segment
from .templates import load_templates

log = logging.getLogger(__name__)

LINE_BATCH = 64  # lines buffered before recognition runs


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while a document was read: ``kept`` of its ``total`` pages are stored and stay."""

    def __init__(self, doc_id: int, kept: int, total: int | None):
        super().__init__(doc_id, kept, total)
        self.doc_id, self.kept, self.total = doc_id, kept, total

    def __str__(self) -> str:
        total = "?" if self.total is None else self.total
        return f"document {self.doc_id}: {self.kept} of {total} pages read and kept; processing it again continues from there"


@dataclass
class Timings:
    seconds: dict = field(default_factory=lambda: {"render": 0.0, "segment": 0.0, "recognize": 0.0, "persist": 0.0})

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - t0
        return now


def _prepared_pages(
    source: Iterable, prepare: Callable[..., PageWork], timings: Timings, ahead: int = 2
) -> Generator[PageWork, None, None]:
    """Render and prepare pages in a background thread, at most ``ahead``
    pages in front of recognition, so the two overlap on a multi-core machine
    (OpenCV, poppler and the model all release the GIL). Errors, bad input
    included, reach the caller in page order."""
    q: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            t0 = time.perf_counter()
            for page in source:
                t0 = timings.add("render", t0)
                work = prepare(page)
                t0 = timings.add("segment", t0)
                if not put(work):
                    return
                t0 = time.perf_counter()
            put(end)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    thread = threading.Thread(target=produce, name="htr-pages", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


class _PageBatch:
    """Pages waiting for recognition: recognized together once ``LINE_BATCH``
    lines wait (or at the end), then stored and committed."""

    def __init__(self, session, doc_id: int, models: Callable[[], tuple], timings: Timings, on_page, reread: bool) -> None:
        self.session, self.doc_id, self.models = session, doc_id, models
        self.timings, self.on_page, self.reread = timings, on_page, reread
        self._versions: dict[tuple[str, str], int] = {}
        self.pending: list[PageWork] = []
        self.stored = 0
        self.total: int | None = None

    def add(self, work: PageWork) -> None:
        self.pending.append(work)
        if sum(len(w.crops) for w in self.pending) >= LINE_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        predictor, bundle = self.models()  # the promoted model may change between pages
        mv_id = self._version_id(bundle)
        per_page = recognize_pages(predictor.predict, self.pending)
        t0 = self.timings.add("recognize", t0)
        for work, recs in zip(self.pending, per_page):
            store_page(self.session, self.doc_id, work, recs, mv_id, reread=self.reread)
        self.session.commit()
        self.session.expunge_all()  # written pages leave the session: memory stays flat in document length
        self.timings.add("persist", t0)
        for _ in self.pending:
            self.stored += 1
            if self.on_page:
                self.on_page(self.stored, self.total)
        self.pending.clear()

    def _version_id(self, bundle) -> int | None:
        if bundle is None:
            return None
        key = (bundle.name, bundle.version)
        if key not in self._versions:
            self._versions[key] = model_version(self.session, bundle).id
        return self._versions[key]


def _read_pages(batch: _PageBatch, source: PageSource, kept: set[int], prepare, timings: Timings, on_page) -> None:
    """The pages not ``kept`` from an earlier run, prepared in a thread and stored in batches."""
    if kept:
        batch.stored = len(kept)
        if on_page:
            on_page(batch.stored, batch.total)
    pages = _prepared_pages(source.pages(skip=kept), prepare, timings)
    with contextlib.closing(pages):  # on Ctrl-C too, the page thread stops at once
        for work in pages:
            batch.add(work)
    batch.flush()


def process_document(
    doc_id: int,
    sessions: sessionmaker,
    store,
    predictor,
    bundle=None,
    keep_page_images: bool = True,
    on_page: Callable[[int, int | None], None] | None = None,
    limits: Limits | None = None,
    skip_printed: bool = True,
    reread: bool = False,
) -> Document:
    """Render, segment, recognize and store one registered document in this
    process. ``predictor``: a predictor (with its ``bundle``), or a
    ``registry.ModelSource`` asked for the model before each batch of pages.
    ``on_page(pages stored, page count)`` reports progress (first with the
    pages kept from an earlier run). Pages already stored are kept and not
    read again, unless ``reread`` (``htr reprocess``: every page is read
    again, reviewed lines kept). Ctrl-C raises :class:`Interrupted` once the
    document is left resumable."""
    timings = Timings()
    with sessions() as session:
        doc = begin_document(session, doc_id)
        if doc is None:
            return session.get(Document, doc_id)
        content_hash, store_key = doc.content_hash, doc.store_key
        models = predictor.current if hasattr(predictor, "current") else (lambda: (predictor, bundle))
        batch = _PageBatch(session, doc_id, models, timings, on_page, reread)

        templates = load_templates(session, store)  # registered forms pages are matched to

        def prepare(page):
            return prepare_page(page, store, content_hash, skip_printed, keep_page_images, templates)

        try:
            with store.local_copy(store_key) as local:
                source = PageSource(local, limits)
                doc.page_count = batch.total = source.count
                kept = set() if reread else stored_pages(session, doc_id)
                finish_document(session, doc)  # every page was stored before
                session.commit()
                _read_pages(batch, source, kept, prepare, timings, on_page)
        except KeyboardInterrupt:
            kept_pages, total = interrupt_document(session, doc_id)
            raise Interrupted(doc_id, kept_pages, total) from None
        except Exception as exc:  # in this process nothing retries: the document fails, the batch goes on
            verdict = classify(exc)
            if verdict.unexpected:
                log.exception("document %s: unexpected error", doc_id)
            fail_document(session, doc_id, verdict.reason)
        doc = session.get(Document, doc_id)
        if doc.status == Status.PROCESSING:  # every page counted was stored, yet not all were: a reader bug
            fail_document(session, doc_id, f"internal error: {doc.page_count} pages counted, fewer read")
            doc = session.get(Document, doc_id)
        doc.timings = {k: round(v, 3) for k, v in timings.seconds.items()}
        session.commit()
        return doc


def read_document(
    path: str | Path,
    predictor,
    limits: Limits | None = None,
    skip_printed: bool = True,
    model: str | None = None,
    templates: list[FormTemplate] | None = None,
) -> document.Document:
    """Render, segment and recognize the file at ``path`` with ``predictor``, as
    :func:`process_document` does, into the document model, storing nothing; ``model`` names
    the model that read it; pages that are copies of ``templates`` are read as forms. Bad input
    raises (``io.documents.BadInput``)."""
    pages: list[document.Page] = []
    pending: list[PageWork] = []

    def flush() -> None:
        for work, recs in zip(pending, recognize_pages(predictor.predict, pending)):
            pages.append(work.page_model(recs))
        pending.clear()

    source = PageSource(path, limits)
    works = _prepared_pages(source.pages(), lambda page: segment(page, skip_printed, templates), Timings())
    with contextlib.closing(works):
        for work in works:
            pending.append(work)
            if sum(len(w.crops) for w in pending) >= LINE_BATCH:
                flush()
    flush()
    doc = document.Document(str(path), pages, model=model, content_hash=sha256_file(path))
    unify_document_keys(doc)
    return doc
