"""Celery tasks: thin wrappers around the pipeline's plain functions.

    htr.start(doc)          [cpu]  validate, count pages, fan out one segment task per page
    htr.segment(doc, page)  [cpu]  render and segment one page; its crops go to the store
    htr.recognize(doc, page)[gpu]  recognize (micro-batched across documents), persist the page;
                                   the last page marks the document done
    htr.scan(url)           [cpu]  the nightly job: enqueue objects not seen before

Delivery is at least once (late acks); effects are exactly once: each task
keeps a row in ``task_runs`` keyed by (document, stage, page), so a redelivered
message whose work already ended does nothing, and persistence replaces a
page's rows instead of adding to them; a page's rows and the end of its
recognize run commit together. A message found still ``running`` longer
than the visibility timeout, and not in this process's hands, belonged to a
worker that died; after ``HTR_MAX_ATTEMPTS`` dead workers (each counted once
per document, none after it is settled) the document is marked failed with
the reason.
Transient errors (store, database, broker) are retried with exponential
backoff; bad input is recorded against the document and never retried.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter, OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from celery.exceptions import Ignore
from celery.utils.log import get_task_logger
from kombu.exceptions import OperationalError as BrokerError  # the broker's own connection errors
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError

from .celery_app import app
from .db import Document, Page, Status, TaskRun, WorkerDeath, as_utc, make_engine, session_factory, utcnow
from .documents import BadInput, page_count, read_page
from .pipeline import PageWork, begin_document, fail_document, model_version, persist_page, save_page_image, segment
from .settings import Settings
from .store import StoreError, open_store

if TYPE_CHECKING:
    from recognition.bundle import Bundle
    from recognition.predictor import Predictor

    from .batching import MicroBatcher

log = get_task_logger(__name__)


TRANSIENT = (StoreError, DBAPIError, BrokerError, ConnectionError, TimeoutError)  # DBAPIError: database errors


class _Runtime:
    """What a worker process builds once: database, store, model and batcher."""

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.sessions = session_factory(make_engine(self.settings.database_url))
        self.store = open_store(self.settings.store_url)
        self._lock = threading.Lock()
        self._batcher: MicroBatcher | None = None
        self.bundle: Bundle | None = None
        self.predictor: Predictor | None = None
        self._model_version_id: int | None = None
        self.originals = _Originals()
        self.running: set[tuple[int, str, int]] = set()  # (document, stage, page) in this process's hands

    def model_version_id(self, session) -> int:
        """The loaded model's row in model_versions (created once, then remembered)."""
        if self._model_version_id is None:
            self._model_version_id = model_version(session, self.bundle).id
        return self._model_version_id

    def batcher(self):
        with self._lock:
            if self._batcher is None:
                from recognition.bundle import load_bundle
                from recognition.predictor import DecoderOptions, Predictor

                from .batching import MicroBatcher

                self.bundle = load_bundle(self.settings.model)
                self.predictor = Predictor.from_bundle(self.bundle, decoder=DecoderOptions(name=self.settings.decoder))
                self._batcher = MicroBatcher(
                    self.predictor.predict, self.settings.batch_max_lines, self.settings.batch_wait_ms / 1000.0
                )
            return self._batcher


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> _Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _Runtime()
        return _runtime


class _Originals:
    """A few recently used originals kept on local disk, so the segment tasks
    of one document do not each download it again (keys are content hashes,
    so a cached copy never goes stale). A file some task is still reading is
    never evicted, and a download appears under its name only when complete."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="htr-originals-"))
        self.paths: OrderedDict[str, Path] = OrderedDict()
        self.in_use: Counter[str] = Counter()
        self.lock = threading.Lock()

    def _evict(self) -> None:
        for key in [k for k in self.paths if not self.in_use[k]][: max(0, len(self.paths) - self.keep)]:
            self.paths.pop(key).unlink(missing_ok=True)

    @contextmanager
    def get(self, store, key: str):
        from .store import LocalStore

        if isinstance(store, LocalStore):
            with store.local_copy(key) as p:
                yield p
            return
        with self.lock:
            path = self.paths.get(key)
            if path is not None:
                self.paths.move_to_end(key)
                self.in_use[key] += 1
        if path is None:
            path = self.dir / key.replace("/", "_")
            part = path.with_name(f"{path.name}.{threading.get_ident()}.part")
            with store.local_copy(key) as tmp:
                shutil.copyfile(tmp, part)
            os.replace(part, path)  # atomic: another thread may be reading the same name
            with self.lock:
                self.paths[key] = path
                self.paths.move_to_end(key)
                self.in_use[key] += 1
        try:
            yield path
        finally:
            with self.lock:
                self.in_use[key] -= 1
                self._evict()


def work_key(content_hash: str, index: int) -> str:
    return f"work/{content_hash}/{index:05d}.npz"


def _backoff(retries: int) -> float:
    return min(300.0, 2.0**retries) * (0.5 + random.random() / 2)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(task, rt: _Runtime, doc_id: int, stage: str, page: int) -> None:
    """Record that this delivery starts the work; count a dead predecessor."""
    s = rt.settings
    me = worker_name()
    with rt.sessions() as session:
        run = session.get(TaskRun, (doc_id, stage, page))
        now = utcnow()
        if run is not None and run.state == "ended":
            # Delivered again after it finished: nothing to do but, for a page whose worker
            # died between its commit and deleting the page's work file, that clean-up.
            _drop_work(rt, session, doc_id, stage, page)
            raise Ignore()
        if run is not None and run.state == "running":
            started = as_utc(run.started_at)
            age = (now - started).total_seconds() if started is not None else s.visibility_timeout
            if age < s.visibility_timeout or (run.worker == me and (doc_id, stage, page) in rt.running):
                # Most likely still running elsewhere (redelivered early), or here (a slow page
                # outlived the visibility timeout): look again later.
                wait = s.visibility_timeout - age + 1 if age < s.visibility_timeout else s.visibility_timeout / 2
                raise task.retry(countdown=max(1.0, min(wait, s.visibility_timeout / 2)), max_retries=None)
            if session.get(Document, doc_id).status in (Status.FAILED, Status.DONE):
                # Settled meanwhile (given up, say, while this page was in a worker being killed):
                # nothing left to do, and no more deaths to count against it.
                run.state, run.finished_at = "ended", now
                session.commit()
                _drop_work(rt, session, doc_id, stage, page)
                raise Ignore()
            run.deaths += 1
            # One dead worker counts once per document, however many of its pages it held.
            # (Several of its pages come back at once: insert-if-absent, not check-then-insert.)
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            session.execute(
                insert(WorkerDeath).values(document_id=doc_id, worker=run.worker or "?", noticed_at=now).on_conflict_do_nothing()
            )
            session.flush()
            deaths = session.scalar(select(func.count()).select_from(WorkerDeath).where(WorkerDeath.document_id == doc_id))
            log.warning(
                "document %s %s page %s: its worker %s died (%d of %d)", doc_id, stage, page, run.worker, deaths, s.max_attempts
            )
            if deaths >= s.max_attempts:
                where = f"page {page + 1}" if page >= 0 else "the document"
                run.state = "ended"
                run.finished_at = now
                session.commit()
                fail_document(
                    session,
                    doc_id,
                    f"gave up after {deaths} attempts: the worker died each time it worked on this document (last: {stage} of {where} on {run.worker})",
                )
                raise Ignore()
        if run is None:
            run = TaskRun(document_id=doc_id, stage=stage, page=page, deaths=0)
            session.add(run)
        run.state, run.worker, run.started_at, run.finished_at = "running", me, now, None
        try:
            session.commit()
        except IntegrityError:  # another delivery of the same work started this instant
            session.rollback()
            raise task.retry(countdown=max(1.0, s.visibility_timeout / 2), max_retries=None) from None


def _drop_work(rt: _Runtime, session, doc_id: int, stage: str, page: int) -> None:
    """Delete a page's work file left behind by a finished or abandoned run (best effort)."""
    if stage != "recognize":
        return
    doc = session.get(Document, doc_id)
    if doc is None:
        return
    try:
        rt.store.delete(work_key(doc.content_hash, page))
    except Exception as exc:  # the store is away: a later delivery or the operator cleans up
        log.warning("could not delete the work file of document %s page %s: %s", doc_id, page, exc)


@contextmanager
def guarded(task, doc_id: int, stage: str, page: int):
    """Run a task's body once per (document, stage, page), counting worker deaths.

    Raises celery's Ignore when the work is already done (a duplicate
    delivery) or the document has been given up; schedules a retry for
    transient errors.
    """
    rt = runtime()
    try:
        _claim(task, rt, doc_id, stage, page)
    except TRANSIENT as exc:  # the database is away: the message must not be lost
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries), max_retries=None) from exc
    rt.running.add((doc_id, stage, page))
    try:
        with _recorded(task, rt, doc_id, stage, page):
            yield rt
    finally:
        rt.running.discard((doc_id, stage, page))


@contextmanager
def _recorded(task, rt: _Runtime, doc_id: int, stage: str, page: int):
    """The body's outcome, recorded: its run's end, a retry, or the document failed."""
    t0 = time.perf_counter()
    try:
        yield
    except BadInput as exc:
        with rt.sessions() as session:
            fail_document(session, doc_id, str(exc))
    except FileNotFoundError as exc:
        with rt.sessions() as session:
            fail_document(session, doc_id, f"missing from the store: {exc}")
    except TRANSIENT as exc:
        if task.request.retries >= rt.settings.task_retries:
            with rt.sessions() as session:
                fail_document(session, doc_id, f"{stage} failed after {task.request.retries} retries: {exc}")
            _mark(rt, doc_id, stage, page, "ended", t0)
            raise Ignore() from exc
        log.warning("document %s %s page %s: transient error, retrying: %s", doc_id, stage, page, exc)
        _mark(rt, doc_id, stage, page, "retry", t0)
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries), max_retries=None) from exc
    except Exception as exc:  # a bug or an unforeseen input: recorded, not retried forever
        log.exception("document %s %s page %s failed", doc_id, stage, page)
        where = f" on page {page + 1}" if page >= 0 else ""
        with rt.sessions() as session:
            fail_document(session, doc_id, f"{stage} failed{where}: {type(exc).__name__}: {exc}")
    _mark(rt, doc_id, stage, page, "ended", t0)


def _set_run(session, doc_id: int, stage: str, page: int, state: str, seconds: float = 0.0) -> None:
    run = session.get(TaskRun, (doc_id, stage, page))
    if run is not None:
        run.state = state
        run.finished_at = utcnow()
        run.seconds = round((run.seconds or 0.0) + seconds, 3)


def _mark(rt: _Runtime, doc_id: int, stage: str, page: int, state: str, t0: float) -> None:
    try:
        with rt.sessions() as session:
            _set_run(session, doc_id, stage, page, state, time.perf_counter() - t0)
            session.commit()
    except TRANSIENT:  # the database is away: the next delivery sorts it out
        log.warning("could not record the end of %s %s page %s", doc_id, stage, page)


def _page_stored(rt: _Runtime, doc_id: int, index: int) -> bool:
    with rt.sessions() as session:
        return session.scalar(select(Page.id).where(Page.document_id == doc_id, Page.index == index)) is not None


def _processing(rt: _Runtime, doc_id: int) -> Document | None:
    with rt.sessions() as session:
        doc = session.get(Document, doc_id)
        return doc if doc is not None and doc.status == Status.PROCESSING else None


@app.task(name="htr.start", bind=True, max_retries=None)
def start(self, doc_id: int) -> None:
    with guarded(self, doc_id, "start", -1) as rt:
        with rt.sessions() as session:
            doc = begin_document(session, doc_id)
            if doc is None:
                return
            with rt.originals.get(rt.store, doc.store_key) as path:
                n = page_count(path)
            doc.page_count = n
            session.commit()
        for i in range(n):
            send(segment_page, (doc_id, i))


@app.task(name="htr.segment", bind=True, max_retries=None)
def segment_page(self, doc_id: int, index: int) -> None:
    with guarded(self, doc_id, "segment", index) as rt:
        doc = _processing(rt, doc_id)
        if doc is None:
            return
        with rt.originals.get(rt.store, doc.store_key) as path:
            page = read_page(path, index)
        work = segment(page)
        work.image_key = save_page_image(rt.store, doc.content_hash, page)
        rt.store.put_bytes(work_key(doc.content_hash, index), work.to_bytes())
        send(recognize_page, (doc_id, index))


@app.task(name="htr.recognize", bind=True, max_retries=None)
def recognize_page(self, doc_id: int, index: int) -> None:
    with guarded(self, doc_id, "recognize", index) as rt:
        doc = _processing(rt, doc_id)
        if doc is None:
            return
        key = work_key(doc.content_hash, index)
        try:
            work = PageWork.from_bytes(rt.store.get_bytes(key))
        except FileNotFoundError:
            if _page_stored(rt, doc_id, index):  # a duplicate delivery finished it meanwhile
                return
            raise
        recs = rt.batcher().submit(work.crops)
        with rt.sessions() as session:
            mv_id = rt.model_version_id(session)
            # One transaction: the page's rows, the end of this run and, on the last page, the
            # document's completion. A worker dying after it leaves nothing half done, and a
            # redelivery finds the run ended (the page's work file may already be gone).
            # The document's row lock comes first: pages finishing together take turns, and
            # the last sees them all (SQLite serializes writers anyway).
            d = session.get(Document, doc_id, with_for_update=True)
            persist_page(session, doc_id, work, recs)
            _set_run(session, doc_id, "recognize", index, "ended")
            done = session.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc_id))
            d.model_version_id = mv_id
            if d.status == Status.PROCESSING and d.page_count is not None and done >= d.page_count:
                d.status = Status.DONE
                d.finished_at = utcnow()
            session.commit()
        rt.store.delete(key)


@app.task(name="htr.scan", bind=True, max_retries=None)
def scan(self, url: str) -> int:
    from .jobs import scan as scan_prefix

    rt = runtime()
    try:
        found = scan_prefix(rt.sessions, rt.store, url, enqueue)
    except TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries), max_retries=rt.settings.task_retries) from exc
    log.info("scan %s: %d new documents queued", url, len(found))
    return len(found)


def send(task, args: tuple) -> None:
    """Queue a step. After the broker went away and came back, a pooled producer
    can still hold the dead channel, and kombu then fails with an AttributeError
    rather than a connection error (seen: "'NoneType' object has no attribute
    'client'"): such a publish goes again on a fresh connection, whose own
    connection errors are transient (the task is retried)."""
    try:
        task.apply_async(args)
    except TRANSIENT:
        raise
    except Exception as exc:
        log.warning(
            "queueing %s%s on a pooled connection failed (%s: %s): on a fresh one", task.name, args, type(exc).__name__, exc
        )
        with app.connection_for_write() as conn:
            task.apply_async(args, connection=conn)


def enqueue(doc_id: int) -> None:
    send(start, (doc_id,))
