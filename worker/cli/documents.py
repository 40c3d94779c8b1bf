"""Commands on documents in this process and on stored transcripts:
``process``, ``show``, ``search``, ``export``, ``segment``, ``db``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from ..export import FORMATS
from .common import MAX_LIMIT, doc_id, limit, safe, sessions
from .model import backend, backend_arg, decoder, model_args, model_dir


def _process_without_db(args) -> int:
    """``htr process --no-db --export FMT``: each file read and written to ``--output`` in FMT,
    nothing stored; a file that cannot be read is reported and the others go on."""
    from recognition.bundle import load_bundle
    from recognition.predictor import DecoderOptions, Predictor

    from ..export import serialize
    from ..pipeline import classify, read_document

    settings = args.settings
    bundle = load_bundle(model_dir(args), build=backend(args) == "tf")
    predictor = Predictor.from_bundle(bundle, backend=backend(args), decoder=DecoderOptions(name=decoder(args)))
    model = f"{bundle.name} {bundle.version}"
    failed = 0
    for path in args.paths:
        error: str | None = None
        written: list[Path] = []
        try:
            doc = read_document(path, predictor, settings.limits, settings.skip_printed, model=model)
        except Exception as exc:  # bad input (or a missing file): reported, the batch goes on
            error = classify(exc).reason
        if error is None:
            try:
                written = _write_export(Path(args.output), True, serialize(doc, args.export))
            except OSError as exc:
                where = f": {safe(exc.filename)}" if exc.filename else ""
                print(f"htr process: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
                return 1
        failed += error is not None
        if args.json:
            print(
                json.dumps(
                    {"path": path, "status": "failed" if error else "done", "error": error, "files": [str(w) for w in written]}
                )
            )
        elif error:
            print(f"{safe(path)}: failed: {safe(error)}", flush=True)
        else:
            pages = f"{len(doc.pages)} page" + ("s" if len(doc.pages) != 1 else "")
            print(f"{safe(path)}: {pages} -> {', '.join(safe(str(w)) for w in written)}", flush=True)
    return 1 if failed else 0


def _export_stored(args, doc_id: int) -> None:
    """``htr process --export FMT``: a processed document written to ``--output`` too."""
    from ..db.queries import load_document
    from ..export import serialize
    from ..export.stored import document_model

    with sessions(args.settings)() as s:
        doc = load_document(s, doc_id)
        files = serialize(document_model(doc), args.export) if doc is not None and doc.pages else []
    _write_export(Path(args.output), True, files)


def cmd_process(args) -> int:
    if args.no_db:
        if not args.export:
            print("htr process: --no-db stores nothing: give --export FORMAT (and --output DIR)", file=sys.stderr)
            return 2
        return _process_without_db(args)
    from ..io.store import open_store
    from ..pipeline.inprocess import Interrupted
    from ..registry import CACHE, ModelSource

    settings = args.settings
    factory = sessions(settings)
    store = open_store(settings.store_url)
    models = ModelSource(
        factory, store, model_dir(args), decoder(args), CACHE, backend=backend(args)
    )  # --model pins; else the promoted model
    models.current()
    failed = 0
    try:
        for path in args.paths:
            failed += not _process_path(args, path, factory, store, models)
    except Interrupted as stop:
        of = "?" if stop.total is None else stop.total
        print(
            f"htr process: interrupted: {safe(path)}: document {stop.doc_id} keeps the {stop.kept} of {of} pages read; "
            "run htr process again to continue from the first unread page",
            file=sys.stderr,
            flush=True,
        )
        return 130
    if not args.json and len(args.paths) > 1:
        print(f"{len(args.paths)} files: {len(args.paths) - failed} done, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def _process_path(args, path: str, factory, store, models) -> bool:
    """Register, read and store one file (``htr process``), reporting it; -> whether it was read."""
    from tqdm import tqdm

    from ..db import Document, Status
    from ..io.documents import BadInput, page_count
    from ..pipeline import process_document, register_document
    from ..pipeline.lifecycle import stored_pages

    settings = args.settings
    if not os.path.lexists(path):
        print(
            json.dumps({"id": None, "path": path, "status": "failed", "pages": 0, "error": "no such file"})
            if args.json
            else f"{safe(path)}: failed: no such file",
            flush=True,
        )
        return False
    with factory() as s:
        doc, _ = register_document(s, store, path, limits=settings.limits)
        doc_id_, rejected = doc.id, doc.store_key is None
        kept = len(stored_pages(s, doc.id)) if doc.status != Status.DONE else 0
    if kept and not args.json:
        print(f"{safe(path)}: document {doc_id_}: {kept} pages read before are kept; reading the rest", file=sys.stderr)
    if rejected:  # refused before anything was stored: nothing to process
        with factory() as s:
            _report(args, path, s.get(Document, doc_id_))
        return False
    show = not args.json and sys.stderr.isatty()
    total = None
    if show:  # the bar's total only: the document is opened (and checked) by process_document
        with contextlib.suppress(BadInput):
            total = page_count(path, settings.limits)
    with tqdm(total=total, desc=Path(path).name, unit="page", disable=not show, file=sys.stderr) as bar:
        doc = process_document(
            doc_id_,
            factory,
            store,
            models,
            on_page=lambda n, _t: bar.update(n - bar.n),
            limits=settings.limits,
            skip_printed=settings.skip_printed,
        )
    _report(args, path, doc)
    if args.export and doc.status == Status.DONE:
        _export_stored(args, doc.id)
    return doc.status != Status.FAILED


def cmd_reprocess(args) -> int:
    from ..io.store import open_store
    from ..pipeline.reprocess import reprocess_document
    from ..registry import CACHE, ModelSource, fetch, find

    settings = args.settings
    factory = sessions(settings)
    store = open_store(settings.store_url)
    pinned = None
    if args.model:
        if Path(args.model, "model.json").is_file():
            pinned = args.model
        else:
            with factory() as s:
                pinned = str(fetch(store, find(s, args.model), CACHE))
    models = ModelSource(factory, store, pinned or settings.model, decoder(args), CACHE, backend=backend(args))
    failed = 0
    for doc in args.docs:
        r = reprocess_document(doc, factory, store, models, limits=settings.limits, skip_printed=settings.skip_printed)
        failed += r.status == "failed"
        if args.json:
            print(json.dumps(r.__dict__), flush=True)
        else:
            lost = (
                f" ({len(r.corrections_unmatched)} overlap no new line and stay as they were)" if r.corrections_unmatched else ""
            )
            print(f"document {doc} {r.status} with {r.model}: {r.corrections_kept} corrections kept{lost}", flush=True)
    return 1 if failed else 0


def cmd_reindex(args) -> int:
    from sqlalchemy import select

    from ..db import Document
    from ..io.store import open_store
    from ..pipeline.reindex import reindex_document
    from ..registry import CACHE, ModelSource

    settings = args.settings
    factory = sessions(settings)
    store = open_store(settings.store_url)
    predictor, _bundle = ModelSource(factory, store, model_dir(args), "greedy", CACHE, backend=backend(args)).current()
    with factory() as s:
        docs = args.docs or list(s.scalars(select(Document.id).where(Document.store_key.is_not(None)).order_by(Document.id)))
    for doc in docs:
        n = reindex_document(doc, factory, store, predictor)
        print(f"document {doc}: {n} lines indexed", flush=True)
    return 0


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
    from ..db.queries import load_document

    with sessions(args.settings)() as s:
        doc = load_document(s, args.doc)
    if doc is None:
        print(f"htr {args.command}: no document {args.doc}", file=sys.stderr)
    return doc


def cmd_show(args) -> int:
    from ..db.queries import document_text

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
    from ..db.queries import field_query, field_search, keyword_search, search

    with sessions(args.settings)() as s:
        by_field = field_query(s, args.query)
        fields = field_search(s, *by_field, limit=args.limit) if by_field is not None else []
    if by_field is not None:
        for f in fields:
            where = f"doc {f.document_id} page {f.page}" + (f" row {f.row}" if f.row else "")
            print(json.dumps(f.to_json()) if args.json else f"{where}\t{safe(f.field)}\t{safe(f.value)}\t{f.confidence:.2f}")
        return 0 if fields else 1
    with sessions(args.settings)() as s:
        hits = search(s, args.query, args.limit) if args.exact else keyword_search(s, args.query, args.min_prob, args.limit)
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
    from ..export import serialize
    from ..export.stored import document_model

    doc = _document(args)
    if doc is None:
        return 2
    files = serialize(document_model(doc), args.format)
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
    from ..db import database_url, upgrade

    upgrade(args.settings.database_url)
    print(f"database at {database_url(args.settings.database_url)} is up to date")
    return 0


def _overlay_path(overlay: str, page: int, pages: int) -> Path:
    """Where a page's overlay goes: the given path for one page, ``NAME-pN.EXT`` for each of several."""
    p = Path(overlay)
    return p if pages == 1 else p.with_name(f"{p.stem}-p{page}{p.suffix or '.png'}")


def cmd_segment(args) -> int:
    import cv2

    from segmentation import draw_overlay, segment_page

    from ..io.documents import BadInput, PageSource

    try:
        source = PageSource(args.image, args.settings.limits)  # an image (every frame of a TIFF) or a PDF
        if args.page is not None and args.page > source.count:
            raise BadInput(f"page {args.page}: the document has {source.count} pages")
        chosen = [args.page] if args.page is not None else list(range(1, source.count + 1))
        pages = source.pages(skip={i for i in range(source.count) if i + 1 not in chosen})
        for page in pages:
            n = page.index + 1
            layout = segment_page(page.image, skip_printed=args.settings.skip_printed)
            if args.overlay:
                target = _overlay_path(args.overlay, n, len(chosen))
                if not cv2.imwrite(str(target), draw_overlay(page.image, layout)):
                    print(f"htr segment: cannot write the overlay {safe(target)}", file=sys.stderr)
                    return 1
            if args.json:
                print(json.dumps({"page": n, **layout.to_json()}), flush=True)
            else:
                printed = f", {len(layout.printed)} printed lines skipped" if layout.printed else ""
                t = layout.table
                table = f", a register: {len(t.columns)} columns, {len(t.rows)} rows" if t is not None else ""
                where = f"page {n}: " if source.count > 1 else ""
                words = sum(len(l.words) for l in layout.lines)
                print(
                    f"{where}{len(layout.lines)} lines, {words} words, skew {layout.angle:.2f} degrees{printed}{table}",
                    flush=True,
                )
    except BadInput as exc:
        print(f"htr segment: {safe(args.image)}: {exc}", file=sys.stderr)
        return 2
    except cv2.error as exc:  # an overlay name OpenCV cannot write (no known extension)
        print(f"htr segment: cannot write the overlay: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
        return 1
    return 0


def _probability(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("give a probability from 0 to 1")
    return v


def _page_number(text: str) -> int:
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a page number") from None
    if v < 1:
        raise argparse.ArgumentTypeError("pages are numbered from 1")
    return v


def register(sub) -> None:
    _register_processing(sub)
    _register_reading(sub)


def _register_processing(sub) -> None:
    """process, reprocess, reindex."""
    pr = sub.add_parser("process", help="render, segment, recognize and store documents (in-process)")
    pr.add_argument("paths", nargs="+")
    pr.add_argument("--json", action="store_true", help="one JSON object per document per line")
    pr.add_argument(
        "--export",
        choices=FORMATS,
        metavar="FORMAT",
        help=f"also write each document as FORMAT ({', '.join(FORMATS)}) to --output",
    )
    pr.add_argument("--output", default=".", metavar="DIR", help="--export: the folder written to (default: here)")
    pr.add_argument(
        "--no-db", action="store_true", help="store nothing (no database, no store): with --export, read files to exports"
    )
    model_args(pr)
    backend_arg(pr)
    pr.set_defaults(func=cmd_process)

    rp = sub.add_parser("reprocess", help="read documents again (promoted model, or --model) keeping people's corrections")
    rp.add_argument("docs", nargs="+", type=doc_id)
    rp.add_argument("--model", help="a registered version (htr models list) or a bundle folder")
    rp.add_argument("--decoder", choices=["greedy", "beam"])
    rp.add_argument("--json", action="store_true")
    backend_arg(rp)
    rp.set_defaults(func=cmd_reprocess)

    ri = sub.add_parser("reindex", help="rebuild the keyword index of documents (all by default) from their page images")
    ri.add_argument("docs", nargs="*", type=doc_id)
    ri.add_argument("--model", help="model folder (default: the promoted model, else $HTR_MODEL or the bundled one)")
    backend_arg(ri)
    ri.set_defaults(func=cmd_reindex)


def _register_reading(sub) -> None:
    """show, search, export, db, segment."""
    sh = sub.add_parser("show", help="a document's transcript")
    sh.add_argument("doc", type=doc_id)
    sh.set_defaults(func=cmd_show)

    se = sub.add_parser(
        "search", help="lines that probably hold the query's words (the keyword index), ranked, with the words' boxes"
    )
    se.add_argument("query", help='words (all in one line), a "quoted phrase", or KEY:VALUE for fields (surname:dupont)')
    from recognition.keywords import DEFAULT_MIN_PROB  # not worker.db: no SQLAlchemy to build the parser

    se.add_argument(
        "--min-prob",
        type=_probability,
        default=DEFAULT_MIN_PROB,
        metavar="P",
        help=f"lowest probability shown (default {DEFAULT_MIN_PROB})",
    )
    se.add_argument("--exact", action="store_true", help="full-text search over the best reading only (stemmed)")
    se.add_argument("--limit", type=limit, default=20, help=f"at most this many hits (1 to {MAX_LIMIT})")
    se.add_argument("--json", action="store_true", help="one JSON object per hit, with the matching words' boxes")
    se.set_defaults(func=cmd_search)

    ex = sub.add_parser("export", help="a document as txt, json, ALTO, PAGE XML, hOCR, or CSV (a register's rows and fields)")
    ex.add_argument("doc", type=doc_id)
    ex.add_argument("--format", choices=FORMATS, default="txt")
    ex.add_argument("--output", help="file, or folder (PAGE XML writes one file per page)")
    ex.set_defaults(func=cmd_export)

    d = sub.add_parser("db", help="database maintenance")
    d.add_argument("action", choices=["upgrade"])
    d.set_defaults(func=cmd_db)

    sg = sub.add_parser("segment", help="segment the pages of an image or PDF into lines and words")
    sg.add_argument("image", help="a PNG, JPEG or TIFF image, or a PDF")
    sg.add_argument("--page", type=_page_number, metavar="N", help="only page N (from 1)")
    sg.add_argument("--overlay", help="write the page with boxes drawn to this PNG (NAME-pN.png for each of several pages)")
    sg.add_argument("--json", action="store_true")
    sg.set_defaults(func=cmd_segment)
