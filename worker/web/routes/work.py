"""Shared work: assignments of documents or pages to reviewers (admins assign; ``/my-work``
and the review queue's ``mine`` show a reviewer theirs), progress per document and per
reviewer, and who has a page open (the page editor's presence heartbeat)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...db.corrections import lines_left
from ...db.work import WorkError, assign, assignments, here, leave, reviewer_progress, unassign
from ..deps import Admin, Db, Me, WebDep
from .documents import document_rows

router = APIRouter()


class NewAssignment(BaseModel):
    document_id: int
    user: str
    page: int | None = None  # 1-based; None: the whole document


def _assign(s: Session, document_id: int, user: str, by: str, page: int | None) -> dict:
    try:
        row = assign(s, document_id, user.strip(), by, page)
    except WorkError as exc:
        raise HTTPException(404 if "no document" in str(exc) else 400, str(exc)) from None
    s.commit()
    return {"id": row.id, "document_id": document_id, "page": page, "user": row.user_name}


@router.get("/my-work", response_class=HTMLResponse)
def my_work_page(request: Request, ident: Me, web: WebDep, s: Db):
    mine = assignments(s, ident.name)
    return web.page(request, "my_work.html", ident, work=mine, left=lines_left(s, mine=ident.name))


@router.get("/api/my-work")
def api_my_work(ident: Me, s: Db):
    return {"assignments": assignments(s, ident.name), "left": lines_left(s, mine=ident.name)}


@router.get("/api/assignments")
def api_assignments(ident: Admin, s: Db):
    return {"assignments": assignments(s)}


@router.post("/api/assignments", status_code=201)
def api_assign(ident: Admin, s: Db, body: NewAssignment):
    return _assign(s, body.document_id, body.user, ident.name, body.page)


@router.delete("/api/assignments/{assignment_id}")
def api_unassign(ident: Admin, s: Db, assignment_id: int):
    try:
        unassign(s, assignment_id)
    except WorkError as exc:
        raise HTTPException(404, str(exc)) from None
    s.commit()
    return {"removed": assignment_id}


@router.post("/documents/{doc_id}/assign")
def assign_form(ident: Admin, s: Db, doc_id: int, user: Annotated[str, Form()] = "", page: Annotated[str, Form()] = ""):
    """The documents page's form: a document (or one page of it) to a reviewer."""
    if page.strip() and not page.strip().isdigit():
        raise HTTPException(400, "page: a page number, or empty for the whole document")
    _assign(s, doc_id, user, ident.name, int(page) if page.strip() else None)
    return RedirectResponse("/", status_code=303)


@router.get("/api/progress")
def api_progress(ident: Me, s: Db):
    """Lines reviewed per document and per reviewer."""
    docs = [{k: d[k] for k in ("id", "source", "lines", "reviewed")} for d in document_rows(s)]
    return {"documents": docs, "reviewers": reviewer_progress(s)}


@router.post("/api/pages/{page_id}/presence")
def api_presence(ident: Me, s: Db, page_id: int, leaving: bool = False):
    """The page editor's heartbeat: who else has this page open. ``leaving``: this person closed it."""
    for attempt in range(3):
        try:
            if leaving:
                leave(s, page_id, ident.name)
                others = []
            else:
                others = here(s, page_id, ident.name)
            s.commit()
            return {"others": others}
        except WorkError as exc:
            raise HTTPException(404, str(exc)) from None
        except IntegrityError:  # the same person's other beat inserted first: this one updates
            s.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
