"""Documents: the list (page and ``GET /api/documents``), a document's page, page
images and line crops, exports (``GET /api/documents/ID?format=``) and deletion
(admins only)."""

from __future__ import annotations

import contextlib
import re

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ...db import Document, Line, Page, Status
from ...db.corrections import activity, lines_left
from ...db.queries import load_document
from ...db.users import list_users
from ...db.work import assignments, reviewer_progress
from ...export import FORMATS, serialize
from ...export.stored import document_model
from ...io.store import stored_gray
from ..deps import Admin, Db, Me, Web, WebDep, found
from .review import LOW_CONFIDENCE

NO_STORE = {"Cache-Control": "private, no-store"}  # page images and line crops
LINE_MARGIN = 6  # pixels of the page around a line's or a field's box in its crop

router = APIRouter()


def document_rows(s: Session) -> list[dict]:
    """Every document with its status, pages done, lines and reviewed lines."""
    reviewed = (
        select(Page.document_id, func.count(Line.id).label("n"), func.count(Line.reviewed_at).label("r"))
        .join(Line, Line.page_id == Page.id)
        .group_by(Page.document_id)
        .subquery()
    )
    rows = s.execute(
        select(Document, reviewed.c.n, reviewed.c.r)
        .outerjoin(reviewed, reviewed.c.document_id == Document.id)
        .order_by(Document.id)
    ).all()
    done_pages = dict(s.execute(select(Page.document_id, func.count()).group_by(Page.document_id)).all())
    return [
        {
            "id": d.id,
            "source": d.source,
            "status": str(d.status),
            "pages": d.page_count or 0,
            "pages_done": done_pages.get(d.id, 0),
            "lines": n or 0,
            "reviewed": r or 0,
            "error": d.error,
        }
        for d, n, r in rows
    ]


MEDIA_TYPES = {"txt": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8", "hocr": "text/html"}  # others: XML


@router.get("/", response_class=HTMLResponse)
def documents_page(request: Request, ident: Me, web: WebDep, s: Db):
    """Every document with its progress and who it is assigned to (admins assign here), and each reviewer's progress."""
    assigned: dict[int, list[dict]] = {}
    for a in assignments(s):
        assigned.setdefault(a["document_id"], []).append(a)
    people = [u.name for u in list_users(s)] if ident.is_admin else []
    return web.page(
        request,
        "documents.html",
        ident,
        documents=document_rows(s),
        assigned=assigned,
        people=people,
        reviewers=reviewer_progress(s),
    )


PREVIEW_WIDTH = 1800  # px: the page editor's page image (zoomed past it, the browser scales it up)


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def document_page(
    request: Request, ident: Me, web: WebDep, s: Db, doc_id: int, page_no: int = 1, line: int | None = None, box: str = ""
):
    """The page editor: the page image with its lines and words beside their editable text.
    ``line`` opens with that line in focus; ``box`` (x0,y0,x1,y1) marks a place on the page (a search hit)."""
    doc = load_document(s, doc_id)
    if doc is None:
        raise HTTPException(404, f"no document {doc_id}")
    pages = doc.pages
    current = pages[min(max(page_no, 1), len(pages)) - 1] if pages else None
    mark = [int(v) for v in box.split(",")] if re.fullmatch(r"\d+,\d+,\d+,\d+", box) else None
    return web.page(
        request,
        "document.html",
        ident,
        doc=doc,
        page=current,
        n_pages=len(pages),
        low=LOW_CONFIDENCE,
        left=lines_left(s, doc_id),
        focus_line=line,
        mark=mark,
        preview=min(PREVIEW_WIDTH, current.width) if current else 0,
        activity=activity(s, doc_id, 50),
    )


def _page_bytes(web: Web, s: Session, page_id: int) -> bytes:
    p = s.get(Page, page_id)
    if p is None or not p.image_key:
        raise HTTPException(404, "no image for this page")
    return web.store.get_bytes(p.image_key)


@router.get("/pages/{page_id}/image")
def page_image(ident: Me, web: WebDep, s: Db, page_id: int, width: int | None = None):
    """The stored page image; with ``width``, a preview scaled down to that width (JPEG), which
    is what the page editor loads: a 300 dpi scan is 20 to 30 MB of pixels, its preview under 1 MB.
    Previews are kept in memory (the last :data:`PREVIEWS` made)."""
    if width is None:
        return Response(_page_bytes(web, s, page_id), media_type="image/png", headers=NO_STORE)
    if not 64 <= width <= 8192:
        raise HTTPException(400, "width: 64 to 8192")
    p = s.get(Page, page_id)
    if p is None or not p.image_key:
        raise HTTPException(404, "no image for this page")
    return Response(_preview(web, p.image_key, width), media_type="image/jpeg", headers=NO_STORE)


PREVIEWS = 64  # page previews kept in memory (about 0.3 to 1 MB each)


def _scaled(data: bytes, width: int) -> bytes:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img.shape[1] > width:
        img = cv2.resize(img, (width, max(1, round(img.shape[0] * width / img.shape[1]))), interpolation=cv2.INTER_AREA)
    _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes()


_preview_cache: dict[tuple[str, int], bytes] = {}


def _preview(web: Web, key: str, width: int) -> bytes:
    """The preview of the stored image ``key`` (a stored page image never changes under its key)."""
    hit = _preview_cache.get((key, width))
    if hit is None:
        hit = _scaled(web.store.get_bytes(key), width)
        if len(_preview_cache) >= PREVIEWS:
            _preview_cache.pop(next(iter(_preview_cache)))
        _preview_cache[(key, width)] = hit
    return hit


@router.get("/lines/{line_id}/image")
def line_image(ident: Me, web: WebDep, s: Db, line_id: int):
    line = found(s, Line, line_id, "line")
    return box_image(web, s, line.page_id, (line.x0, line.y0, line.x1, line.y1))


def box_image(web: Web, s: Session, page_id: int, box: tuple[int, int, int, int], margin: int = LINE_MARGIN) -> Response:
    """A box of a stored page image with ``margin`` pixels of the page around it (PNG, gray)."""
    page = s.get(Page, page_id)
    img = stored_gray(web.store, page.image_key) if page is not None else None
    if img is None:
        raise HTTPException(404, "no image for this page")
    x0, y0, x1, y1 = box
    crop = img[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin]
    _ok, buf = cv2.imencode(".png", crop if crop.size else np.full((8, 8), 255, np.uint8))
    return Response(buf.tobytes(), media_type="image/png", headers=NO_STORE)


@router.get("/api/documents")
def api_documents(ident: Me, web: WebDep, s: Db):
    return {"documents": document_rows(s)}


@router.get("/api/documents/{doc_id}")
def api_document(ident: Me, s: Db, doc_id: int, format: str = "json"):
    if format not in FORMATS:
        raise HTTPException(400, f"format: one of {', '.join(FORMATS)}")
    doc = load_document(s, doc_id)
    if doc is None:
        raise HTTPException(404, f"no document {doc_id}")
    files = serialize(document_model(doc), format)
    if not files:
        raise HTTPException(409, f"document {doc_id} has no pages")
    if format == "json":
        return Response(files[0][1], media_type="application/json")
    if len(files) > 1:
        return {"files": [{"name": n, "content": c} for n, c in files]}
    media = MEDIA_TYPES.get(format, "application/xml")
    return Response(files[0][1], media_type=media, headers={"Content-Disposition": f'attachment; filename="{files[0][0]}"'})


@router.delete("/api/documents/{doc_id}")
def api_document_delete(ident: Admin, web: WebDep, s: Db, doc_id: int):
    """A finished or failed document with its pages, lines, reviews and stored files."""
    doc = found(s, Document, doc_id, "document")
    if doc.status not in (Status.DONE, Status.FAILED):
        raise HTTPException(409, f"document {doc_id} is {doc.status}: delete it once it is done or failed")
    keys = [k for k in [doc.store_key, *s.scalars(select(Page.image_key).where(Page.document_id == doc_id))] if k]
    s.execute(delete(Document).where(Document.id == doc_id))
    s.commit()
    for key in keys:
        with contextlib.suppress(Exception):  # a file already gone, or a store that refuses: the rows are gone
            web.store.delete(key)
    return {"deleted": doc_id}
