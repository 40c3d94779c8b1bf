"""The document pipeline as plain functions: store → render → segment → recognize → persist.

``htr process`` calls these in-process; Celery tasks (issue 4) call the same
functions. A document is identified by the sha256 of its bytes, so registering
or processing the same file again writes nothing new. Pages are rendered and
segmented one at a time; their line crops are buffered and recognized in
batches that span pages, then the pages are written (replacing any earlier
rows for the same page, so a retried page is stored once).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from segmentation import CROP_MARGIN, Box, PageLayout, line_crops, segment_page, to_page_box

from .db import Document, Line, ModelVersion, Page, Status, Word, utcnow
from .documents import BadInput, PageImage, iter_pages, page_count
from .settings import skip_printed

log = logging.getLogger(__name__)

LINE_BATCH = 64  # lines buffered before recognition runs


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def register_document(session: Session, store, path: str | Path, source: str | None = None) -> tuple[Document, bool]:
    """Check a file, put it in the store and record it; (document, created).
    Same bytes → same document. A file that fails the checks that need no
    rendering (``documents.page_count``: type, size, pages, pixels; links,
    folders and special files refused unread) is recorded failed with the
    reason and never stored; the same rejected path gives the same row."""
    try:
        page_count(path)
    except BadInput as exc:
        return _rejected(session, path, source, str(exc))
    digest = sha256_file(path)
    existing = session.scalar(select(Document).where(Document.content_hash == digest))
    if existing is not None:
        return existing, False
    key = f"originals/{digest[:2]}/{digest}{Path(path).suffix.lower()}"
    if not store.exists(key):
        store.put_file(key, path)
    doc = Document(source=source or str(path), store_key=key, content_hash=digest, status=Status.QUEUED, attempts=0)
    session.add(doc)
    session.commit()
    return doc, True


def _rejected(session: Session, path: str | Path, source: str | None, reason: str) -> tuple[Document, bool]:
    key = hashlib.sha256(f"rejected\0{Path(path).absolute()}\0{reason}".encode()).hexdigest()
    existing = session.scalar(select(Document).where(Document.content_hash == key))
    if existing is not None:
        return existing, False
    doc = Document(
        source=source or str(path),
        store_key=None,
        content_hash=key,
        status=Status.FAILED,
        error=reason,
        attempts=0,
        finished_at=utcnow(),
    )
    session.add(doc)
    session.commit()
    return doc, True


def model_version(session: Session, predictor_bundle) -> ModelVersion:
    mv = session.scalar(
        select(ModelVersion).where(ModelVersion.name == predictor_bundle.name, ModelVersion.version == predictor_bundle.version)
    )
    if mv is None:
        mv = ModelVersion(
            name=predictor_bundle.name,
            version=predictor_bundle.version,
            metrics={k: v for k, v in predictor_bundle.metrics.items() if not k.startswith("reliability")},
        )
        session.add(mv)
        session.commit()
    return mv


@dataclass
class PageWork:
    """One page segmented and waiting for recognition: line boxes and crops.

    Serializable (``to_bytes``) so a segmenting worker can hand it through the
    store to a recognizing worker on another machine.
    """

    index: int
    dpi: int
    width: int
    height: int
    angle: float
    boxes: list[Box]  # line boxes in deskewed page coordinates
    page_boxes: list[Box]  # the same in original page coordinates
    crops: list[np.ndarray]
    image_key: str | None = None

    @property
    def layout(self) -> PageLayout:
        return PageLayout(self.width, self.height, self.angle, [])

    def to_bytes(self) -> bytes:
        meta = {
            "index": self.index,
            "dpi": self.dpi,
            "width": self.width,
            "height": self.height,
            "angle": self.angle,
            "boxes": [b.to_list() for b in self.boxes],
            "page_boxes": [b.to_list() for b in self.page_boxes],
            "image_key": self.image_key,
        }
        arrays = {f"crop{i:05d}": np.frombuffer(cv2.imencode(".png", c)[1].tobytes(), np.uint8) for i, c in enumerate(self.crops)}
        buf = io.BytesIO()
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub reads ** as allow_pickle
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PageWork:
        with np.load(io.BytesIO(data)) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            crops = [cv2.imdecode(z[k], cv2.IMREAD_GRAYSCALE) for k in sorted(k for k in z.files if k.startswith("crop"))]
        return cls(
            meta["index"],
            meta["dpi"],
            meta["width"],
            meta["height"],
            meta["angle"],
            [Box(*b) for b in meta["boxes"]],
            [Box(*b) for b in meta["page_boxes"]],
            crops,
            meta["image_key"],
        )


def segment(page: PageImage) -> PageWork:
    """Segment a rendered page into line boxes and the crops recognition reads
    (machine-printed lines of a form left out unless HTR_PRINTED=read)."""
    layout = segment_page(page.image, skip_printed=skip_printed())
    if layout.printed:
        log.info(
            "page %d: %d printed lines left out (form template text; HTR_PRINTED=read reads them)",
            page.index + 1,
            len(layout.printed),
        )
    crops = line_crops(layout)
    return PageWork(
        page.index,
        page.dpi,
        layout.width,
        layout.height,
        float(layout.angle),
        [ln.box for ln in layout.lines],
        [ln.page_box for ln in layout.lines],
        crops,
    )


def page_image_key(content_hash: str, index: int) -> str:
    return f"pages/{content_hash}/{index:05d}.png"


def save_page_image(store, content_hash: str, page: PageImage) -> str:
    """Keep the rendered page in the store for later review."""
    _ok, buf = cv2.imencode(".png", page.image)
    return store.put_bytes(page_image_key(content_hash, page.index), buf.tobytes())


@dataclass
class Timings:
    seconds: dict = field(default_factory=lambda: {"render": 0.0, "segment": 0.0, "recognize": 0.0, "persist": 0.0})

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - t0
        return now


def persist_page(session: Session, doc_id: int, work: PageWork, recs) -> None:
    """Write one recognized page, replacing any earlier rows for it (a retried
    page is stored once). The caller commits."""
    session.execute(delete(Page).where(Page.document_id == doc_id, Page.index == work.index))
    layout = work.layout
    page = Page(
        document_id=doc_id,
        index=work.index,
        width=work.width,
        height=work.height,
        dpi=work.dpi,
        skew_degrees=work.angle,
        image_key=work.image_key,
    )
    for li, (box, pb, rec) in enumerate(zip(work.boxes, work.page_boxes, recs)):
        row = Line(index=li, x0=pb.x0, y0=pb.y0, x1=pb.x1, y1=pb.y1, text=rec.text, confidence=float(rec.confidence))
        for wi, w in enumerate(rec.words):
            # Word x-span from the CTC alignment, in crop pixels -> page pixels.
            x0 = int(box.x0 + w.x0 - CROP_MARGIN)
            x1 = int(box.x0 + w.x1 - CROP_MARGIN)
            x0, x1 = max(box.x0, min(x0, box.x1)), max(box.x0, min(max(x1, x0 + 1), box.x1))
            wb = to_page_box(layout, Box(x0, box.y0, x1, box.y1))
            row.words.append(Word(index=wi, x0=wb.x0, y0=wb.y0, x1=wb.x1, y1=wb.y1, text=w.text, confidence=float(w.confidence)))
        page.lines.append(row)
    session.add(page)


def begin_document(session: Session, doc_id: int, bundle=None) -> Document | None:
    """Mark a document processing (one more attempt); None if it is already
    done or was rejected at registration (nothing stored to process)."""
    doc = session.get(Document, doc_id)
    if doc is None:
        raise KeyError(f"no document {doc_id}")
    if doc.status == Status.DONE or doc.store_key is None:  # done, or rejected unread at registration
        return None
    doc.status = Status.PROCESSING
    doc.attempts += 1
    doc.started_at = utcnow()
    doc.finished_at = None
    doc.error = None
    if bundle is not None:
        doc.model_version_id = model_version(session, bundle).id
    session.commit()
    return doc


def fail_document(session: Session, doc_id: int, reason: str) -> None:
    """Record why a document cannot be processed. Pages already stored stay.
    A document that is done stays done (the error came from a stale delivery)."""
    session.rollback()
    doc = session.get(Document, doc_id)
    if doc is None:
        raise KeyError(f"no document {doc_id}")
    if doc.status == Status.DONE:
        return
    doc.status = Status.FAILED
    doc.error = reason
    doc.finished_at = utcnow()
    session.commit()


def _prepared_pages(
    local: Path, store, content_hash: str, keep_images: bool, timings: Timings, ahead: int = 2
) -> Iterator[PageWork]:
    """Render and segment pages in a background thread, at most ``ahead`` pages
    in front of recognition, so the two overlap on a multi-core machine
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
            for page in iter_pages(local):
                t0 = timings.add("render", t0)
                work = segment(page)
                if keep_images:
                    work.image_key = save_page_image(store, content_hash, page)
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


def process_document(
    doc_id: int,
    sessions: sessionmaker,
    store,
    predictor,
    bundle=None,
    keep_page_images: bool = True,
    on_page: Callable[[int, int | None], None] | None = None,
) -> Document:
    """Render, segment, recognize and persist one registered document in this process.

    Pages stream one at a time; their line crops are buffered and recognized
    in batches spanning pages. Any error marks the document failed with the
    reason (bad input as the reader words it, anything else as an internal
    error, logged with its traceback), so a batch goes on.
    """
    timings = Timings()
    with sessions() as session:
        doc = begin_document(session, doc_id, bundle)
        if doc is None:
            return session.get(Document, doc_id)
        content_hash, store_key = doc.content_hash, doc.store_key
        pending: list[PageWork] = []

        def flush() -> None:
            if not pending:
                return
            t0 = time.perf_counter()
            crops = [c for w in pending for c in w.crops]
            recs = predictor.predict(crops) if crops else []
            t0 = timings.add("recognize", t0)
            k = 0
            for w in pending:
                persist_page(session, doc_id, w, recs[k : k + len(w.crops)])
                k += len(w.crops)
            session.commit()
            # Written pages leave the session: memory stays flat in document length.
            session.expunge_all()
            timings.add("persist", t0)
            pending.clear()

        try:
            n_pages = 0
            with store.local_copy(store_key) as local:
                for work in _prepared_pages(local, store, content_hash, keep_page_images, timings):
                    pending.append(work)
                    n_pages += 1
                    if sum(len(w.crops) for w in pending) >= LINE_BATCH:
                        flush()
                    if on_page:
                        on_page(n_pages, None)
                flush()
            if n_pages == 0:
                raise BadInput("document has no pages")
        except BadInput as exc:
            fail_document(session, doc_id, str(exc))
        except Exception as exc:  # in this process nothing retries: the document fails, the batch goes on
            log.exception("document %s: unexpected error", doc_id)
            fail_document(session, doc_id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            doc = session.get(Document, doc_id)
            doc.status = Status.DONE
            doc.page_count = n_pages
            doc.finished_at = utcnow()
        doc = session.get(Document, doc_id)
        doc.timings = {k: round(v, 3) for k, v in timings.seconds.items()}
        session.commit()
        return doc
