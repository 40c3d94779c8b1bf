"""Fields: a document's fields to review as a grid of cell crops with their values (the least sure
first), a field's crop, and saving a field's value."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from ...db import Document, Field, Page
from ...db.corrections import ReviewError
from ...db.field_review import field_json, field_queue, review_field
from ..deps import Db, Me, WebDep, found
from .documents import box_image

router = APIRouter()


class FieldValue(BaseModel):
    value: str


@router.get("/documents/{doc_id}/fields", response_class=HTMLResponse)
def fields_page(request: Request, ident: Me, web: WebDep, s: Db, doc_id: int):
    doc = found(s, Document, doc_id, "document")
    return web.page(request, "fields.html", ident, doc=doc)


@router.get("/api/documents/{doc_id}/fields")
def api_field_queue(ident: Me, s: Db, doc_id: int, limit: int = 50):
    if not 1 <= limit <= 500:
        raise HTTPException(400, "limit: 1 to 500")
    found(s, Document, doc_id, "document")
    left, fields = field_queue(s, doc_id, limit)
    return {"left": left, "fields": fields}


@router.put("/api/fields/{field_id}")
def api_save_field(ident: Me, s: Db, field_id: int, body: FieldValue):
    try:
        f = review_field(s, field_id, ident.name, body.value)
    except ReviewError as exc:
        raise HTTPException(404 if str(exc).startswith("no ") else 400, str(exc)) from None
    s.commit()
    page = s.get(Page, f.page_id)
    return field_json(f, page.index if page else 0)


@router.get("/fields/{field_id}/image")
def field_image(ident: Me, web: WebDep, s: Db, field_id: int):
    f = found(s, Field, field_id, "field")
    return box_image(web, s, f.page_id, (f.x0, f.y0, f.x1, f.y1))
