"""The queue against real services: a private Redis (AOF on, so it can be
stopped and started), PostgreSQL, a local S3 server (moto), and `htr worker`
subprocesses that are killed with SIGKILL mid-document."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, func, select, text

from benchmarks.synth import compose_page
from tests.fixtures import text_image
from tests.services import RedisServer, TcpProxy, WorkerProcess, moto_server, port_open
from worker.db import Document, Line, Page, Status, TaskRun, Word, make_engine, session_factory, upgrade

pytestmark = [pytest.mark.services, pytest.mark.slow]

ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
HTR = str(Path(sys.executable).with_name("htr"))
WORDS = "the quick brown fox jumps over lazy dog pack my box with five dozen liquor jugs".split()


def page_png(seed: int, lines: int = 3, size=(1000, 700)) -> bytes:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, 3)) for _ in range(lines)]
    sp = compose_page([text_image(t, scale=1.3) for t in texts], texts, rng, size=size)
    buf = io.BytesIO()
    Image.fromarray(sp.image).save(buf, format="PNG")
    return buf.getvalue()


def pdf_bytes(seed: int, pages: int) -> bytes:
    imgs = [Image.open(io.BytesIO(page_png(seed * 100 + k, lines=4, size=(1240, 1000)))) for k in range(pages)]
    buf = io.BytesIO()
    imgs[0].save(buf, format="PDF", save_all=True, append_images=imgs[1:], resolution=150)
    return buf.getvalue()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Redis, a fresh PostgreSQL database, S3 (moto) and the env a worker reads."""
    if not port_open("127.0.0.1", 5432):
        raise RuntimeError("PostgreSQL is not running on 127.0.0.1:5432 (scripts/test.sh starts it)")
    work = tmp_path_factory.mktemp("queue")
    redis = RedisServer(work / "redis")
    redis.start()
    name = f"htr_queue_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with moto_server() as s3_url:
        env = {
            "HTR_BROKER_URL": redis.url,
            "HTR_DATABASE_URL": db_url,
            "HTR_STORE_URL": "s3://htr-store/main",
            "AWS_ENDPOINT_URL_S3": s3_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "HTR_VISIBILITY_TIMEOUT": "10",  # dead workers' messages come back within seconds
            "HTR_HEARTBEAT_SECONDS": "2",  # ... and their silent runs are noticed within 8 s
            "HTR_MAX_ATTEMPTS": "3",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        s3 = boto3.client(
            "s3", endpoint_url=s3_url, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
        s3.create_bucket(Bucket="htr-store")
        s3.create_bucket(Bucket="inbox")
        upgrade(db_url)
        engine = make_engine(db_url)
        yield {"env": env, "redis": redis, "s3": s3, "sessions": session_factory(engine), "work": work}
        engine.dispose()
    redis.stop()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def worker(stack, request):
    started: list[WorkerProcess] = []

    def make(*args: str) -> WorkerProcess:
        w = WorkerProcess(stack["env"], stack["work"] / f"{request.node.name}-{len(started)}.log", "--concurrency", "2", *args)
        started.append(w)
        return w.start()

    yield make
    for w in started:
        w.stop()
    for w in started:  # pytest shows this only when the test failed
        print(f"--- {w.log.name} (last lines) ---\n" + "\n".join(w.log.read_text(errors="replace").splitlines()[-60:]))


def htr(stack, *args: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([HTR, *args], env={**os.environ, **stack["env"]}, capture_output=True, text=True, timeout=300)


def submit(stack, *targets: str) -> list[dict]:
    res = htr(stack, "submit", "--json", *targets)
    assert res.returncode == 0, res.stderr[-2000:]
    return [json.loads(ln) for ln in res.stdout.splitlines() if ln.strip()]


def wait_for(stack, ids, states=(Status.DONE, Status.FAILED), timeout=240.0) -> dict[int, Document]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with stack["sessions"]() as s:
            docs = {d.id: d for d in s.scalars(select(Document).where(Document.id.in_(list(ids))))}
        if len(docs) == len(ids) and all(d.status in states for d in docs.values()):
            return docs
        time.sleep(0.5)
    raise AssertionError(f"not finished in {timeout}s: { {i: d.status for i, d in docs.items()} }")


def rows(stack, doc_id: int) -> tuple[int, int, int]:
    with stack["sessions"]() as s:
        pages = s.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc_id))
        lines = s.scalar(select(func.count()).select_from(Line).join(Page).where(Page.document_id == doc_id))
        words = s.scalar(select(func.count()).select_from(Word).join(Line).join(Page).where(Page.document_id == doc_id))
    return pages, lines, words


def running_run(stack, doc_id: int) -> TaskRun | None:
    with stack["sessions"]() as s:
        return s.scalar(
            select(TaskRun).where(TaskRun.document_id == doc_id, TaskRun.state == "running", TaskRun.stage != "start").limit(1)
        )


def settled_runs(stack, doc_id: int, timeout: float = 30.0) -> list[TaskRun]:
    """A document's task runs once all have ended, or as they are after ``timeout``
    (a segment run records its end just after queueing the page's recognition)."""
    deadline = time.time() + timeout
    while True:
        with stack["sessions"]() as s:
            runs = list(s.scalars(select(TaskRun).where(TaskRun.document_id == doc_id)).all())
        if all(r.state == "ended" for r in runs) or time.time() > deadline:
            return runs
        time.sleep(0.2)


def test_twenty_documents_from_s3_processed_once_and_duplicates_ignored(stack, worker):
    s3 = stack["s3"]
    for i in range(20):
        s3.put_object(Bucket="inbox", Key=f"batch1/scan-{i:02d}.png", Body=page_png(1000 + i))
    worker()
    first = submit(stack, "s3://inbox/batch1/")
    assert len(first) == 20 and all(r["created"] and r["status"] == "queued" for r in first)
    ids = [r["id"] for r in first]
    docs = wait_for(stack, ids)
    assert all(d.status == Status.DONE and d.page_count == 1 and d.error is None for d in docs.values())
    for i in ids:
        pages, lines, words = rows(stack, i)
        assert pages == 1 and lines >= 3 and words >= lines

    # Submitting the same prefix again, or the same bytes under a new name, queues nothing.
    s3.copy_object(Bucket="inbox", Key="batch1/copy-of-00.png", CopySource={"Bucket": "inbox", "Key": "batch1/scan-00.png"})
    again = submit(stack, "s3://inbox/batch1/")
    assert len(again) == 21 and not any(r["created"] for r in again)
    assert {r["id"] for r in again} == set(ids)
    with stack["sessions"]() as s:
        assert s.scalar(select(func.count()).select_from(Document)) >= 20
        assert s.scalar(select(func.count()).select_from(Document).where(Document.id.in_(ids))) == 20
        assert s.scalar(select(func.count()).select_from(Page).where(Page.document_id.in_(ids))) == 20

    # The nightly scan finds only what is new.
    s3.put_object(Bucket="inbox", Key="batch1/late.png", Body=page_png(2000))
    res = htr(stack, "scan", "--json", "s3://inbox/batch1/")
    assert res.returncode == 0, res.stderr[-2000:]
    new = [json.loads(ln) for ln in res.stdout.splitlines()]
    assert [r["path"] for r in new] == ["s3://inbox/batch1/late.png"]
    wait_for(stack, [new[0]["id"]])

    st = htr(stack, "status", "--json")
    assert st.returncode == 0, st.stderr[-2000:]
    info = json.loads(st.stdout)
    assert info["counts"]["done"] >= 21 and info["counts"]["queued"] == 0
    assert info["throughput"]["documents_per_min"] > 0


def test_worker_killed_mid_document_completes_exactly_once(stack, worker):
    stack["s3"].put_object(Bucket="inbox", Key="kill/long.pdf", Body=pdf_bytes(7, pages=4))
    [doc] = submit(stack, "s3://inbox/kill/")
    a = worker()  # started after the submission, so the test is watching when the work begins
    deadline = time.time() + 120
    while running_run(stack, doc["id"]) is None:  # a page of it is in the worker's hands
        assert time.time() < deadline, "the document never started"
        time.sleep(0.05)
    a.kill9()
    assert rows(stack, doc["id"])[0] < 4  # it really was cut off mid-document
    worker()  # a fresh worker picks up the dead one's messages
    d = wait_for(stack, [doc["id"]])[doc["id"]]
    assert d.status == Status.DONE and d.page_count == 4
    pages, lines, _words = rows(stack, doc["id"])
    assert pages == 4 and lines >= 16
    with stack["sessions"]() as s:
        idx = s.scalars(select(Page.index).where(Page.document_id == doc["id"]).order_by(Page.index)).all()
    assert idx == [0, 1, 2, 3]
    runs = settled_runs(stack, doc["id"])
    assert sum(r.deaths for r in runs) >= 1  # the killed run was delivered again
    assert all(r.state == "ended" for r in runs), [(r.stage, r.page, r.state, r.deaths, r.worker) for r in runs]
    st = json.loads(htr(stack, "status", "--json", str(doc["id"])).stdout)
    assert st["worker_deaths"] == 1 and st["pages_done"] == 4


def test_a_dead_worker_is_noticed_within_two_minutes_at_default_settings(stack):
    """Default heartbeat (10 s) and visibility timeout (an hour): the survivor queues
    the dead worker's page again after four missed beats; done once."""
    env = {k: v for k, v in stack["env"].items() if k not in ("HTR_VISIBILITY_TIMEOUT", "HTR_HEARTBEAT_SECONDS")}
    stack["s3"].put_object(Bucket="inbox", Key="default/long.pdf", Body=pdf_bytes(11, pages=6))
    workers = [WorkerProcess(env, stack["work"] / f"default-{i}.log", "--concurrency", "2").start() for i in range(2)]
    try:
        [doc] = submit(stack, "s3://inbox/default/")  # both workers ready: one of them takes its pages
        deadline = time.time() + 120
        while (run := running_run(stack, doc["id"])) is None:
            assert time.time() < deadline, "the document never started"
            time.sleep(0.05)
        victim = next(w for w in workers if run.worker and run.worker.endswith(f":{w.pid}"))
        victim.kill9()
        killed = time.time()
        d = wait_for(stack, [doc["id"]], timeout=150)[doc["id"]]
        took = time.time() - killed
        assert d.status == Status.DONE and took < 120, took
        pages, _lines, _words = rows(stack, doc["id"])
        assert pages == 6
        st = json.loads(htr(stack, "status", "--json", str(doc["id"])).stdout)
        assert st["worker_deaths"] == 1 and st["pages_done"] == 6
    finally:
        for w in workers:
            w.stop()


def test_processing_resumes_after_redis_stops(stack, worker):
    for i in range(6):
        stack["s3"].put_object(Bucket="inbox", Key=f"outage/doc-{i}.png", Body=page_png(3000 + i))
    worker()
    ids = [r["id"] for r in submit(stack, "s3://inbox/outage/")]
    wait_for(stack, ids[:1])
    stack["redis"].stop()
    time.sleep(4)
    stack["redis"].start()
    docs = wait_for(stack, ids)
    assert all(d.status == Status.DONE for d in docs.values()), {i: (d.status, d.error) for i, d in docs.items()}
    assert all(rows(stack, i)[0] == 1 for i in ids)


def test_a_store_outage_mid_document_delays_it_and_loses_nothing(stack, worker):
    """S3 unreachable for a while (connections refused and reset by a proxy in
    front of the S3 server): tasks retry with backoff; every page is stored once."""
    endpoint = stack["env"]["AWS_ENDPOINT_URL_S3"]
    host, port = endpoint.rsplit("//", 1)[1].split(":")
    proxy = TcpProxy(host, int(port)).start()
    stack["s3"].put_object(Bucket="inbox", Key="s3-outage/long.pdf", Body=pdf_bytes(21, pages=5))
    env = {**stack["env"], "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{proxy.port}"}
    w = WorkerProcess(env, stack["work"] / "s3-outage.log", "--concurrency", "2").start()
    try:
        [doc] = submit(stack, "s3://inbox/s3-outage/")
        deadline = time.time() + 120
        while rows(stack, doc["id"])[0] < 1:
            assert time.time() < deadline, "no page stored"
            time.sleep(0.1)
        proxy.stop()
        time.sleep(6)
        proxy.start()
        d = wait_for(stack, [doc["id"]], timeout=240)[doc["id"]]
        assert d.status == Status.DONE and d.error is None, (d.status, d.error)
        assert rows(stack, doc["id"])[0] == 5
        runs = settled_runs(stack, doc["id"])
        assert all(r.state == "ended" for r in runs), [(r.stage, r.page, r.state) for r in runs]
        assert b"transient error, retrying" in w.log.read_bytes()  # the outage was met, not missed
    finally:
        w.stop()
        proxy.stop()


def test_a_database_restart_mid_document_delays_it_and_loses_nothing(stack, worker):
    """PostgreSQL restarted while pages are being stored: tasks retry; each page once."""
    import shutil

    if shutil.which("pg_ctlcluster") is None:
        raise RuntimeError("pg_ctlcluster is needed to restart PostgreSQL")
    stack["s3"].put_object(Bucket="inbox", Key="pg-restart/long.pdf", Body=pdf_bytes(23, pages=5))
    worker()
    [doc] = submit(stack, "s3://inbox/pg-restart/")
    deadline = time.time() + 120
    while rows(stack, doc["id"])[0] < 1:
        assert time.time() < deadline, "no page stored"
        time.sleep(0.1)
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"], check=True, timeout=120
    )
    d = wait_for(stack, [doc["id"]], timeout=240)[doc["id"]]
    assert d.status == Status.DONE and d.error is None, (d.status, d.error)
    assert rows(stack, doc["id"])[0] == 5


def test_poison_document_fails_after_max_attempts_and_the_rest_complete(stack, worker):
    s3 = stack["s3"]
    s3.put_object(Bucket="inbox", Key="poison/a-poison.pdf", Body=pdf_bytes(11, pages=3))
    for i in range(3):
        s3.put_object(Bucket="inbox", Key=f"poison/good-{i}.png", Body=page_png(4000 + i))
    subs = submit(stack, "s3://inbox/poison/")
    w = worker()  # started after the submission, so the test is watching when the work begins
    poison = next(r["id"] for r in subs if "a-poison" in r["path"])
    good = [r["id"] for r in subs if r["id"] != poison]
    kills = 0
    deadline = time.time() + 300
    # This document "kills" every worker that touches it.
    while True:
        with stack["sessions"]() as s:
            st = s.get(Document, poison).status
        if st == Status.FAILED:
            break
        assert st != Status.DONE, "the poison document finished before the test could kill its worker"
        assert time.time() < deadline and kills <= 5, f"still {st} after {kills} kills"
        run = running_run(stack, poison)
        if run is not None and run.worker.endswith(f":{w.pid}"):  # this worker has it in hand
            w.kill9()
            kills += 1
            w = worker()
        time.sleep(0.05)
    docs = wait_for(stack, good + [poison])
    # HTR_MAX_ATTEMPTS: three deaths counted. A death is counted when its page is claimed again, so a
    # worker that starts one of the three pages afresh can be killed before the deaths before it are
    # counted: at most two kills more (they no longer count once the document has failed).
    assert 3 <= kills <= 5
    assert "gave up after 3 attempts" in docs[poison].error and "worker died" in docs[poison].error
    assert all(docs[i].status == Status.DONE for i in good)
    st = json.loads(htr(stack, "status", "--json", str(poison)).stdout)
    assert st["status"] == "failed" and st["worker_deaths"] == 3 and st["redeliveries"] >= 3


def test_a_message_a_worker_was_killed_taking_is_queued_again(stack):
    """kombu's Redis transport takes a message with BRPOP, which removes it from
    its queue, and only then records it as unacknowledged: a worker killed in
    between (the reply in its socket) takes the message along, and no visibility
    timeout brings it back. Here a worker is frozen while its BRPOP waits, a
    processing document's recognize message is handed to it, and it is killed.
    The document completes: a worker finds the document quiet and no message
    for its page in Redis, and queues the page again."""
    import os
    import signal

    import redis as redis_py

    from worker.queue.broker import message_step

    env = {**stack["env"], "HTR_HEARTBEAT_SECONDS": "5"}  # quiet for 20 s before its messages are looked for
    client = redis_py.Redis.from_url(stack["redis"].url)
    stack["s3"].put_object(Bucket="inbox", Key="lost/page.png", Body=page_png(5000))
    workers: list[WorkerProcess] = []

    def start(name: str, *args: str) -> WorkerProcess:
        workers.append(WorkerProcess(env, stack["work"] / f"lost-{name}.log", "--concurrency", "2", *args))
        return workers[-1].start()

    try:
        cpu = start("cpu", "--queues", "cpu")  # no worker serves gpu yet: the recognize message waits there
        [doc] = submit(stack, "s3://inbox/lost/")
        step = (doc["id"], "recognize", 0)
        deadline = time.time() + 120
        while (raw := next((m for m in client.lrange("gpu", 0, -1) if message_step(m) == step), None)) is None:
            assert time.time() < deadline, "the page was never segmented"
            time.sleep(0.1)
        while client.hlen("unacked"):  # segment acknowledges after queueing the page: a worker stopped
            assert time.time() < deadline, "the segment task never finished"  # before that would run it again
            time.sleep(0.1)
        cpu.stop()
        assert client.lrem("gpu", 1, raw) == 1  # held here until a worker waits in BRPOP for it
        tag = json.loads(raw)["properties"]["delivery_tag"]
        victim = start("victim")
        for _ in range(20):
            os.killpg(victim.pid, signal.SIGSTOP)
            if any(c.get("cmd") == "brpop" and "b" in c.get("flags", "") for c in client.client_list()):
                client.lpush("gpu", raw)
                if raw not in client.lrange("gpu", 0, -1):
                    break  # handed to the frozen worker's BRPOP
                client.lrem("gpu", 1, raw)  # that BRPOP had just timed out: take it back and try again
            os.killpg(victim.pid, signal.SIGCONT)
            time.sleep(0.3)
        else:
            raise AssertionError("the worker was never caught waiting in BRPOP")
        victim.kill9()
        assert not client.hexists("unacked", tag) and raw not in client.lrange("gpu", 0, -1)  # the message is gone
        assert rows(stack, doc["id"])[0] == 0
        survivor = start("survivor")
        d = wait_for(stack, [doc["id"]])[doc["id"]]
        assert d.status == Status.DONE and rows(stack, doc["id"])[0] == 1
        assert b"no message for it in the broker" in survivor.log.read_bytes()
        st = json.loads(htr(stack, "status", "--json", str(doc["id"])).stdout)
        assert st["worker_deaths"] == 0  # the killed worker had none of its runs in hand
    finally:
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                os.killpg(w.pid, signal.SIGCONT)
            w.stop()
        for w in workers:  # pytest shows this only when the test failed
            print(f"--- {w.log.name} (last lines) ---\n" + "\n".join(w.log.read_text(errors="replace").splitlines()[-60:]))
        client.close()


def test_a_worker_killed_mid_sweep_holds_up_redelivery_for_seconds_not_minutes(stack):
    """Workers take turns sweeping unacknowledged messages back into the queue,
    under a lock in Redis; a worker killed while holding it leaves the lock to
    expire, which must be well under the visibility timeout."""
    import redis as redis_py
    from kombu.transport.redis import Mutex

    from worker.queue.app import make_app
    from worker.settings import Settings

    app = make_app(Settings.from_env(stack["env"]))
    with app.connection_for_write() as conn:
        ch = conn.default_channel
        client = redis_py.Redis.from_url(stack["redis"].url)
        with Mutex(client, ch.unacked_mutex_key, ch.unacked_mutex_expire):  # as a sweeper takes it
            ttl = client.ttl(ch.unacked_mutex_key)  # how long it outlives a holder that dies now
        client.close()
    assert 0 < ttl <= 5  # HTR_VISIBILITY_TIMEOUT is 10 here (kombu's default would be 300)
