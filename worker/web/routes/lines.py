"""A page's lines as the page editor changes them: the lines of a page (``GET
/api/pages/ID/lines``), undo of a line's last save, revert to an earlier version,
merge with the next line, split at a word boundary, delete a false line, and a
document's activity. Each change names the version of every line it touches."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...db import Document, Line, Page
from ...db.corrections import ReviewError, StaleLine, activity, revert_line, undo_last
from ...db.line_fixes import delete_line, merge_next, split_line
from ..deps import Db, Me
from .review import line_json, stale_response

router = APIRouter()


class Version(BaseModel):
    version: int  # the line's version the person saw


class Revert(Version):
    edit_id: int | None = None  # the edit whose text comes back; None: the model's reading


class Merge(Version):
    next_version: int  # the next line's version the person saw


class Split(Version):
    at: int  # a character offset in the line's text: the split goes to the word boundary nearest it


def _change(s: Session, do: Callable[[], object]):
    """Run one change: a stale line answers 409 with the line as it is now, a refused change
    400 (404 for a line that is not there); otherwise commit and return what ``do`` gave."""
    try:
        out = do()
    except StaleLine as exc:
        s.rollback()
        return stale_response(exc)
    except ReviewError as exc:
        s.rollback()
        raise HTTPException(404 if "no line" in str(exc) else 400, str(exc)) from None
    s.commit()
    return out


@router.get("/api/pages/{page_id}/lines")
def api_page_lines(ident: Me, s: Db, page_id: int):
    page = s.get(Page, page_id)
    if page is None:
        raise HTTPException(404, f"no page {page_id}")
    lines = s.scalars(select(Line).where(Line.page_id == page_id).order_by(Line.index).options(selectinload(Line.words)))
    return {"page": page.index + 1, "width": page.width, "height": page.height, "lines": [line_json(ln) for ln in lines]}


@router.post("/api/lines/{line_id}/undo")
def api_undo(ident: Me, s: Db, line_id: int, body: Version):
    return _change(s, lambda: line_json(undo_last(s, line_id, ident.name, body.version)))


@router.post("/api/lines/{line_id}/revert")
def api_revert(ident: Me, s: Db, line_id: int, body: Revert):
    return _change(s, lambda: line_json(revert_line(s, line_id, ident.name, body.edit_id, body.version)))


@router.post("/api/lines/{line_id}/merge")
def api_merge(ident: Me, s: Db, line_id: int, body: Merge):
    return _change(s, lambda: line_json(merge_next(s, line_id, ident.name, body.version, body.next_version)))


@router.post("/api/lines/{line_id}/split")
def api_split(ident: Me, s: Db, line_id: int, body: Split):
    return _change(s, lambda: [line_json(ln) for ln in split_line(s, line_id, ident.name, body.at, body.version)])


@router.post("/api/lines/{line_id}/delete")
def api_delete(ident: Me, s: Db, line_id: int, body: Version):
    def do() -> dict:
        delete_line(s, line_id, ident.name, body.version)
        return {"deleted": line_id}

    return _change(s, do)


@router.get("/api/documents/{doc_id}/activity")
def api_activity(ident: Me, s: Db, doc_id: int, limit: int = 100):
    if not 1 <= limit <= 1000:
        raise HTTPException(400, "limit: 1 to 1000")
    if s.get(Document, doc_id) is None:
        raise HTTPException(404, f"no document {doc_id}")
    return {"activity": activity(s, doc_id, limit)}
