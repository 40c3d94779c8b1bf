"""Logging in and out, and who is logged in (``GET /api/me``).

A login form carries a CSRF token of its own (a cookie and a form field), failed
logins are throttled (``throttle.py``: address, name, and the browser's device
cookie), and the password check (argon2, a core for tens of milliseconds) runs in a
worker thread, at most ``Web.hashing`` at once, so other requests go on meanwhile.
"""

from __future__ import annotations

import re
import secrets

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ...db.users import Identity, LoginError, login, logout
from ..deps import SESSION_COOKIE, Db, Me, Web, WebDep

LOGIN_CSRF_COOKIE = "htr_login_csrf"
DEVICE_COOKIE = "htr_device"  # a browser that logged in as a name is throttled on its own, not by its address
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{32}")

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, web: WebDep, next: str = "/"):
    token = secrets.token_urlsafe(24)
    resp = web.page(request, "login.html", None, csrf=token, next=_local(next), error=None)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_tls(request), max_age=3600)
    return resp


@router.post("/login")
async def login_submit(request: Request, web: WebDep):
    form = await request.form()
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    target = _local(str(form.get("next") or "/"))
    sent, cookie = str(form.get("csrf_token") or ""), request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not sent or not cookie or not secrets.compare_digest(sent, cookie):
        raise HTTPException(403, "missing or wrong CSRF token")
    address = request.client.host if request.client else None
    device = request.cookies.get(DEVICE_COOKIE) or ""
    if not DEVICE_ID.fullmatch(device):
        device = secrets.token_urlsafe(24)  # this browser's id, remembered once a login succeeds
    wait = web.throttle.start(address, name, device)
    if wait:  # the same answer whether or not the name exists
        refused = await run_in_threadpool(_form_again, web, request, 429, cookie, target, _too_many(wait))
        refused.headers["Retry-After"] = str(wait)
        return refused
    ok = None
    try:
        # argon2 in a worker thread (at most Web.hashing at once): other requests go on meanwhile
        token, _ident = await anyio.to_thread.run_sync(_check_password, web, name, password, limiter=web.hashing)
        ok = True
    except LoginError as exc:
        ok = False
        return await run_in_threadpool(_form_again, web, request, 401, cookie, target, str(exc))
    finally:
        web.throttle.end(address, name, ok, device)
    return _logged_in(request, token, device, target)


def _check_password(web: Web, name: str, password: str) -> tuple[str, Identity]:
    with web.sessions() as s:
        return login(s, name, password)


def _form_again(web: Web, request: Request, status: int, csrf: str, target: str, error: str) -> Response:
    """The login form once more, with why the try failed."""
    return web.page(request, "login.html", None, status=status, csrf=csrf, next=target, error=error)


def _logged_in(request: Request, token: str, device: str, target: str) -> Response:
    """On to ``target`` with the new session's cookie, and the browser's device id remembered."""
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_tls(request), max_age=12 * 3600)
    resp.set_cookie(DEVICE_COOKIE, device, httponly=True, samesite="lax", secure=_tls(request), max_age=30 * 86400, path="/login")
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout_submit(request: Request, ident: Me, s: Db):
    logout(s, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/api/me")
def api_me(ident: Me):
    return {"name": ident.name, "role": ident.role}


def _too_many(wait: int) -> str:
    return f"too many failed logins from here: try again in {wait} s"


def _tls(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _local(target: str) -> str:
    """Only a path on this site may follow a login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
