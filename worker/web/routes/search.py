"""Search: the page, and ``GET /api/search``: lines by their words, or fields by key (``surname:dupont``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from recognition.keywords import DEFAULT_MIN_PROB

from ...db.queries import FieldHit, Hit, field_query, field_search, keyword_search, search
from ..deps import Db, Me, WebDep

router = APIRouter()


def run_search(s: Session, q: str, min_prob: float, exact: bool, limit: int) -> tuple[str, list[Hit] | list[FieldHit]]:
    """Fields by key (``surname:dupont``), the keyword index (probable words), or full-text search
    over the best reading (``exact``)."""
    if not 0.0 <= min_prob <= 1.0:
        raise HTTPException(400, "min_prob: 0 to 1")
    by_field = field_query(s, q[:200])
    if by_field is not None:
        return "fields", field_search(s, *by_field, limit=limit)
    return "lines", search(s, q[:200], limit) if exact else keyword_search(s, q[:200], min_prob, limit)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request, ident: Me, web: WebDep, s: Db, q: str = "", min_prob: float = DEFAULT_MIN_PROB, exact: bool = False
):
    kind, hits = run_search(s, q, min_prob, exact, 50) if q.strip() else ("lines", [])
    fields = hits if kind == "fields" else []
    lines = hits if kind == "lines" else []
    return web.page(
        request, "search.html", ident, q=q, hits=lines, fields=fields, by_field=kind == "fields", min_prob=min_prob, exact=exact
    )


@router.get("/api/search")
def api_search(ident: Me, s: Db, q: str, limit: int = 20, min_prob: float = DEFAULT_MIN_PROB, exact: bool = False):
    if not 1 <= limit <= 1000:
        raise HTTPException(400, "limit: 1 to 1000")
    kind, hits = run_search(s, q, min_prob, exact, limit)
    return {"kind": kind, "hits": [h.to_json() for h in hits]}
