"""Celery tasks: thin wrappers around the orchestration core (``worker.pipeline``).

    htr.start(doc)           [cpu]  validate, count pages, fan out one segment task per page
    htr.segment(doc, page)   [cpu]  render and segment one page; its crops go to the store
    htr.recognize(doc, page) [gpu]  recognize (micro-batched across documents), store the page;
                                    the last page stored marks the document done
    htr.scan(url)            [cpu]  the nightly job: enqueue objects not seen before

Delivery is at least once (late acks); effects are exactly once: a delivery
claims its (document, stage, page) row first (``delivery.claim``) and acts
on the named outcome; a page's rows and the end of its recognize run commit
together. Every worker process beats for its runs and queues again the runs
of workers that stopped beating (``delivery.beat``, ``delivery.sweep``), and
every ``dead_after`` seconds one worker in the deployment queues again the
steps of quiet documents that the broker has no message for
(``delivery.recover``: a message can vanish with a worker killed as it took
it). Errors are judged by the core's classifier: transient ones are
retried with exponential backoff, the rest fail the document at once.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager

from celery.exceptions import Ignore, Retry
from celery.signals import worker_process_init, worker_ready
from celery.utils.log import get_task_logger
from kombu.exceptions import OperationalError as BrokerError  # the broker's own connection errors
from sqlalchemy import select

from ..db import Document, Page, RunState, Stage, Status
from ..io import keys
from ..io.documents import PageSource
from ..pipeline import (
    TRANSIENT,
    Action,
    PageWork,
    begin_document,
    classify,
    fail_document,
    finish_document,
    prepare_page,
    recognize_pages,
    store_page,
    stored_pages,
)
from . import delivery
from . import runtime as _rt
from .app import app
from .broker import held_steps
from .delivery import Claim, claim, set_run, suspect, worker_name

log = get_task_logger(__name__)

QUEUE_TRANSIENT: tuple[type[BaseException], ...] = (*TRANSIENT, BrokerError)

__all__ = ["enqueue", "recognize_task", "recover", "runtime", "scan_task", "segment_task", "send", "start_task", "worker_name"]

RECOVERY_LOCK = "htr.recovery"  # Redis key: the worker process that looks for lost messages this round


def runtime() -> _rt.Runtime:
    return _rt.runtime()


def _backoff(retries: int) -> float:
    return min(300.0, 2.0**retries) * (0.5 + random.random() / 2)


def _drop_work(rt: _rt.Runtime, doc_id: int, stage: Stage, page: int) -> None:
    """Delete a page's work file left by a finished or abandoned run (best effort)."""
    if stage != Stage.RECOGNIZE:
        return
    try:
        with rt.sessions() as session:
            doc = session.get(Document, doc_id)
            if doc is not None:
                rt.store.delete(keys.page_work(doc.content_hash, page))
    except Exception as exc:  # the store is away: a later delivery or the operator cleans up
        log.warning("could not delete the work file of document %s page %s: %s", doc_id, page, exc)


def _claim(task, rt: _rt.Runtime, doc_id: int, stage: Stage, page: int) -> None:
    """Claim the work for this delivery, or raise what the task does instead:
    Ignore (nothing to do) or a retry (look again later)."""
    s = rt.settings
    got = claim(
        rt.sessions,
        doc_id,
        stage,
        page,
        dead_after=s.dead_after,
        max_attempts=s.max_attempts,
        in_hand=(doc_id, stage, page) in rt.running,
    )
    if got.outcome in (Claim.FINISHED, Claim.SETTLED):
        # Nothing to do but, for a page whose worker died between its commit and
        # deleting the page's work file, that clean-up.
        _drop_work(rt, doc_id, stage, page)
        raise Ignore()
    if got.outcome == Claim.GAVE_UP:
        raise Ignore()
    if got.outcome in (Claim.BUSY, Claim.RACE):
        raise task.retry(countdown=got.wait, max_retries=None)


@contextmanager
def guarded(task, doc_id: int, stage: Stage, page: int):
    """Run a task's body once per (document, stage, page): claim, run, record the outcome."""
    rt = runtime()
    try:
        alone = suspect(rt.sessions, doc_id, stage, page)
    except QUEUE_TRANSIENT as exc:  # the database is away: the message must not be lost
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries), max_retries=None) from exc
    with rt.isolation.hold(exclusive=alone):
        try:
            _claim(task, rt, doc_id, stage, page)
        except QUEUE_TRANSIENT as exc:
            raise task.retry(exc=exc, countdown=_backoff(task.request.retries), max_retries=None) from exc
        rt.running.add((doc_id, stage, page))
        t0 = time.perf_counter()
        try:
            yield rt
        except (Ignore, Retry):
            raise
        except Exception as exc:
            _settle_error(task, rt, exc, doc_id, stage, page, t0)
        else:
            _end(rt, doc_id, stage, page, RunState.ENDED, t0)
        finally:
            rt.running.discard((doc_id, stage, page))


def _settle_error(task, rt: _rt.Runtime, exc: Exception, doc_id: int, stage: Stage, page: int, t0: float) -> None:
    where = f" ({stage}, page {page + 1})" if page >= 0 else f" ({stage})"
    verdict = classify(exc, where, QUEUE_TRANSIENT)
    if verdict.action == Action.RETRY and task.request.retries < rt.settings.task_retries:
        log.warning("document %s %s page %s: transient error, retrying: %s", doc_id, stage, page, exc)
        _end(rt, doc_id, stage, page, RunState.RETRY, t0)
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries), max_retries=None) from exc
    if verdict.unexpected:
        log.exception("document %s %s page %s failed", doc_id, stage, page)
    reason = verdict.reason
    if verdict.action == Action.RETRY:
        reason = f"{stage} failed after {task.request.retries} retries: {reason}"
    try:
        with rt.sessions() as session:
            fail_document(session, doc_id, reason)
    except QUEUE_TRANSIENT as db_exc:  # cannot even record it: let the message come back
        raise task.retry(exc=db_exc, countdown=_backoff(task.request.retries), max_retries=None) from db_exc
    _end(rt, doc_id, stage, page, RunState.ENDED, t0)


def _end(rt: _rt.Runtime, doc_id: int, stage: Stage, page: int, state: RunState, t0: float) -> None:
    try:
        with rt.sessions() as session:
            set_run(session, doc_id, stage, page, state, time.perf_counter() - t0)
            session.commit()
    except QUEUE_TRANSIENT:  # the database is away: the next delivery sorts it out
        log.warning("could not record the end of %s %s page %s", doc_id, stage, page)


def _processing(rt: _rt.Runtime, doc_id: int) -> Document | None:
    with rt.sessions() as session:
        doc = session.get(Document, doc_id)
        return doc if doc is not None and doc.status == Status.PROCESSING else None


@app.task(name="htr.start", bind=True, max_retries=None)
def start_task(self, doc_id: int) -> None:
    with guarded(self, doc_id, Stage.START, -1) as rt:
        with rt.sessions() as session:
            doc = begin_document(session, doc_id)
            if doc is None:
                return
            with rt.originals.get(rt.store, doc.store_key) as path:
                n = PageSource(path, rt.settings.limits).count
            doc.page_count = n
            kept = stored_pages(session, doc_id)  # an earlier run's pages stay, not read again
            finish_document(session, doc)  # every page was stored before
            session.commit()
        for i in range(n):
            if i not in kept:
                send(segment_task, (doc_id, i))


@app.task(name="htr.segment", bind=True, max_retries=None)
def segment_task(self, doc_id: int, index: int) -> None:
    with guarded(self, doc_id, Stage.SEGMENT, index) as rt:
        doc = _processing(rt, doc_id)
        if doc is None:
            return
        with rt.originals.get(rt.store, doc.store_key) as path:
            page = PageSource(path, rt.settings.limits).read(index)
        work = prepare_page(page, rt.store, doc.content_hash, rt.settings.skip_printed, templates=rt.templates())
        rt.store.put_bytes(keys.page_work(doc.content_hash, index), work.to_bytes())
        send(recognize_task, (doc_id, index))


@app.task(name="htr.recognize", bind=True, max_retries=None)
def recognize_task(self, doc_id: int, index: int) -> None:
    with guarded(self, doc_id, Stage.RECOGNIZE, index) as rt:
        doc = _processing(rt, doc_id)
        if doc is None:
            return
        key = keys.page_work(doc.content_hash, index)
        try:
            work = PageWork.from_bytes(rt.store.get_bytes(key))
        except FileNotFoundError:
            if _page_stored(rt, doc_id, index):  # a duplicate delivery finished it meanwhile
                return
            raise
        (recs,) = recognize_pages(rt.batcher().submit, [work])
        bundle = rt.bundle
        with rt.sessions() as session:
            # One transaction: the page's rows, the end of this run and, on the last page, the
            # document's completion. A worker dying after it leaves nothing half done, and a
            # redelivery finds the run ended (the page's work file may already be gone).
            store_page(session, doc_id, work, recs, rt.model_version_id(session, bundle) if bundle is not None else None)
            set_run(session, doc_id, Stage.RECOGNIZE, index, RunState.ENDED)
            session.commit()
        rt.store.delete(key)


def _page_stored(rt: _rt.Runtime, doc_id: int, index: int) -> bool:
    with rt.sessions() as session:
        return session.scalar(select(Page.id).where(Page.document_id == doc_id, Page.index == index)) is not None


@app.task(name="htr.scan", bind=True, max_retries=None)
def scan_task(self, url: str) -> int:
    from .jobs import scan_prefix

    rt = runtime()
    try:
        found = scan_prefix(rt.sessions, rt.store, url, enqueue, rt.settings.limits)
    except QUEUE_TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries), max_retries=rt.settings.task_retries) from exc
    log.info("scan %s: %d new documents queued", url, len(found))
    return len(found)


@app.task(name="htr.refresh", bind=True, max_retries=None, acks_late=True)
def refresh_task(self) -> dict:
    """The nightly refresh (``worker.registry.refresh``), on the ``train`` queue."""
    from ..registry import default_model
    from ..registry.refresh import refresh_model

    rt = runtime()
    try:
        return refresh_model(rt.settings, rt.sessions, rt.store, default_model(rt.settings.model))
    except QUEUE_TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries), max_retries=rt.settings.task_retries) from exc


def send(task, args: tuple) -> None:
    """Queue a step. After the broker went away and came back, a pooled producer
    can still hold the dead channel, and kombu then fails with an AttributeError
    rather than a connection error ("'NoneType' object has no attribute
    'client'"): such a publish goes again on a fresh connection, whose own
    connection errors are transient (the task is retried)."""
    try:
        task.apply_async(args)
    except QUEUE_TRANSIENT:
        raise
    except Exception as exc:
        log.warning(
            "queueing %s%s on a pooled connection failed (%s: %s): on a fresh one", task.name, args, type(exc).__name__, exc
        )
        with app.connection_for_write() as conn:
            task.apply_async(args, connection=conn)


def enqueue(doc_id: int) -> None:
    send(start_task, (doc_id,))


def resend(doc_id: int, stage: str, page: int) -> None:
    """Queue a lost run's work again (its worker stopped beating)."""
    if stage == Stage.START:
        send(start_task, (doc_id,))
    elif stage == Stage.SEGMENT:
        send(segment_task, (doc_id, page))
    elif stage == Stage.RECOGNIZE:
        send(recognize_task, (doc_id, page))


def recover() -> list[tuple[int, str, int]]:
    """Queue again the work of quiet documents that the broker has no message
    for (``delivery.recover``); the steps queued again. One worker process in
    the deployment does it each ``dead_after`` seconds: the first to take the
    lock in Redis, which expires by itself."""
    rt = runtime()
    s = rt.settings
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        if not channel.client.set(RECOVERY_LOCK, worker_name(), nx=True, ex=max(1, int(s.dead_after))):
            return []
        queues = set(s.routes.values()) | {app.conf.task_default_queue}
        return delivery.recover(rt.sessions, s.dead_after, lambda: held_steps(channel, queues), resend)


@worker_ready.connect
def _beat_in_the_worker(**_kw) -> None:
    """The worker's main process beats, sweeps and recovers (its thread pool runs the tasks)."""
    runtime().start_heartbeat(resend, recover)


@worker_process_init.connect
def _beat_in_a_pool_process(**_kw) -> None:
    """... and so does every prefork pool process, for the tasks in its hands."""
    _rt.reset_runtime()  # built in this process, not inherited from the parent
    runtime().start_heartbeat(resend, recover)
