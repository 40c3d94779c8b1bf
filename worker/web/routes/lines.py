"""A page's lines as the page editor changes them: the lines of a page (``GET
/api/pages/ID/lines``), undo of a line's last save, revert to an earlier version,
merge with the next line, split at a word boundary, delete a false line, add a line
drawn on the page, and a document's activity. Each change names the version of every
line it touches. A merged, split or drawn line that no person has read yet is read
again by the model from the page image (``reread`` in the answer says whether it was)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...db import Document, Line, Page
from ...db.corrections import ReviewError, StaleLine, activity, revert_line, undo_last
from ...db.line_fixes import add_line, delete_line, merge_next, split_line
from ...pipeline.relines import reread_lines
from ..deps import Db, Me, Web, WebDep, found
from .review import line_json, stale_response

log = logging.getLogger(__name__)

router = APIRouter()


class Version(BaseModel):
    version: int  # the line's version the person saw


class Revert(Version):
    edit_id: int | None = None  # the edit whose text comes back; None: the model's reading


class Merge(Version):
    next_version: int  # the next line's version the person saw


class Split(Version):
    at: int  # a character offset in the line's text: the split goes to the word boundary nearest it


class NewLine(BaseModel):
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 on the page
    text: str = ""  # a person's reading; empty: the model reads the box


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
        raise HTTPException(404 if str(exc).startswith("no ") else 400, str(exc)) from None
    s.commit()
    return out


@router.get("/api/pages/{page_id}/lines")
def api_page_lines(ident: Me, s: Db, page_id: int):
    page = found(s, Page, page_id, "page")
    lines = s.scalars(select(Line).where(Line.page_id == page_id).order_by(Line.index).options(selectinload(Line.words)))
    return {"page": page.index + 1, "width": page.width, "height": page.height, "lines": [line_json(ln) for ln in lines]}


@router.post("/api/lines/{line_id}/undo")
def api_undo(ident: Me, s: Db, line_id: int, body: Version):
    return _change(s, lambda: line_json(undo_last(s, line_id, ident.name, body.version)))


@router.post("/api/lines/{line_id}/revert")
def api_revert(ident: Me, s: Db, line_id: int, body: Revert):
    return _change(s, lambda: line_json(revert_line(s, line_id, ident.name, body.edit_id, body.version)))


def _reread(web: Web, s: Session, line_ids: list[int]) -> tuple[list[Line], bool]:
    """The lines, read again by the model where no person has read them (after the change was
    committed: a model that cannot be loaded or read leaves the change as made, unread)."""
    lines = [ln for ln in (s.get(Line, i) for i in line_ids) if ln is not None]
    if web.models is None:  # HTR_REVIEW_REREAD=off
        return lines, False
    try:
        done = reread_lines(s, web.store, web.read_lines, lines) > 0
        s.commit()
    except Exception as exc:  # no model, a broken bundle, a missing page image: the fix stands
        s.rollback()
        log.warning("reading lines %s again failed: %s: %s", line_ids, type(exc).__name__, exc)
        lines, done = [ln for ln in (s.get(Line, i) for i in line_ids) if ln is not None], False
    return lines, done


@router.post("/api/lines/{line_id}/merge")
def api_merge(ident: Me, web: WebDep, s: Db, line_id: int, body: Merge):
    out = _change(s, lambda: merge_next(s, line_id, ident.name, body.version, body.next_version))
    if not isinstance(out, tuple):
        return out
    line_id, unread = out
    if not unread:  # a person read one of the two: their text stays
        line = s.get(Line, line_id)
        assert line is not None
        return {**line_json(line), "reread": False}
    (line,), reread = _reread(web, s, [line_id])
    return {**line_json(line), "reread": reread}


@router.post("/api/lines/{line_id}/split")
def api_split(ident: Me, web: WebDep, s: Db, line_id: int, body: Split):
    out = _change(s, lambda: [ln.id for ln in split_line(s, line_id, ident.name, body.at, body.version)])
    if not isinstance(out, list):
        return out
    parts, reread = _reread(web, s, out)
    return {"lines": [line_json(ln) for ln in parts], "reread": reread}


@router.post("/api/pages/{page_id}/lines", status_code=201)
def api_add_line(ident: Me, web: WebDep, s: Db, page_id: int, body: NewLine):
    out = _change(s, lambda: add_line(s, page_id, ident.name, body.box, body.text).id)
    if not isinstance(out, int):
        return out
    (line,), reread = _reread(web, s, [out])
    return {**line_json(line), "reread": reread}


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
    found(s, Document, doc_id, "document")
    return {"activity": activity(s, doc_id, limit)}
