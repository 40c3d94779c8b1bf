"""Task bodies run in this process (Celery's eager apply): transient store
errors are retried with backoff until they pass or the budget is spent; bad
input fails the document at once, without a retry. The queue itself, with
real workers, is in test_queue.py."""

import pytest
from sqlalchemy import select

from worker.db import Document, Status, TaskRun
from worker.io.store import StoreError

pytestmark = [pytest.mark.services]


class FlakyStore:
    """The real folder store, with `local_copy` failing the first `failures` times."""

    def __init__(self, store, failures: int):
        self.store, self.failures, self.calls = store, failures, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def local_copy(self, key):
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreError("connection reset by S3")
        return self.store.local_copy(key)


@pytest.fixture
def rt(tmp_path, monkeypatch):
    from worker.db import upgrade
    from worker.queue import tasks

    monkeypatch.setenv("HTR_DATABASE_URL", f"sqlite:///{tmp_path / 'htr.sqlite'}")
    monkeypatch.setenv("HTR_STORE_URL", f"file://{tmp_path / 'store'}")
    monkeypatch.setenv("HTR_TASK_RETRIES", "3")
    upgrade()
    monkeypatch.setattr(tasks._rt, "_runtime", None)
    queued = []
    monkeypatch.setattr(tasks.segment_task, "apply_async", lambda args, **kw: queued.append(tuple(args)))
    r = tasks.runtime()
    r.queued = queued
    yield r
    r.sessions.kw["bind"].dispose()


def _register(rt, path):
    from worker.pipeline import register_document

    with rt.sessions() as s:
        doc, _ = register_document(s, rt.store, path)
        return doc.id


def _state(rt, doc_id):
    with rt.sessions() as s:
        doc = s.get(Document, doc_id)
        runs = s.scalars(select(TaskRun).where(TaskRun.document_id == doc_id)).all()
        return doc.status, doc.error, doc.page_count, [(r.stage, r.page, r.state, r.deaths) for r in runs]


def test_transient_store_errors_are_retried_until_they_pass(rt):
    from worker.queue import tasks

    doc_id = _register(rt, "examples/letter.pdf")
    rt.store = flaky = FlakyStore(rt.store, failures=2)
    tasks.start_task.apply((doc_id,))
    status, error, pages, runs = _state(rt, doc_id)
    assert flaky.calls == 3  # two failures, then it worked
    assert status == Status.PROCESSING and error is None and pages == 2
    assert runs == [("start", -1, "ended", 0)]
    assert rt.queued == [(doc_id, 0), (doc_id, 1)]  # one segment task per page
    tasks.start_task.apply((doc_id,))  # delivered again after it ended: nothing happens twice
    assert rt.queued == [(doc_id, 0), (doc_id, 1)] and flaky.calls == 3


def test_a_store_that_stays_down_fails_the_document_after_the_retry_budget(rt):
    from worker.queue import tasks

    doc_id = _register(rt, "examples/line.png")
    rt.store = flaky = FlakyStore(rt.store, failures=100)
    tasks.start_task.apply((doc_id,))
    status, error, _, runs = _state(rt, doc_id)
    assert flaky.calls == 4  # first try + HTR_TASK_RETRIES
    assert status == Status.FAILED and "after 3 retries" in error and "connection reset by S3" in error
    assert runs == [("start", -1, "ended", 0)] and rt.queued == []


def test_bad_input_fails_at_once_without_retrying(rt, tmp_path):
    import io

    from PIL import Image

    from worker.queue import tasks

    # Refused at registration (type, size, pages checked before storing): never stored, start does nothing.
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4\n this is not really a pdf")
    doc_id = _register(rt, bad)
    rt.store = flaky = FlakyStore(rt.store, failures=0)
    tasks.start_task.apply((doc_id,))
    status, error, _, _ = _state(rt, doc_id)
    assert flaky.calls == 0 and rt.queued == []
    assert status == Status.FAILED and error.startswith("corrupt PDF")
    # A JPEG whose header reads but whose data is cut short fails where it is decoded, at once.
    buf = io.BytesIO()
    Image.new("L", (1200, 900), 200).save(buf, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(buf.getvalue()[:400])
    rt.store = flaky.store
    doc_id = _register(rt, cut)
    rt.store = flaky = FlakyStore(rt.store, failures=0)
    tasks.start_task.apply((doc_id,))
    assert rt.queued == [(doc_id, 0)]
    tasks.segment_task.apply((doc_id, 0))
    status, error, _, runs = _state(rt, doc_id)
    assert status == Status.FAILED and "unreadable image data" in error, error
    assert ("segment", 0, "ended", 0) in runs and flaky.calls == 1  # fetched once (cached for segment), never retried


def test_originals_cache_keeps_files_in_use_and_evicts_the_oldest_idle(tmp_path):
    from worker.io.store import LocalStore
    from worker.queue.runtime import Originals as _Originals

    class Remote:  # a non-local store: the cache downloads through local_copy
        def __init__(self):
            self.store = LocalStore(tmp_path / "remote")
            self.downloads = 0

        def local_copy(self, key):
            self.downloads += 1
            return self.store.local_copy(key)

    remote = Remote()
    for i in range(4):
        remote.store.put_bytes(f"originals/{i}.pdf", f"doc {i}".encode())
    cache = _Originals(keep=2)
    with cache.get(remote, "originals/0.pdf") as held:
        for i in (1, 2, 3):  # more than `keep` other files pass through while 0 is being read
            with cache.get(remote, f"originals/{i}.pdf") as p:
                assert p.read_bytes() == f"doc {i}".encode()
        assert held.read_bytes() == b"doc 0"  # not evicted while in use
    with cache.get(remote, "originals/3.pdf") as p:  # recent: served from disk
        assert p.read_bytes() == b"doc 3"
    assert remote.downloads == 4
    assert len(list(cache.dir.iterdir())) == 2  # idle files beyond `keep` are gone, no .part left


def test_workers_decode_as_htr_decoder_says(rt, monkeypatch):
    from worker.queue import tasks

    monkeypatch.delenv("HTR_DECODER", raising=False)  # the default
    monkeypatch.setattr(tasks._rt, "_runtime", None)
    beam = tasks.runtime()
    assert beam.batcher() is not None and beam.predictor.decoder.name == "beam" and beam.predictor.lm is not None
    beam.sessions.kw["bind"].dispose()
    monkeypatch.setenv("HTR_DECODER", "greedy")
    monkeypatch.setattr(tasks._rt, "_runtime", None)
    greedy = tasks.runtime()
    greedy.batcher()
    assert greedy.predictor.decoder.name == "greedy"
    greedy.sessions.kw["bind"].dispose()


def test_a_page_stored_once_when_its_worker_dies_right_after_or_a_duplicate_comes(rt, monkeypatch):
    """The page's rows and the end of its run commit together: the redelivered
    message finds the run ended, even though the page's work file is gone."""
    from datetime import timedelta

    from worker.db import Page, utcnow
    from worker.queue import tasks

    monkeypatch.setattr(tasks.recognize_task, "apply_async", lambda args, **kw: rt.queued.append(("recognize", *args)))
    doc_id = _register(rt, "examples/letter.pdf")  # two pages: the document stays open after the first
    tasks.start_task.apply((doc_id,))
    tasks.segment_task.apply((doc_id, 0))
    assert rt.queued[-1] == ("recognize", doc_id, 0)
    with monkeypatch.context() as m:
        m.setattr(tasks, "_end", lambda *a, **kw: None)  # the worker dies before its own bookkeeping
        tasks.recognize_task.apply((doc_id, 0))
    with rt.sessions() as s:  # ... and stays dead: its message comes back after the visibility timeout
        run = s.get(TaskRun, (doc_id, "recognize", 0))
        run.started_at = run.heartbeat_at = utcnow() - timedelta(seconds=rt.settings.dead_after + 1)
        s.commit()
    tasks.recognize_task.apply((doc_id, 0))
    status, error, pages, runs = _state(rt, doc_id)
    assert status == Status.PROCESSING and error is None and pages == 2
    assert ("recognize", 0, "ended", 0) in runs
    with rt.sessions() as s:
        assert s.scalars(select(Page.index).where(Page.document_id == doc_id)).all() == [0]

    # A second delivery that claimed the page while the first was finishing finds the
    # work file gone and the page stored: nothing to do, nothing failed.
    with rt.sessions() as s:
        s.get(TaskRun, (doc_id, "recognize", 0)).state = "retry"
        s.commit()
    tasks.recognize_task.apply((doc_id, 0))
    status, error, _, runs = _state(rt, doc_id)
    assert status == Status.PROCESSING and error is None and ("recognize", 0, "ended", 0) in runs


def test_deaths_not_counted_for_a_slow_page_in_its_own_worker_or_a_settled_document(rt):
    from datetime import timedelta

    from worker.db import Stage, utcnow
    from worker.pipeline import fail_document
    from worker.queue.delivery import Claim, claim, worker_name

    doc_id = _register(rt, "examples/line.png")
    vt = rt.settings.dead_after

    def claim_segment(in_hand: bool):
        return claim(rt.sessions, doc_id, Stage.SEGMENT, 0, dead_after=vt, max_attempts=3, in_hand=in_hand)

    with rt.sessions() as s:  # this process took the page longer ago than the visibility timeout
        s.add(
            TaskRun(
                document_id=doc_id,
                stage="segment",
                page=0,
                state="running",
                worker=worker_name(),
                started_at=utcnow() - timedelta(seconds=vt + 5),
                deaths=0,
            )
        )
        s.commit()
    got = claim_segment(in_hand=True)
    assert (got.outcome, got.wait) == (Claim.BUSY, vt)  # looked at again later, nobody died
    assert _state(rt, doc_id)[3] == [("segment", 0, "running", 0)]
    # Same name, but not in this process's hands: an earlier process that died.
    assert claim_segment(in_hand=False).outcome == Claim.STARTED
    assert _state(rt, doc_id)[3] == [("segment", 0, "running", 1)]
    assert claim_segment(in_hand=False).outcome == Claim.BUSY  # just started again: running, not dead

    # Once the document has been given up, a death noticed later is not counted against it.
    with rt.sessions() as s:
        fail_document(s, doc_id, "gave up after 3 attempts")
        run = s.get(TaskRun, (doc_id, "segment", 0))
        run.started_at = run.heartbeat_at = utcnow() - timedelta(seconds=vt + 5)
        s.commit()
    assert claim_segment(in_hand=False).outcome == Claim.SETTLED
    status, error, _, runs = _state(rt, doc_id)
    assert status == Status.FAILED and error == "gave up after 3 attempts" and runs == [("segment", 0, "ended", 1)]
    assert claim_segment(in_hand=False).outcome == Claim.FINISHED


def test_the_third_dead_worker_fails_the_document(rt):
    from datetime import timedelta

    from worker.db import Stage, utcnow
    from worker.queue.delivery import Claim, claim

    doc_id = _register(rt, "examples/line.png")
    vt = rt.settings.dead_after
    outcomes = []
    for k in range(3):
        with rt.sessions() as s:
            run = s.get(TaskRun, (doc_id, "segment", 0)) or TaskRun(document_id=doc_id, stage="segment", page=0, deaths=0)
            run.state, run.worker = "running", f"host:{100 + k}"
            run.started_at = run.heartbeat_at = utcnow() - timedelta(seconds=vt + 1)
            s.add(run)
            s.commit()
        got = claim(rt.sessions, doc_id, Stage.SEGMENT, 0, dead_after=vt, max_attempts=3, in_hand=False)
        outcomes.append(got.outcome)
    assert outcomes == [Claim.STARTED, Claim.STARTED, Claim.GAVE_UP]
    status, error, _, runs = _state(rt, doc_id)
    assert status == Status.FAILED and error.startswith("gave up after 3 attempts") and "host:102" in error
    assert runs == [("segment", 0, "ended", 3)]


def test_a_document_a_worker_died_holding_is_suspect_for_each_of_its_runs(rt):
    from datetime import timedelta

    from worker.db import Stage, utcnow
    from worker.queue.delivery import claim, suspect

    doc_id, other = _register(rt, "examples/line.png"), _register(rt, "examples/word.png")
    assert not suspect(rt.sessions, doc_id, Stage.SEGMENT, 0)  # a first delivery
    with rt.sessions() as s:  # a worker fell silent holding page 1 of doc_id
        when = utcnow() - timedelta(seconds=rt.settings.dead_after + 1)
        s.add(TaskRun(document_id=doc_id, stage="segment", page=1, deaths=0, state="lost", worker="host:7", started_at=when))
        s.commit()
    assert suspect(rt.sessions, doc_id, Stage.SEGMENT, 1) and not suspect(rt.sessions, doc_id, Stage.SEGMENT, 0)
    claim(rt.sessions, doc_id, Stage.SEGMENT, 1, dead_after=rt.settings.dead_after, max_attempts=3, in_hand=False)
    # The death is counted: every run of that document is suspect now, and no other document's.
    assert suspect(rt.sessions, doc_id, Stage.SEGMENT, 0) and suspect(rt.sessions, doc_id, Stage.RECOGNIZE, 2)
    assert not suspect(rt.sessions, other, Stage.SEGMENT, 0)


def test_exclusive_work_runs_alone_and_goes_before_later_shared_work():
    import threading
    import time as _time

    from worker.queue.runtime import Isolation

    iso, log, inside = Isolation(), [], []
    lock = threading.Lock()

    def work(name, exclusive, hold):
        with iso.hold(exclusive):
            with lock:
                inside.append(name)
                log.append((name, sorted(inside)))
            _time.sleep(hold)
            with lock:
                inside.remove(name)

    first = threading.Thread(target=work, args=("a", False, 0.3))
    first.start()
    _time.sleep(0.05)
    x = threading.Thread(target=work, args=("x", True, 0.2))  # waits for "a" to finish
    x.start()
    _time.sleep(0.05)
    late = threading.Thread(target=work, args=("b", False, 0.05))  # waits behind "x"
    late.start()
    for t in (first, x, late):
        t.join(5)
    assert log == [("a", ["a"]), ("x", ["x"]), ("b", ["b"])]
    # Shared holders run together.
    log.clear()
    pair = [threading.Thread(target=work, args=(n, False, 0.2)) for n in ("c", "d")]
    for t in pair:
        t.start()
    for t in pair:
        t.join(5)
    assert any(len(names) == 2 for _, names in log)


def test_a_producer_left_with_a_dead_channel_publishes_on_a_fresh_connection(rt, monkeypatch):
    from worker.queue import tasks

    sent = []

    def apply_async(args, **kw):  # kombu, on a pooled channel that died with the broker connection
        if "connection" not in kw:
            raise AttributeError("'NoneType' object has no attribute 'client'")
        sent.append((tuple(args), kw["connection"].as_uri()))

    monkeypatch.setattr(tasks.segment_task, "apply_async", apply_async)
    doc_id = _register(rt, "examples/letter.pdf")
    tasks.start_task.apply((doc_id,))
    status, error, _pages, runs = _state(rt, doc_id)
    assert status == Status.PROCESSING and error is None and runs == [("start", -1, "ended", 0)]
    assert [a for a, _ in sent] == [(doc_id, 0), (doc_id, 1)]
    assert all(uri.startswith("redis://") for _, uri in sent)  # the app's broker, freshly connected


def test_a_work_file_left_by_a_worker_dying_after_its_commit_is_deleted_on_redelivery(rt, monkeypatch):
    from worker.db import Page
    from worker.queue import tasks

    monkeypatch.setattr(tasks.recognize_task, "apply_async", lambda args, **kw: rt.queued.append(("recognize", *args)))
    doc_id = _register(rt, "examples/letter.pdf")
    tasks.start_task.apply((doc_id,))
    tasks.segment_task.apply((doc_id, 0))
    with rt.sessions() as s:
        key = tasks.keys.page_work(s.get(Document, doc_id).content_hash, 0)
    assert rt.store.exists(key)
    with monkeypatch.context() as m:
        m.setattr(type(rt.store), "delete", lambda self, k: None)  # dies after the commit, before the delete
        tasks.recognize_task.apply((doc_id, 0))
    assert rt.store.exists(key)
    tasks.recognize_task.apply((doc_id, 0))  # the unacked message comes back
    assert not rt.store.exists(key)
    status, error, _, runs = _state(rt, doc_id)
    assert status == Status.PROCESSING and error is None and ("recognize", 0, "ended", 0) in runs
    with rt.sessions() as s:
        assert s.scalars(select(Page.index).where(Page.document_id == doc_id)).all() == [0]


def test_a_recognizing_worker_reads_each_page_with_the_model_live_at_that_moment(rt, monkeypatch, tmp_path):
    """The runtime asks the registry between pages: a promotion reaches a
    running worker without a restart, and the document records the version."""
    from types import SimpleNamespace

    from recognition.bundle import load_bundle
    from worker.db import ModelVersion
    from worker.queue import tasks
    from worker.registry import source as registry_source

    monkeypatch.setattr(tasks.recognize_task, "apply_async", lambda args, **kw: rt.queued.append(("recognize", *args)))
    doc_id = _register(rt, "examples/letter.pdf")
    tasks.start_task.apply((doc_id,))
    tasks.segment_task.apply((doc_id, 0))
    tasks.segment_task.apply((doc_id, 1))
    rt.models.every = 0.0  # look the live model up before every batch
    tasks.recognize_task.apply((doc_id, 0))
    with rt.sessions() as s:
        first = s.get(ModelVersion, s.get(Document, doc_id).model_version_id).version
    promoted = load_bundle()
    promoted.version = f"{first}+promoted"
    promoted.save(tmp_path / "promoted")
    monkeypatch.setattr(registry_source, "live", lambda session: SimpleNamespace(id=999))
    monkeypatch.setattr(registry_source, "fetch", lambda store, mv, cache: tmp_path / "promoted")
    tasks.recognize_task.apply((doc_id, 1))
    status, error, _pages, _runs = _state(rt, doc_id)
    with rt.sessions() as s:
        assert status == Status.DONE and error is None
        assert s.get(ModelVersion, s.get(Document, doc_id).model_version_id).version == f"{first}+promoted"
        assert rt.bundle.version == f"{first}+promoted"


def test_a_silent_run_is_queued_again_once_and_a_beating_one_is_left_alone(rt, monkeypatch):
    from datetime import timedelta

    from worker.db import Stage, utcnow
    from worker.queue.delivery import Claim, beat, claim, sweep, worker_name

    doc_id = _register(rt, "examples/letter.pdf")
    dead_after = rt.settings.dead_after
    old = utcnow() - timedelta(seconds=dead_after + 5)
    with rt.sessions() as s:
        for page, worker in ((0, "gone:1"), (1, worker_name())):  # page 0's worker died; page 1 is ours, slow
            s.add(
                TaskRun(
                    document_id=doc_id,
                    stage="recognize",
                    page=page,
                    state="running",
                    worker=worker,
                    started_at=old,
                    heartbeat_at=old,
                    deaths=0,
                )
            )
        s.commit()
    assert beat(rt.sessions, {(doc_id, "recognize", 1)}) == 1  # this process beats for its own page
    assert sweep(rt.sessions, dead_after) == [(doc_id, "recognize", 0)]
    assert sweep(rt.sessions, dead_after) == []  # taken once, by one sweeper
    assert _state(rt, doc_id)[3] == [("recognize", 0, "lost", 0), ("recognize", 1, "running", 0)]
    got = claim(rt.sessions, doc_id, Stage.RECOGNIZE, 0, dead_after=dead_after, max_attempts=3, in_hand=False)
    assert got.outcome == Claim.STARTED  # the lost run's work, claimed again: its death counted
    assert _state(rt, doc_id)[3][0] == ("recognize", 0, "running", 1)
    busy = claim(rt.sessions, doc_id, Stage.RECOGNIZE, 1, dead_after=dead_after, max_attempts=3, in_hand=False)
    assert busy.outcome == Claim.BUSY and busy.wait > dead_after - 5  # alive: a duplicate looks again later


def test_every_task_stage_can_be_queued_again(rt, monkeypatch):
    from worker.queue import tasks

    sent = []
    for task in (tasks.start_task, tasks.segment_task, tasks.recognize_task):
        monkeypatch.setattr(task, "apply_async", lambda args, _name=task.name, **kw: sent.append((_name, *args)))
    tasks.resend(5, "start", -1)
    tasks.resend(5, "segment", 2)
    tasks.resend(5, "recognize", 3)
    assert sent == [("htr.start", 5), ("htr.segment", 5, 2), ("htr.recognize", 5, 3)]


def _quiet(rt, doc_id, seconds):
    """Move a document's history ``seconds`` into the past (registered, begun, its runs)."""
    from datetime import timedelta

    with rt.sessions() as s:
        doc = s.get(Document, doc_id)
        doc.created_at = doc.created_at - timedelta(seconds=seconds)
        doc.started_at = doc.started_at and doc.started_at - timedelta(seconds=seconds)
        for r in s.scalars(select(TaskRun).where(TaskRun.document_id == doc_id)):
            r.started_at = r.started_at and r.started_at - timedelta(seconds=seconds)
            r.heartbeat_at = r.heartbeat_at and r.heartbeat_at - timedelta(seconds=seconds)
            r.finished_at = r.finished_at and r.finished_at - timedelta(seconds=seconds)
        s.commit()


def test_work_whose_message_the_broker_lost_is_queued_again_and_held_work_is_not(rt, monkeypatch):
    """A worker killed after taking a message from Redis, before recording it,
    takes the message along: the document's next steps that the broker holds
    no message for are queued again, once nothing has touched it for a while."""
    from worker.db import RunState, utcnow
    from worker.queue import tasks
    from worker.queue.delivery import recover, unfinished

    monkeypatch.setattr(tasks.recognize_task, "apply_async", lambda args, **kw: rt.queued.append(("recognize", *args)))
    quiet = rt.settings.dead_after
    waiting = _register(rt, "examples/line.png")  # queued; its start message lost
    letter = _register(rt, "examples/letter.pdf")  # two pages
    tasks.start_task.apply((letter,))
    tasks.segment_task.apply((letter, 0))  # page 0 segmented: its recognize message lost; page 1's segment waits
    assert rt.queued == [(letter, 0), (letter, 1), ("recognize", letter, 0)]
    assert unfinished(rt.sessions, quiet) == []  # just touched: nothing is looked at yet
    for doc_id in (waiting, letter):
        _quiet(rt, doc_id, quiet + 1)
    expected = [(waiting, "start", -1), (letter, "recognize", 0), (letter, "segment", 1)]
    assert unfinished(rt.sessions, quiet) == expected

    sent = []
    held = {(letter, "segment", 1)}  # still in a queue (or in a worker's hands): left alone
    assert recover(rt.sessions, quiet, lambda: held, lambda *step: sent.append(step)) == expected[:2]
    assert sent == expected[:2]

    # A page in a worker's hands is the sweeper's; a document read by `htr process` (no runs) is not the queue's.
    with rt.sessions() as s:
        run = s.get(TaskRun, (letter, "segment", 0))
        run.state, run.heartbeat_at = RunState.RUNNING, utcnow()
        s.get(Document, waiting).status = Status.PROCESSING
        s.commit()
    _quiet(rt, letter, quiet + 1)
    assert unfinished(rt.sessions, quiet) == []

    # The steps queued again complete the document, each page once.
    with rt.sessions() as s:
        s.get(TaskRun, (letter, "segment", 0)).state = RunState.ENDED
        s.commit()
    tasks.recognize_task.apply((letter, 0))
    tasks.segment_task.apply((letter, 1))
    tasks.recognize_task.apply((letter, 1))
    tasks.recognize_task.apply((letter, 0))  # the lost message after all: a duplicate does nothing
    status, error, pages, runs = _state(rt, letter)
    assert status == Status.DONE and error is None and pages == 2
    assert all(state == "ended" and deaths == 0 for _stage, _page, state, deaths in runs)
    assert unfinished(rt.sessions, 0) == []


def test_a_start_delivered_again_fans_out_only_the_pages_not_stored(rt, monkeypatch):
    """A document read in part before (its pages kept) is started again: only
    the pages not stored are segmented."""
    from worker.db import Page
    from worker.pipeline.lifecycle import interrupt_document
    from worker.queue import tasks

    monkeypatch.setattr(tasks.recognize_task, "apply_async", lambda args, **kw: rt.queued.append(("recognize", *args)))
    doc_id = _register(rt, "examples/letter.pdf")
    tasks.start_task.apply((doc_id,))
    tasks.segment_task.apply((doc_id, 0))
    tasks.recognize_task.apply((doc_id, 0))
    with rt.sessions() as s:  # as `htr process` leaves a document it was interrupted in (no runs of the queue)
        interrupt_document(s, doc_id)
        for r in s.scalars(select(TaskRun).where(TaskRun.document_id == doc_id)):
            s.delete(r)
        s.commit()
    rt.queued.clear()
    tasks.start_task.apply((doc_id,))
    status, _error, pages, _runs = _state(rt, doc_id)
    assert status == Status.PROCESSING and pages == 2
    assert rt.queued == [(doc_id, 1)]  # page 0 is stored: not read again
    with rt.sessions() as s:
        assert s.scalars(select(Page.index).where(Page.document_id == doc_id)).all() == [0]


def test_the_steps_of_messages_are_read_as_kombu_keeps_them_in_redis():
    import base64
    import json

    from worker.queue.broker import message_step

    def message(task, args):
        body = base64.b64encode(json.dumps([list(args), {}, {}]).encode()).decode()
        return {"body": body, "headers": {"task": task, "id": "x"}, "properties": {"body_encoding": "base64"}}

    assert message_step(json.dumps(message("htr.start", (7,)))) == (7, "start", -1)
    assert message_step(json.dumps(message("htr.segment", (7, 2))).encode()) == (7, "segment", 2)
    assert message_step(json.dumps([message("htr.recognize", (7, 3)), "", "gpu"])) == (7, "recognize", 3)  # in `unacked`
    assert message_step(json.dumps(message("htr.scan", ("s3://b/p",)))) is None
    assert message_step(b"not json") is None
