"""The ``htr`` command."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

MAX_ID = 2**63 - 1  # the databases' 64-bit integer keys
MAX_LIMIT = 10_000


def _quiet_backend(level: str = "warning") -> None:
    """Logging for the command, configured once; the backend's native start-up
    lines (oneDNN notices, CUDA probes, ``cuInit`` errors on CPU machines) are
    kept off stderr unless ``--log-level debug``."""
    import logging

    logging.basicConfig(level=getattr(logging, level.upper()), format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if level == "debug":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _load_backend(level: str) -> None:
    """Import Keras and its backend, and touch a device, with the native
    stderr (file descriptor 2) closed unless debugging: absl writes there
    before any Python logging is set up."""
    import sqlite3  # noqa: F401  -- Python's SQLite (with FTS5) before TensorFlow's, see recognition/__init__.py

    if level == "debug" or "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras

            keras.ops.convert_to_numpy(keras.ops.zeros((1,)))
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _id(text: str) -> int:
    """A document id: a whole number the database can hold."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a document id (a whole number)") from None
    if not 1 <= v <= MAX_ID:
        raise argparse.ArgumentTypeError(f"document ids run from 1 to {MAX_ID}")
    return v


def _limit(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= v <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_LIMIT}")
    return v


def _decoder(args, default: str | None = None) -> str:
    """--decoder, else $HTR_DECODER, else the command's default (``htr
    recognize`` reads a few crops: beam, for accuracy; documents and the
    queue: the Settings default, greedy, for throughput)."""
    from worker.settings import Settings

    if args.decoder:
        return args.decoder
    if default and not os.environ.get("HTR_DECODER"):
        return default
    return Settings.from_env().decoder


def _predictor(args, default_decoder: str | None = None):
    from recognition.predictor import DecoderOptions, Predictor

    opts = DecoderOptions(name=_decoder(args, default_decoder), use_lexicon=getattr(args, "lexicon", False))
    return Predictor.load(args.model, decoder=opts)


def cmd_recognize(args) -> int:
    import cv2

    pred = _predictor(args, default_decoder="beam")
    images, ok = [], []
    failed = 0
    for path in args.files:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None or img.size == 0:
            print(f"htr recognize: {path}: not a readable image", file=sys.stderr)
            failed += 1
        ok.append(img is not None and img.size > 0)
        images.append(img)
    results = iter(pred.predict([im for im, good in zip(images, ok) if good]))
    out = sys.stdout
    for path, good in zip(args.files, ok):
        if good:
            rec = next(results)
            out.write(f"{path}\t{rec.text}\t{rec.confidence:.4f}\n")
        else:
            out.write(f"{path}\t\t0.0000\n")
    out.flush()
    return 1 if failed else 0


def cmd_evaluate(args) -> int:
    from training.evaluate import evaluate

    pred = _predictor(args)
    from training.metrics import SLICES

    slices = [x for s in (args.slice or []) for x in s.split(",") if x]
    unknown = [s for s in slices if s not in SLICES]
    if unknown:
        raise SystemExit(f"htr evaluate: unknown slice {', '.join(unknown)} (choose from {', '.join(SLICES)})")
    res = evaluate(pred, args.datasets, args.data_root, args.limit, slices=slices)
    print(json.dumps(res, indent=2))
    return 0


def cmd_train(args) -> int:
    from training.train import TrainConfig, export, train

    cfg = TrainConfig.load(args.config)
    if args.data_root:
        cfg.data_root = args.data_root
    if args.augment is not None:
        cfg.augment = args.augment
    if args.output:
        cfg.output = args.output
    if args.export_only:
        export(cfg)
    else:
        train(cfg, resume=args.resume, epochs=args.epochs, init_from=args.init_from, time_limit=args.time_limit, lr=args.lr)
    return 0


def _db(args=None):
    from worker.db import make_engine, session_factory, upgrade

    upgrade()  # idempotent: brings an embedded or new database to the current schema
    return session_factory(make_engine())


def cmd_process(args) -> int:
    from tqdm import tqdm

    from recognition.bundle import load_bundle
    from recognition.predictor import DecoderOptions, Predictor
    from worker.db import Document
    from worker.documents import BadInput, page_count
    from worker.pipeline import process_document, register_document
    from worker.store import open_store

    sessions = _db()
    store = open_store()
    bundle = load_bundle(args.model)
    pred = Predictor.from_bundle(bundle, decoder=DecoderOptions(name=_decoder(args)))
    failed = 0
    for path in args.paths:
        if not os.path.lexists(path):
            print(
                json.dumps({"id": None, "path": path, "status": "failed", "pages": 0, "error": "no such file"})
                if args.json
                else f"{safe(path)}: failed: no such file",
                flush=True,
            )
            failed += 1
            continue
        with sessions() as s:
            doc, _ = register_document(s, store, path)
            doc_id, rejected = doc.id, doc.store_key is None
        if rejected:  # refused before anything was stored: nothing to process
            with sessions() as s:
                doc = s.get(Document, doc_id)
                _report(args, path, doc)
            failed += 1
            continue
        show = not args.json and sys.stderr.isatty()
        total = None
        if show:  # the bar's total only: the document is opened (and checked) by process_document
            with contextlib.suppress(BadInput):
                total = page_count(path)
        with tqdm(total=total, desc=Path(path).name, unit="page", disable=not show, file=sys.stderr) as bar:
            doc = process_document(doc_id, sessions, store, pred, bundle=bundle, on_page=lambda n, _t: bar.update(1))
        failed += doc.status == "failed"
        _report(args, path, doc)
    if not args.json and len(args.paths) > 1:
        print(f"{len(args.paths)} files: {len(args.paths) - failed} done, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def safe(text: object, keep: str = "") -> str:
    """Text for a terminal: control characters (escape sequences in a file
    name, say) are shown escaped, not obeyed; JSON output needs none of this."""
    from worker.text import printable

    return printable(str(text), keep)


def _report(args, path: str, doc) -> None:
    if args.json:
        print(
            json.dumps({"id": doc.id, "path": path, "status": doc.status, "pages": doc.page_count or 0, "error": doc.error}),
            flush=True,
        )
    else:
        extra = f" ({safe(doc.error)})" if doc.error else ""
        print(f"{safe(path)}: document {doc.id} {doc.status}, {doc.page_count or 0} pages{extra}", flush=True)


def _document(args):
    """The document named on the command line, loaded with its pages, lines and words (or None)."""
    from worker.queries import load_document

    with _db()() as s:
        doc = load_document(s, args.doc)
    if doc is None:
        print(f"htr {args.command}: no document {args.doc}", file=sys.stderr)
    return doc


def cmd_show(args) -> int:
    from worker.queries import document_text

    doc = _document(args)
    if doc is None:
        return 2
    print(
        f"# document {doc.id}: {safe(doc.source)} [{doc.status}] {doc.page_count or 0} pages"
        + (f" error: {safe(doc.error)}" if doc.error else "")
    )
    print(safe(document_text(doc), keep="\n"))
    return 0


def cmd_search(args) -> int:
    from worker.queries import search

    with _db()() as s:
        hits = search(s, args.query, args.limit)
    for h in hits:
        if args.json:
            print(json.dumps(h.to_json()))
            continue
        words = " ".join(f"[{w.index}:{safe(w.text)} {w.confidence:.2f} @{','.join(map(str, w.box))}]" for w in h.words)
        print(
            f"doc {h.document_id} page {h.page} line {h.line}\t{h.rank:.3f}\t{safe(h.text)}\t{safe(h.source)}"
            + (f"\t{words}" if words else "")
        )
    return 0 if hits else 1


def cmd_export(args) -> int:
    from worker.export import export

    doc = _document(args)
    if doc is None:
        return 2
    files = export(doc, args.format)
    if not files:
        why = f" ({doc.status}: {safe(doc.error)})" if doc.error else f" ({doc.status})"
        print(f"htr export: document {doc.id} has no pages to write as {args.format}{why}", file=sys.stderr)
        return 2
    if args.output:
        try:
            for written in _write_export(Path(args.output), args.output.endswith(("/", os.sep)), files):
                print(safe(written))
        except OSError as exc:
            where = f": {safe(exc.filename)}" if exc.filename else ""
            print(f"htr export: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        return 0
    if len(files) > 1:
        print(f"htr export: {args.format} has one file per page ({len(files)}); give --output DIR", file=sys.stderr)
        return 2
    sys.stdout.write(files[0][1])
    return 0


def _write_export(out: Path, as_folder: bool, files: list[tuple[str, str]]) -> list[Path]:
    """Write an export to a file, or to a folder (``DIR/``, an existing
    folder, or a format with one file per page). Raises OSError."""
    if len(files) > 1 or as_folder or out.is_dir():
        if out.exists() and not out.is_dir():
            raise OSError(20, f"is a file; {len(files)} files need a folder", str(out))
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in files:
            (out / name).write_text(content, encoding="utf-8")
            written.append(out / name)
        return written
    with open(out, "w", encoding="utf-8") as f:
        f.write(files[0][1])
        f.flush()
        os.fsync(f.fileno())  # /dev/full and full disks fail here, not silently later
    return []


def cmd_db(args) -> int:
    from worker.db import database_url, upgrade

    upgrade()
    print(f"database at {database_url()} is up to date")
    return 0


def cmd_segment(args) -> int:
    import cv2

    from segmentation import draw_overlay, segment_page

    from .settings import skip_printed

    img = cv2.imread(args.image, cv2.IMREAD_GRAYSCALE)
    if img is None:
        print(f"htr segment: {args.image}: not a readable image", file=sys.stderr)
        return 2
    layout = segment_page(img, skip_printed=skip_printed())
    if args.overlay:
        cv2.imwrite(args.overlay, draw_overlay(img, layout))
    if args.json:
        print(json.dumps(layout.to_json()))
    else:
        printed = f", {len(layout.printed)} printed lines skipped" if layout.printed else ""
        print(
            f"{len(layout.lines)} lines, {sum(len(l.words) for l in layout.lines)} words, skew {layout.angle:.2f} degrees{printed}"
        )
    return 0


def cmd_submit(args) -> int:
    from worker.jobs import submit
    from worker.store import open_store
    from worker.tasks import enqueue

    sessions = _db()
    store = open_store()
    failed = 0
    for r in submit(sessions, store, args.targets, enqueue):
        failed += r.status == "failed" and r.id is None
        if args.json:
            print(json.dumps(r.to_json()), flush=True)
        else:
            what = "queued" if r.created else f"already known ({r.status})"
            print(f"{r.path}: " + (f"document {r.id} {what}" if r.id is not None else f"failed: {r.error}"), flush=True)
    return 1 if failed else 0


def cmd_scan(args) -> int:
    from worker.jobs import scan
    from worker.store import open_store
    from worker.tasks import enqueue

    found = scan(_db(), open_store(), args.url, enqueue)
    for r in found:
        print(json.dumps(r.to_json()) if args.json else f"{r.path}: document {r.id} queued", flush=True)
    if not args.json:
        print(f"{len(found)} new documents queued from {args.url}", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    from worker.jobs import document_status, status

    with _db()() as s:
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

    from worker.celery_app import app

    _db()  # the schema is current before any task runs
    queues = args.queues
    pool = args.pool or ("threads" if "gpu" in queues.split(",") else "prefork")
    if "gpu" in queues.split(",") and pool in ("threads", "solo"):
        from worker.tasks import runtime

        runtime().batcher()  # load the model before taking work
        bundle = runtime().bundle
        assert bundle is not None
        print(
            f"htr worker: model {bundle.name} {bundle.version} on {_accelerator()}",
            file=sys.stderr,
            flush=True,
        )
    name = args.name or f"htr-{os.getpid()}@{socket.gethostname()}"
    argv = [
        "worker",
        "-Q",
        queues,
        "-P",
        pool,
        "-c",
        str(args.concurrency),
        "-n",
        name,
        "--loglevel",
        args.loglevel,
        "--without-mingle",
        "--without-gossip",
    ]
    if args.beat:
        argv.append("--beat")
    app.worker_main(argv)
    return 0


def _accelerator() -> str:
    """What the Keras backend will run on: GPUs when it sees any, else the CPU."""
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
    from worker.celery_app import app

    if not app.conf.beat_schedule:
        print("htr beat: HTR_SCAN_URL is not set: nothing to schedule", file=sys.stderr)
        return 2
    app.start(["beat", "--loglevel", args.loglevel, "--schedule", args.schedule])
    return 0


def build_parser() -> argparse.ArgumentParser:
    from worker.settings import DECODERS

    p = argparse.ArgumentParser(prog="htr", description="Handwritten text recognition")
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="warning",
        help="what the command logs to stderr (debug also shows the backend's own start-up lines)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp, decoder_default="greedy"):
        sp.add_argument("--model", help="model folder (default: $HTR_MODEL or the bundled model)")
        sp.add_argument(
            "--decoder",
            choices=DECODERS,
            help=f"greedy (fast) or beam with the character n-gram (default: $HTR_DECODER or {decoder_default})",
        )
        sp.add_argument("--lexicon", action="store_true", help="beam search: keep words in the training lexicon")

    r = sub.add_parser("recognize", help="read cropped words or lines; prints path<TAB>text<TAB>confidence")
    r.add_argument("files", nargs="+")
    model_args(r, decoder_default="beam")
    r.set_defaults(func=cmd_recognize)

    e = sub.add_parser("evaluate", help="CER/WER/exact match as JSON per dataset")
    e.add_argument(
        "datasets",
        nargs="+",
        help="iam-ondb:test, washington:cv1/test, fonts:test, form-names:test, iam-lines:ROOT, punctuation:test, a labels.tsv folder ...; SPEC+neighbours adds ink of neighbouring lines to every crop",
    )
    e.add_argument("--data-root", help="folder with iam-ondb/ and washington/ (default $HTR_DATA_DIR or ../shared/data)")
    e.add_argument("--limit", type=int, help="evaluate the first N samples of each dataset")
    e.add_argument(
        "--slice",
        action="append",
        metavar="caps,allcaps,punct",
        help="also report the words that start with a capital (caps), ALL-CAPS words (allcaps), words with punctuation (punct)",
    )
    model_args(e)
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("--config", required=True)
    t.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    t.add_argument("--epochs", type=int, help="override the config's epoch count")
    t.add_argument(
        "--init-from",
        help="start from a model bundle's weights, layer by layer where name and shapes match (e.g. recognition/models/htr-base)",
    )
    t.add_argument(
        "--lr",
        type=float,
        help="the learning rate to start from: of a fresh run instead of the config's, of a --resume'd run instead of the checkpoint's",
    )
    t.add_argument("--output", metavar="MODEL_DIR", help="export the bundle here instead of the config's output folder")
    t.add_argument(
        "--augment", type=float, metavar="STRENGTH", help="override the config's augmentation strength (1.0 full, 0 none)"
    )
    t.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="stop after the last epoch that fits in this time (then export; --resume goes on)",
    )
    t.add_argument("--export-only", action="store_true", help="export the run's best weights as a model bundle")
    t.add_argument("--data-root")
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("process", help="render, segment, recognize and store documents (in-process)")
    pr.add_argument("paths", nargs="+")
    pr.add_argument("--json", action="store_true", help="one JSON object per document per line")
    model_args(pr)
    pr.set_defaults(func=cmd_process)

    sh = sub.add_parser("show", help="a document's transcript")
    sh.add_argument("doc", type=_id)
    sh.set_defaults(func=cmd_show)

    se = sub.add_parser("search", help="full-text search over recognized lines, ranked, with the matching words")
    se.add_argument("query")
    se.add_argument("--limit", type=_limit, default=20, help=f"at most this many hits (1 to {MAX_LIMIT})")
    se.add_argument("--json", action="store_true", help="one JSON object per hit, with the matching words' boxes")
    se.set_defaults(func=cmd_search)

    ex = sub.add_parser("export", help="a document as txt, json, ALTO, PAGE XML or hOCR")
    ex.add_argument("doc", type=_id)
    ex.add_argument("--format", choices=["txt", "json", "alto", "pagexml", "hocr"], default="txt")
    ex.add_argument("--output", help="file, or folder (PAGE XML writes one file per page)")
    ex.set_defaults(func=cmd_export)

    d = sub.add_parser("db", help="database maintenance")
    d.add_argument("action", choices=["upgrade"])
    d.set_defaults(func=cmd_db)

    su = sub.add_parser("submit", help="store files (or s3://bucket/prefix objects), record and enqueue them; returns at once")
    su.add_argument("targets", nargs="+", metavar="PATH|s3://bucket/prefix")
    su.add_argument("--json", action="store_true", help="one JSON object per document per line")
    su.set_defaults(func=cmd_submit)

    sc = sub.add_parser("scan", help="enqueue the objects under s3://bucket/prefix not seen before (the nightly job)")
    sc.add_argument("url")
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(func=cmd_scan)

    st = sub.add_parser("status", help="documents per state, throughput and ETA; or one document's progress")
    st.add_argument("doc", type=_id, nargs="?")
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

    sg = sub.add_parser("segment", help="segment a page image into lines and words")
    sg.add_argument("image")
    sg.add_argument("--overlay", help="write the page with boxes drawn to this PNG")
    sg.add_argument("--json", action="store_true")
    sg.set_defaults(func=cmd_segment)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_backend(args.log_level)
    if args.command in MODEL_COMMANDS:
        _load_backend(args.log_level)
    try:
        return args.func(args)
    except _user_errors() as exc:
        print(f"htr {args.command}: error: {exc}", file=sys.stderr)
        return 2


MODEL_COMMANDS = {"recognize", "evaluate", "train", "process"}  # the worker loads its model itself (prefork pools fork first)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "fix your input", reported in one line. Looked up only
    in modules already imported, so commands that never load the model (submit,
    status, search ...) do not pay for importing TensorFlow."""
    errors: list[type[BaseException]] = [FileNotFoundError, ValueError]
    for module, name in (
        ("recognition.bundle", "ModelLoadError"),
        ("training.datasets.base", "DatasetError"),
        ("worker.documents", "BadInput"),
    ):
        mod = sys.modules.get(module)
        if mod is not None:
            errors.append(getattr(mod, name))
    return tuple(errors)


if __name__ == "__main__":
    sys.exit(main())
