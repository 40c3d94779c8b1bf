"""The queue's delivery bookkeeping: at-least-once messages, exactly-once effects.

Each queued unit of work keeps a row in ``task_runs`` keyed by (document,
stage, page). A delivery first *claims* its row; the claim has one of the
named :class:`Claim` outcomes, and the task acts on it.

Every worker process beats for the runs in its hands (``beat``: their
``heartbeat_at``, every ``HTR_HEARTBEAT_SECONDS``) and looks for runs whose
worker fell silent for ``dead_after`` seconds (``sweep``): such a run is
marked ``lost`` and its work queued again, so a dead worker's page is redone
within about a minute, whatever the broker's visibility timeout; a slow page
whose worker is alive keeps beating and is left alone. The delivery that
claims a lost (or silent) run counts the death, once per worker and
document; after ``max_attempts`` deaths the document fails. Work of such a
suspect document runs alone in its worker process (``suspect``), so a
document that kills its worker each time takes no other document with it.

A message can also vanish in the broker: a worker killed after taking it
from Redis and before recording it as unacknowledged takes it along
(``broker``). Such work has no run in anyone's hands, so ``sweep`` cannot
see it; ``recover`` finds it instead: the next steps of queued and
processing documents that nothing touched for ``dead_after`` seconds
(``unfinished``), less the steps the broker still holds, are queued again.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..db import Document, Page, RunState, Stage, Status, TaskRun, WorkerDeath, as_utc, utcnow
from ..pipeline import fail_document
from .broker import Step

log = logging.getLogger(__name__)


class Claim(StrEnum):
    STARTED = "started"  # this delivery does the work
    FINISHED = "finished"  # the work ended before: nothing to do
    SETTLED = "settled"  # the document was done or failed meanwhile: nothing to do
    GAVE_UP = "gave up"  # one dead worker too many: the document is failed
    BUSY = "busy"  # probably still running elsewhere (or here): look again after ``wait``
    RACE = "race"  # another delivery claimed it this instant: look again after ``wait``


@dataclass(frozen=True)
class Claimed:
    outcome: Claim
    wait: float = 0.0  # seconds, for BUSY and RACE


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _silence(run: TaskRun, now) -> float:
    """Seconds since the run's worker last showed it was alive."""
    last = as_utc(run.heartbeat_at) or as_utc(run.started_at)
    return (now - last).total_seconds() if last is not None else float("inf")


def claim(
    sessions: sessionmaker,
    doc_id: int,
    stage: Stage,
    page: int,
    *,
    dead_after: float,
    max_attempts: int,
    in_hand: bool,
    me: str | None = None,
) -> Claimed:
    """Record that this delivery starts the work, unless it must not.
    ``in_hand``: this process is running the same work right now."""
    me = me or worker_name()
    with sessions() as session:
        run = session.get(TaskRun, (doc_id, stage, page))
        now = utcnow()
        if run is not None and run.state == RunState.ENDED:
            return Claimed(Claim.FINISHED)
        if run is not None and run.state in (RunState.RUNNING, RunState.LOST):
            silent = _silence(run, now)
            if run.state == RunState.RUNNING and ((run.worker == me and in_hand) or silent < dead_after):
                # Still running here or elsewhere (its worker beats): look again when it would be dead.
                return Claimed(Claim.BUSY, max(1.0, dead_after - silent + 1 if silent < dead_after else dead_after))
            if session.get(Document, doc_id).status in (Status.FAILED, Status.DONE):
                # Settled while this page was in a dying worker: no more deaths to count against it.
                run.state, run.finished_at = RunState.ENDED, now
                session.commit()
                return Claimed(Claim.SETTLED)
            if _count_death(session, run, doc_id, stage, page, now, max_attempts):
                return Claimed(Claim.GAVE_UP)
        if run is None:
            run = TaskRun(document_id=doc_id, stage=stage, page=page, deaths=0)
            session.add(run)
        run.state, run.worker, run.started_at, run.heartbeat_at, run.finished_at = RunState.RUNNING, me, now, now, None
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return Claimed(Claim.RACE, max(1.0, dead_after))
    return Claimed(Claim.STARTED)


def suspect(sessions: sessionmaker, doc_id: int, stage: Stage, page: int) -> bool:
    """Whether a worker died (or fell silent) holding this document: its work
    then runs alone in its process (``Runtime.isolation``), so that another
    death counts against it and against no other document."""
    with sessions() as session:
        run = session.get(TaskRun, (doc_id, stage, page))
        if run is not None and (run.deaths or run.state in (RunState.LOST, RunState.RUNNING)):
            return True
        deaths = session.scalar(select(func.count()).select_from(WorkerDeath).where(WorkerDeath.document_id == doc_id))
        return bool(deaths)


def _count_death(session: Session, run: TaskRun, doc_id: int, stage: Stage, page: int, now, max_attempts: int) -> bool:
    """Count the dead worker of ``run`` against the document (once per worker,
    however many of its pages it held); True when the document is given up."""
    run.deaths += 1
    _insert_once(session, WorkerDeath, document_id=doc_id, worker=run.worker or "?", noticed_at=now)
    deaths = session.scalar(select(func.count()).select_from(WorkerDeath).where(WorkerDeath.document_id == doc_id)) or 0
    log.warning("document %s %s page %s: its worker %s died (%d of %d)", doc_id, stage, page, run.worker, deaths, max_attempts)
    if deaths < max_attempts:
        return False
    where = f"page {page + 1}" if page >= 0 else "the document"
    run.state, run.finished_at = RunState.ENDED, now
    session.commit()
    fail_document(
        session,
        doc_id,
        f"gave up after {deaths} attempts: the worker died each time it worked on this document (last: {stage} of {where} on {run.worker})",
    )
    return True


def _insert_once(session: Session, model, **values) -> None:
    """INSERT … ON CONFLICT DO NOTHING (several pages of one dead worker come back at once)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())
    session.flush()


def set_run(session: Session, doc_id: int, stage: Stage, page: int, state: RunState, seconds: float = 0.0) -> None:
    """End (or mark for retry) a run in the caller's transaction."""
    run = session.get(TaskRun, (doc_id, stage, page))
    if run is not None:
        run.state = state
        run.finished_at = utcnow()
        run.seconds = round((run.seconds or 0.0) + seconds, 3)


def beat(sessions: sessionmaker, in_hand: set[tuple[int, str, int]], me: str | None = None) -> int:
    """Mark the runs in this process's hands alive; how many rows it touched."""
    me = me or worker_name()
    now, touched = utcnow(), 0
    with sessions() as session:
        for doc_id, stage, page in list(in_hand):
            res = session.execute(
                update(TaskRun)
                .where(
                    TaskRun.document_id == doc_id,
                    TaskRun.stage == stage,
                    TaskRun.page == page,
                    TaskRun.worker == me,
                    TaskRun.state == RunState.RUNNING,
                )
                .values(heartbeat_at=now)
            )
            touched += res.rowcount or 0
        session.commit()
    return touched


def sweep(sessions: sessionmaker, dead_after: float, limit: int = 100) -> list[tuple[int, str, int]]:
    """Runs whose worker fell silent for ``dead_after`` seconds, each marked
    ``lost`` by exactly one sweeper (compare and set): those this call took,
    for the caller to queue again."""
    now = utcnow()
    cutoff = now - timedelta(seconds=dead_after)
    taken = []
    with sessions() as session:
        silent = session.scalars(
            select(TaskRun)
            .where(TaskRun.state == RunState.RUNNING, func.coalesce(TaskRun.heartbeat_at, TaskRun.started_at) < cutoff)
            .limit(limit)
        ).all()
        for run in silent:
            res = session.execute(
                update(TaskRun)
                .where(
                    TaskRun.document_id == run.document_id,
                    TaskRun.stage == run.stage,
                    TaskRun.page == run.page,
                    TaskRun.state == RunState.RUNNING,
                    func.coalesce(TaskRun.heartbeat_at, TaskRun.started_at) < cutoff,
                )
                .values(state=RunState.LOST)
            )
            if res.rowcount:
                taken.append((run.document_id, run.stage, run.page))
                log.warning(
                    "document %s %s page %s: worker %s silent, queued again", run.document_id, run.stage, run.page, run.worker
                )
        session.commit()
    return taken


def unfinished(sessions: sessionmaker, quiet_after: float) -> list[Step]:
    """The next steps of the queue's documents that nothing touched for
    ``quiet_after`` seconds (no run started, beat or ended, nor the document
    registered or begun): a queued document's start; for a processing one,
    each page not stored: its recognize step once it is segmented, else its
    segment step, or the start again while that has not fanned out. Each of
    them should have a message in the broker. Documents with a run in a
    worker's hands are ``sweep``'s, processing documents without runs the
    in-process runner's (``htr process``), and a step that already ended
    without its page stored is one no message can move on."""
    active = (Status.QUEUED, Status.PROCESSING)
    cutoff = utcnow() - timedelta(seconds=quiet_after)
    touched = (
        select(TaskRun.document_id)
        .where(
            TaskRun.document_id == Document.id,
            (TaskRun.state == RunState.RUNNING)
            | (TaskRun.started_at >= cutoff)
            | (TaskRun.heartbeat_at >= cutoff)
            | (TaskRun.finished_at >= cutoff),
        )
        .exists()
    )
    with sessions() as session:
        docs = session.execute(
            select(Document.id, Document.status, Document.page_count)
            .where(
                Document.status.in_(active),
                Document.store_key.is_not(None),
                Document.created_at < cutoff,
                (Document.started_at.is_(None)) | (Document.started_at < cutoff),
                ~touched,
            )
            .order_by(Document.id)
        ).all()
        runs: dict[int, dict[tuple[str, int], TaskRun]] = defaultdict(dict)
        stored: dict[int, set[int]] = defaultdict(set)
        ids = [d.id for d in docs]
        for k in range(0, len(ids), 500):
            chunk = ids[k : k + 500]
            for run in session.scalars(select(TaskRun).where(TaskRun.document_id.in_(chunk))):
                runs[run.document_id][(run.stage, run.page)] = run
            for doc_id, index in session.execute(select(Page.document_id, Page.index).where(Page.document_id.in_(chunk))):
                stored[doc_id].add(index)
    steps: list[Step] = []
    for doc in docs:
        steps += _next_steps(doc.id, doc.status, doc.page_count, runs[doc.id], stored[doc.id])
    return steps


def _next_steps(
    doc_id: int, status: str, page_count: int | None, runs: dict[tuple[str, int], TaskRun], stored: set[int]
) -> list[Step]:
    start = runs.get((Stage.START, -1))
    if status == Status.QUEUED:
        return [] if start is not None and start.state == RunState.ENDED else [(doc_id, Stage.START.value, -1)]
    if not runs:
        return []
    if page_count is None or start is None or start.state != RunState.ENDED:
        return [(doc_id, Stage.START.value, -1)]
    steps: list[Step] = []
    for i in range(page_count):
        if i in stored:
            continue
        seg, rec = runs.get((Stage.SEGMENT, i)), runs.get((Stage.RECOGNIZE, i))
        if rec is not None:
            if rec.state != RunState.ENDED:
                steps.append((doc_id, Stage.RECOGNIZE.value, i))
        elif seg is not None and seg.state == RunState.ENDED:
            steps.append((doc_id, Stage.RECOGNIZE.value, i))
        else:
            steps.append((doc_id, Stage.SEGMENT.value, i))
    return steps


def recover(
    sessions: sessionmaker, quiet_after: float, held: Callable[[], Iterable[Step]], resend: Callable[[int, str, int], None]
) -> list[Step]:
    """Queue again the ``unfinished`` steps that have no message in the
    broker (``held()``: the steps of the messages it has, queued or taken and
    not acknowledged); those queued again. The broker is read only when some
    document is quiet. A step queued twice is done once (``claim``)."""
    steps = unfinished(sessions, quiet_after)
    if not steps:
        return []
    there = set(held())
    missing = [s for s in steps if s not in there]
    for doc_id, stage, page in missing:
        log.warning(
            "document %s %s page %s: no message for it in the broker (lost with a worker), queued again", doc_id, stage, page
        )
        resend(doc_id, stage, page)
    return missing
