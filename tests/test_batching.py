"""Micro-batching across concurrent recognition requests, and the settings object."""

import threading
import time

import pytest

from worker.queue.batching import MicroBatcher
from worker.settings import Settings


def test_concurrent_requests_share_one_model_call_and_get_their_own_results():
    calls = []

    def predict(items):
        calls.append(list(items))
        return [x * 10 for x in items]

    b = MicroBatcher(predict, max_items=100, max_wait=0.3)
    out = {}
    barrier = threading.Barrier(3)

    def client(name, items):
        barrier.wait()
        out[name] = b.submit(items)

    threads = [threading.Thread(target=client, args=(n, it)) for n, it in (("a", [1, 2]), ("b", [3]), ("c", [4, 5, 6]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == {"a": [10, 20], "b": [30], "c": [40, 50, 60]}
    assert len(calls) == 1 and sorted(calls[0]) == [1, 2, 3, 4, 5, 6]


def test_a_form_pages_field_types_travel_with_its_crops():
    """Lines and a form's typed fields in one model call: each crop keeps its type (None: a line)."""
    calls = []

    def predict(items, types=None):
        calls.append(types)
        return [f"{x}:{t}" for x, t in zip(items, types or [None] * len(items))]

    b = MicroBatcher(predict, max_items=100, max_wait=0.3)
    out = {}
    barrier = threading.Barrier(2)

    def client(name, items, types):
        barrier.wait()
        out[name] = b.submit(items, types)

    threads = [
        threading.Thread(target=client, args=("lines", ["l1", "l2"], None)),
        threading.Thread(target=client, args=("form", ["f1", "f2"], ["date", "name"])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == {"lines": ["l1:None", "l2:None"], "form": ["f1:date", "f2:name"]}
    assert len(calls) == 1
    assert b.submit(["x"]) == ["x:None"] and calls[-1] is None  # lines alone: called as before


def test_a_full_batch_runs_without_waiting_and_a_lone_request_waits_at_most_max_wait():
    sizes = []
    b = MicroBatcher(lambda items: sizes.append(len(items)) or list(items), max_items=4, max_wait=5.0)
    t0 = time.monotonic()
    assert b.submit([1, 2, 3, 4]) == [1, 2, 3, 4]  # full: no 5 s wait
    assert time.monotonic() - t0 < 2.0
    b2 = MicroBatcher(lambda items: list(items), max_items=1000, max_wait=0.2)
    t0 = time.monotonic()
    assert b2.submit(["x"]) == ["x"]
    assert 0.15 <= time.monotonic() - t0 < 2.0
    assert b.submit([]) == [] and sizes == [4]


def test_batches_are_capped_and_errors_reach_every_caller():
    sizes = []
    b = MicroBatcher(lambda items: sizes.append(len(items)) or list(items), max_items=3, max_wait=0.2)
    res = []
    ts = [threading.Thread(target=lambda i=i: res.append(b.submit([i, i]))) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert sorted(map(tuple, res)) == [(0, 0), (1, 1), (2, 2)] and max(sizes) <= 3

    def boom(items):
        raise RuntimeError("model failed")

    bad = MicroBatcher(boom, max_wait=0.01)
    with pytest.raises(RuntimeError, match="model failed"):
        bad.submit([1])
    with pytest.raises(RuntimeError, match="model failed"):  # the batcher survives its errors
        bad.submit([2])


def test_settings_from_environment():
    s = Settings.from_env(
        {
            "HTR_DATABASE_URL": "postgresql://db/htr",
            "HTR_BROKER_URL": "redis://r:6379/1",
            "HTR_STORE_URL": "s3://b/p",
            "HTR_MODEL": "/models/x",
            "HTR_MAX_ATTEMPTS": "5",
            "HTR_VISIBILITY_TIMEOUT": "7200",
            "HTR_TASK_ROUTES": '{"htr.recognize": "cpu"}',
            "HTR_SCAN_URL": "s3://inbox/scans/",
            "HTR_DECODER": "greedy",
        }
    )
    assert s.decoder == "greedy" and Settings.from_env({}).decoder == "beam"
    assert (s.database_url, s.broker_url, s.store_url, s.model) == (
        "postgresql://db/htr",
        "redis://r:6379/1",
        "s3://b/p",
        "/models/x",
    )
    assert (
        s.max_attempts == 5
        and s.visibility_timeout == 7200
        and s.routes["htr.recognize"] == "cpu"
        and s.routes["htr.segment"] == "cpu"
    )
    d = Settings.from_env({})
    assert d.database_url.startswith("sqlite:///") and d.store_url.startswith("file://") and d.routes["htr.recognize"] == "gpu"
    with pytest.raises(ValueError, match="HTR_MAX_ATTEMPTS"):
        Settings.from_env({"HTR_MAX_ATTEMPTS": "many"})
    with pytest.raises(ValueError, match="HTR_DECODER"):
        Settings.from_env({"HTR_DECODER": "viterbi"})


def test_celery_app_is_configured_for_late_acks_routing_and_the_nightly_scan():
    from worker.queue.app import make_app

    app = make_app(
        Settings.from_env(
            {"HTR_SCAN_URL": "s3://inbox/scans/", "HTR_SCAN_SCHEDULE": "30 1 * * *", "HTR_VISIBILITY_TIMEOUT": "900"}
        )
    )
    c = app.conf
    assert c.task_acks_late and c.task_reject_on_worker_lost and c.worker_prefetch_multiplier == 1
    assert c.task_routes["htr.recognize"] == {"queue": "gpu"} and c.task_routes["htr.segment"] == {"queue": "cpu"}
    assert c.broker_transport_options["visibility_timeout"] == 900
    job = c.beat_schedule["nightly-scan"]
    assert job["task"] == "htr.scan" and job["args"] == ["s3://inbox/scans/"]
    assert job["schedule"].hour == {1} and job["schedule"].minute == {30}
    refresh = c.beat_schedule["nightly-refresh"]
    assert (
        refresh["task"] == "htr.refresh"
        and refresh["schedule"].hour == {3}
        and c.task_routes["htr.refresh"] == {"queue": "train"}
    )
    off = make_app(Settings.from_env({"HTR_FINETUNE_SCHEDULE": "off"})).conf.beat_schedule
    assert off == {}
