"""Review: the review page, the queue (``GET /api/review``), saving and accepting a
line (optimistic locking on its version), and a line's history."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ...db import Line
from ...db.corrections import ReviewError, StaleLine, history, lines_left, review_line, review_queue
from ...db.users import Identity
from ..deps import Db, Me, WebDep, found

LOW_CONFIDENCE = 0.5  # words below this are marked for review

router = APIRouter()


class LineText(BaseModel):
    text: str
    version: int  # the line's version the text was edited from (optimistic locking)


class LineAccept(BaseModel):
    version: int | None = None  # when given, a line changed since is not accepted


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    ident: Me,
    web: WebDep,
    document: int | None = None,
    mine: bool = False,
    spread: bool = False,
    teach: bool = False,
):
    order = "teach" if teach else "spread" if spread else "sure"
    return web.page(request, "review.html", ident, document=document, mine=mine, order=order, low=LOW_CONFIDENCE)


@router.get("/api/review")
def api_review(
    ident: Me,
    s: Db,
    document: int | None = None,
    limit: int = 20,
    mine: bool = False,
    spread: bool = False,
    teach: bool = False,
):
    """The review queue: everywhere, in one document, or (``mine``) in the work assigned to the caller;
    ``spread``: each page's least sure line first, then each page's second, ...; ``teach``: spread
    so, the lines with the most characters expected wrong first (what teaches a fine-tune most)."""
    if not 1 <= limit <= 200:
        raise HTTPException(400, "limit: 1 to 200")
    who = ident.name if mine else None
    items = review_queue(s, document, limit, mine=who, spread=spread, teach=teach)
    return {"left": lines_left(s, document, who), "lines": [i.to_json() for i in items]}


def line_json(line: Line) -> dict:
    """A line as the review pages show it: text, version, who reviewed it, box, words with confidences and boxes."""
    return {
        "id": line.id,
        "index": line.index,
        "text": line.text,
        "version": line.version,
        "reviewed_by": line.reviewed_by if line.reviewed_at else None,
        "box": [line.x0, line.y0, line.x1, line.y1],
        "words": [
            {"text": w.best_text, "confidence": round(w.confidence, 4), "box": [w.x0, w.y0, w.x1, w.y1]} for w in line.words
        ],
    }


def stale_response(exc: StaleLine) -> JSONResponse:
    """409: someone saved the line since; theirs stays, and is shown."""
    now = exc.line
    line = {
        "id": now.id,
        "text": now.text,
        "version": now.version,
        "reviewed_by": now.reviewed_by,
        "reviewed_at": now.reviewed_at.isoformat() if now.reviewed_at else None,
    }
    return JSONResponse({"detail": str(exc), "line": line}, status_code=409)


def _save(s: Session, line_id: int, ident: Identity, text: str | None, version: int | None):
    try:
        line = review_line(s, line_id, ident.name, text, version)
    except StaleLine as exc:
        return stale_response(exc)
    except ReviewError as exc:
        raise HTTPException(404 if "no line" in str(exc) else 400, str(exc)) from None
    s.commit()
    return line_json(line)


@router.put("/api/lines/{line_id}")
def api_save_line(ident: Me, s: Db, line_id: int, body: LineText):
    return _save(s, line_id, ident, body.text, body.version)


@router.post("/api/lines/{line_id}/accept")
def api_accept_line(ident: Me, s: Db, line_id: int, body: LineAccept | None = None):
    return _save(s, line_id, ident, None, body.version if body else None)


@router.get("/api/lines/{line_id}/history")
def api_line_history(ident: Me, s: Db, line_id: int):
    found(s, Line, line_id, "line")
    return {"history": history(s, line_id)}
