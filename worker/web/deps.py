"""What the routes depend on: the app's shared parts (``Web``), a database session
per request, who is asking (a browser session or an API token, with its CSRF check
and the ids it names checked against the database's range), and the admin role.

Database work here runs in worker threads: ``db`` is a plain generator (FastAPI runs
it in its thread pool) and ``identity`` looks the login up through ``run_in_threadpool``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from ..db.users import Identity, session_identity, token_identity
from ..io.store import Store
from ..registry import ModelSource
from .throttle import LoginThrottle

T = TypeVar("T")
SESSION_COOKIE = "htr_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Web:
    """The parts every route shares, made once by ``create_app`` (``app.state.web``)."""

    sessions: sessionmaker
    store: Store
    templates: Jinja2Templates
    max_id: int  # the largest id the database's id columns hold
    throttle: LoginThrottle
    hashing: anyio.CapacityLimiter  # password checks at once
    review_chars: tuple[str, ...] = ()  # the special-character keys of the review pages
    models: ModelSource | None = None  # the model the page editor reads changed lines with (loaded on first use)

    def read_lines(self, crops: list) -> list:
        """Line crops read by the live model (or ``HTR_MODEL``); the page editor's merges, splits and drawn lines."""
        if self.models is None:
            raise RuntimeError("no model to read lines with")
        predictor, _bundle = self.models.current()
        return predictor.predict(crops)

    def page(self, request: Request, name: str, ident: Identity | None, status: int = 200, **ctx) -> HTMLResponse:
        """A template rendered (CPU work: call it from a plain ``def`` route or a worker thread)."""
        ctx.setdefault("review_chars", self.review_chars)
        return self.templates.TemplateResponse(request, name, {"me": ident, **ctx}, status_code=status)


class NeedLogin(Exception):
    """No valid session or token: pages send the browser to the login, the API answers 401."""


def found(s: Session, model: type[T], ident: int, what: str) -> T:
    """The ``model`` row ``ident``, else a 404 that names it (``no line 7``)."""
    row = s.get(model, ident)
    if row is None:
        raise HTTPException(404, f"no {what} {ident}")
    return row


def get_web(request: Request) -> Web:
    return request.app.state.web


WebDep = Annotated[Web, Depends(get_web)]


def db(web: WebDep) -> Iterator[Session]:
    """One database session per request, shared by its dependencies and its route."""
    with web.sessions() as s:
        yield s


Db = Annotated[Session, Depends(db)]


def _lookup(s: Session, authorization: str, cookie: str | None) -> Identity | None:
    if authorization.lower().startswith("bearer "):
        return token_identity(s, authorization[7:].strip())
    return session_identity(s, cookie)


async def identity(request: Request, web: WebDep, s: Db) -> Identity:
    """Who is asking; ids beyond the database's range are not found, and a browser
    session's state-changing request must carry its CSRF token."""
    ident = await run_in_threadpool(_lookup, s, request.headers.get("authorization", ""), request.cookies.get(SESSION_COOKIE))
    if ident is None:
        raise NeedLogin()
    for key, value in [*request.path_params.items(), ("document", request.query_params.get("document"))]:
        # An id too large for the database's ids: nothing has it.
        if (key.endswith("_id") or key == "document") and beyond(value, web.max_id):
            raise HTTPException(404, f"no such {key.removesuffix('_id').replace('doc', 'document')}")
    if request.method in UNSAFE and ident.csrf_token is not None:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            sent = str((await request.form()).get("csrf_token") or "")
        if not sent or not secrets.compare_digest(sent, ident.csrf_token):
            raise HTTPException(403, "missing or wrong CSRF token")
    return ident


Me = Annotated[Identity, Depends(identity)]


async def admin(ident: Me) -> Identity:
    if not ident.is_admin:
        raise HTTPException(403, "only an admin may do this")
    return ident


Admin = Annotated[Identity, Depends(admin)]


def beyond(value: str | None, largest: int) -> bool:
    """A whole number no row of the database can have as its id."""
    if value is None:
        return False
    try:
        return abs(int(value)) > largest
    except ValueError:
        return False


def whole_number(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise HTTPException(400, f"{field}: a whole number") from None
