"""API tokens: everyone makes, lists and revokes their own; an admin everyone's.
The Tokens page, and ``/api/tokens``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ...db.users import TOKEN_DAYS, Identity, TokenInfo, UserError, add_token, list_tokens, revoke_token
from ..deps import Db, Me, WebDep, whole_number

router = APIRouter()


class NewToken(BaseModel):
    name: str = "script"
    days: int | None = TOKEN_DAYS  # None: no expiry
    user: str | None = None  # an admin may make one for someone else


def _tokens(s: Session, ident: Identity, user: str | None = None) -> list[TokenInfo]:
    if user is not None and user != ident.name and not ident.is_admin:
        raise HTTPException(403, "only an admin may see other people's tokens")
    return list_tokens(s, user if user is not None or ident.is_admin else ident.name)


def _new_token(s: Session, ident: Identity, name: str, days: int | None, user: str | None) -> tuple[str, TokenInfo]:
    owner = user or ident.name
    if owner != ident.name and not ident.is_admin:
        raise HTTPException(403, "only an admin may make tokens for other people")
    try:
        token = add_token(s, owner, name, days)
    except UserError as exc:
        raise HTTPException(404 if "no user" in str(exc) else 400, str(exc)) from None
    s.commit()
    return token, list_tokens(s, owner)[-1]


def _revoke(s: Session, ident: Identity, token_id: int) -> None:
    try:
        revoke_token(s, token_id, None if ident.is_admin else ident.name)
    except UserError as exc:  # also someone else's token, for a reviewer: nothing to learn
        raise HTTPException(404, str(exc)) from None
    s.commit()


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, ident: Me, web: WebDep, s: Db):
    return web.page(request, "tokens.html", ident, tokens=_tokens(s, ident), new=None, days=TOKEN_DAYS)


@router.post("/tokens", response_class=HTMLResponse)
def tokens_add(
    request: Request,
    ident: Me,
    web: WebDep,
    s: Db,
    name: Annotated[str, Form()] = "script",
    days: Annotated[str, Form()] = "",
    user: Annotated[str, Form()] = "",
):
    lifetime = None if days in ("", "never") else whole_number(days, "days")
    token, info = _new_token(s, ident, name, lifetime, user.strip() or None)
    new = {"token": token, "info": info}
    return web.page(request, "tokens.html", ident, status=201, tokens=_tokens(s, ident), new=new, days=TOKEN_DAYS)


@router.post("/tokens/{token_id}/revoke")
def tokens_revoke(ident: Me, s: Db, token_id: int):
    _revoke(s, ident, token_id)
    return RedirectResponse("/tokens", status_code=303)


@router.get("/api/tokens")
def api_tokens(ident: Me, s: Db, user: str | None = None):
    return {"tokens": [t.to_json() for t in _tokens(s, ident, user)]}


@router.post("/api/tokens", status_code=201)
def api_token_add(ident: Me, s: Db, body: NewToken):
    token, info = _new_token(s, ident, body.name, body.days, body.user)
    return {"token": token, **info.to_json(), "note": "shown once: send it as 'Authorization: Bearer TOKEN'"}


@router.delete("/api/tokens/{token_id}")
def api_token_revoke(ident: Me, s: Db, token_id: int):
    _revoke(s, ident, token_id)
    return {"revoked": token_id}
