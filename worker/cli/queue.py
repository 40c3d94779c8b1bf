"""Commands on the queue: ``submit``, ``scan``, ``status``, ``worker``, ``beat``."""

from __future__ import annotations

import json
import os
import sys

from .common import doc_id, sessions


def cmd_submit(args) -> int:
    from ..io.store import open_store
    from ..queue.jobs import submit
    from ..queue.tasks import enqueue

    s = args.settings
    failed = 0
    for r in submit(sessions(s), open_store(s.store_url), args.targets, enqueue, s.limits):
        failed += r.status == "failed" and r.id is None
        if args.json:
            print(json.dumps(r.to_json()), flush=True)
        else:
            what = "queued" if r.created else f"already known ({r.status})"
            print(f"{r.path}: " + (f"document {r.id} {what}" if r.id is not None else f"failed: {r.error}"), flush=True)
    return 1 if failed else 0


def cmd_scan(args) -> int:
    from ..io.store import open_store
    from ..queue.jobs import scan_prefix
    from ..queue.tasks import enqueue

    s = args.settings
    found = scan_prefix(sessions(s), open_store(s.store_url), args.url, enqueue, s.limits)
    for r in found:
        print(json.dumps(r.to_json()) if args.json else f"{r.path}: document {r.id} queued", flush=True)
    if not args.json:
        print(f"{len(found)} new documents queued from {args.url}", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    from ..queue.jobs import document_status, status

    with sessions(args.settings)() as s:
        if args.doc is not None:
            info = document_status(s, args.doc)
            if info is None:
                print(f"htr status: no document {args.doc}", file=sys.stderr)
                return 2
        else:
            info = status(s, args.window)
    if args.json:
        print(json.dumps(info))
    elif args.doc is not None:
        for k, v in info.items():
            print(f"{k:14} {v}")
    else:
        c, t = info["counts"], info["throughput"]
        print("  ".join(f"{k} {v}" for k, v in c.items()) + f"  (total {info['total']})")
        print(f"last {t['window_minutes']} min: {t['documents_per_min']} documents/min, {t['pages_per_min']} pages/min")
        eta = info["eta_seconds"]
        print(
            f"waiting {info['waiting']}"
            + (f", ETA {eta / 60:.1f} min" if eta is not None else ", ETA unknown (nothing finished recently)")
        )
    return 0


def cmd_worker(args) -> int:
    import socket

    from ..queue.app import app

    sessions(args.settings)  # the schema is current before any task runs
    queues = args.queues
    pool = args.pool or ("threads" if "gpu" in queues.split(",") else "prefork")
    if "gpu" in queues.split(",") and pool in ("threads", "solo"):
        from ..queue.runtime import runtime

        runtime().batcher()  # load the model before taking work
        bundle = runtime().bundle
        assert bundle is not None
        where = _accelerator(args.settings.backend)
        print(f"htr worker: model {bundle.name} {bundle.version} on {where}", file=sys.stderr, flush=True)
    name = args.name or f"htr-{os.getpid()}@{socket.gethostname()}"
    argv = ["worker", "-Q", queues, "-P", pool, "-c", str(args.concurrency), "-n", name, "--loglevel", args.loglevel]
    argv += ["--without-mingle", "--without-gossip"]
    if args.beat:
        argv.append("--beat")
    app.worker_main(argv)
    return 0


def _accelerator(backend_name: str) -> str:
    """What the network runs on: ONNX Runtime on the CPU; the Keras backend on its GPUs when
    it sees any (a GPU worker sets HTR_BACKEND=tf), else the CPU."""
    if backend_name != "tf":
        return "onnxruntime: CPU"
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            gpus = [str(d) for d in jax.devices() if d.platform == "gpu"]
        else:
            import tensorflow as tf

            gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # pragma: no cover - a backend without device listing
        gpus = []
    return f"{backend}: " + (", ".join(gpus) if gpus else "CPU")


def cmd_beat(args) -> int:
    from ..queue.app import app

    if not app.conf.beat_schedule:
        print("htr beat: nothing to schedule (HTR_SCAN_URL unset, HTR_FINETUNE_SCHEDULE off)", file=sys.stderr)
        return 2
    app.start(["beat", "--loglevel", args.loglevel, "--schedule", args.schedule])
    return 0


def register(sub) -> None:
    su = sub.add_parser("submit", help="store files (or s3://bucket/prefix objects), record and enqueue them; returns at once")
    su.add_argument("targets", nargs="+", metavar="PATH|s3://bucket/prefix")
    su.add_argument("--json", action="store_true", help="one JSON object per document per line")
    su.set_defaults(func=cmd_submit)

    sc = sub.add_parser("scan", help="enqueue the objects under s3://bucket/prefix not seen before (the nightly job)")
    sc.add_argument("url")
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(func=cmd_scan)

    st = sub.add_parser("status", help="documents per state, throughput and ETA; or one document's progress")
    st.add_argument("doc", type=doc_id, nargs="?")
    st.add_argument("--json", action="store_true")
    st.add_argument("--window", type=int, default=60, help="minutes of finished work the throughput is measured over")
    st.set_defaults(func=cmd_status)

    w = sub.add_parser("worker", help="run a Celery worker")
    w.add_argument("--queues", default="cpu,gpu", help="comma-separated: cpu (render, segment), gpu (recognize)")
    w.add_argument("--concurrency", type=int, default=max(2, os.cpu_count() or 1))
    w.add_argument(
        "--pool",
        choices=["threads", "prefork", "solo"],
        help="default: threads when serving gpu (one model, micro-batched), else prefork",
    )
    w.add_argument("--name", help="worker node name (default htr-PID@HOST)")
    w.add_argument("--loglevel", default="INFO")
    w.add_argument("--beat", action="store_true", help="also run the scheduler (one per deployment)")
    w.set_defaults(func=cmd_worker)

    b = sub.add_parser("beat", help="run the Celery beat scheduler for the nightly scan of $HTR_SCAN_URL")
    b.add_argument("--loglevel", default="INFO")
    b.add_argument("--schedule", default="var/celerybeat-schedule", help="file where beat remembers the last runs")
    b.set_defaults(func=cmd_beat)
