"""Error answers: JSON (``{"detail": ...}``) for the API, images and scripts asking
for JSON; a page in the app's style, with who is logged in, for people.

The handlers are plain functions, which Starlette runs in its thread pool: an error
page looks the login up in the database and renders a template.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import quote

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..db.users import session_identity
from .deps import SESSION_COOKIE, NeedLogin, Web


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith("/image") or "application/json" in request.headers.get("accept", "")


def error(request: Request, status: int, detail, headers: Mapping[str, str] | None = None) -> Response:
    """An error as JSON for the API and scripts, as a page in the app's style for people."""
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    web: Web = request.app.state.web
    ident = None
    with contextlib.suppress(Exception), web.sessions() as s:  # the header shows who is logged in, when that can be known
        ident = session_identity(s, request.cookies.get(SESSION_COOKIE))
    message = detail if isinstance(detail, str) else "the request is not valid"
    resp = web.page(request, "error.html", ident, status=status, code=status, phrase=HTTPStatus(status).phrase, message=message)
    resp.headers.update(headers or {})
    return resp


def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    return error(request, exc.status_code, exc.detail, exc.headers)


def invalid(request: Request, exc: RequestValidationError) -> Response:
    if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
        return error(request, 404, "not found: no such item")  # /documents/abc names nothing
    return error(request, 422 if wants_json(request) else 400, jsonable_encoder(exc.errors()))


def crash(request: Request, _exc: Exception) -> Response:
    return error(request, 500, "something went wrong on the server")


async def need_login(request: Request, _exc: NeedLogin) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": "log in first (a session, or Authorization: Bearer TOKEN)"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
