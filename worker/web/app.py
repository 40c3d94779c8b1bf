"""The review web app (``htr serve``): documents, pages with their boxes,
search, and the review queue, as server-rendered pages with a little plain
JavaScript, and a JSON API beside them for scripts.

Nothing is served without a login: a browser session (HttpOnly, SameSite=Lax
cookie; Secure over TLS) or an API token sent as ``Authorization: Bearer``.
Every state-changing request from a browser session carries its CSRF token
(``X-CSRF-Token`` header or ``csrf_token`` form field). Reviewers read, search
and review, and manage their own tokens; only admins manage people, other
people's tokens, and delete documents (``Role`` in ``worker.db.users``).
Failed logins are throttled per address (``throttle.py``); every response
carries the security headers of ``headers.py``; errors are HTML pages for
people and JSON for the API.
"""

import collections
import contextlib
import re
import secrets
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import anyio
import cv2
import numpy as np
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy import delete, func, select
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from recognition.keywords import DEFAULT_MIN_PROB

from ..db import Document, Line, Page, Status, as_utc, make_engine, session_factory, upgrade
from ..db.corrections import ReviewError, StaleLine, history, lines_left, review_line, review_queue
from ..db.engine import largest_id
from ..db.queries import keyword_search, load_document, search
from ..db.users import (
    TOKEN_DAYS,
    Identity,
    LoginError,
    Role,
    TokenInfo,
    UserError,
    add_token,
    add_user,
    list_tokens,
    list_users,
    login,
    logout,
    remove_user,
    revoke_token,
    session_identity,
    set_role,
    token_identity,
)
from ..export import FORMATS, serialize
from ..io.store import open_store
from ..settings import Settings
from .headers import SecurityHeaders
from .throttle import LoginThrottle

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "htr_session"
LOGIN_CSRF_COOKIE = "htr_login_csrf"
DEVICE_COOKIE = "htr_device"  # a browser that logged in as a name is throttled on its own, not by its address
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{32}")
LOW_CONFIDENCE = 0.5  # words below this are marked for review
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOGIN_HASHES = 2  # password checks at once (argon2 takes a core each); more logins queue for these threads
NO_STORE = {"Cache-Control": "private, no-store"}  # page images and line crops


class ReviewApp(FastAPI):
    """FastAPI with the security headers outside every other layer, so that server
    errors (answered by Starlette's outermost error middleware) carry them too."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


class NeedLogin(Exception):
    pass


class NewToken(BaseModel):
    name: str = "script"
    days: int | None = TOKEN_DAYS  # None: no expiry
    user: str | None = None  # an admin may make one for someone else


class NewUser(BaseModel):
    name: str
    password: str
    role: str = Role.REVIEWER


class UserRole(BaseModel):
    role: str


class LineText(BaseModel):
    text: str
    version: int  # the line's version the text was edited from (optimistic locking)


class LineAccept(BaseModel):
    version: int | None = None  # when given, a line changed since is not accepted


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    max_id = largest_id(engine.dialect.name)
    store = open_store(settings.store_url)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app = ReviewApp(title="htr review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    throttle = app.state.login_throttle = LoginThrottle()
    hashing = app.state.login_limiter = anyio.CapacityLimiter(LOGIN_HASHES)

    def error(request: Request, status: int, detail, headers: Mapping[str, str] | None = None) -> Response:
        """An error as JSON for the API and scripts, as a page in the app's style for people."""
        if _wants_json(request):
            return JSONResponse({"detail": detail}, status_code=status, headers=headers)
        ident = None
        with contextlib.suppress(Exception), sessions() as s:  # the header shows who is logged in, when that can be known
            ident = session_identity(s, request.cookies.get(SESSION_COOKIE))
        message = detail if isinstance(detail, str) else "the request is not valid"
        resp = page(request, "error.html", ident, status=status, code=status, phrase=HTTPStatus(status).phrase, message=message)
        resp.headers.update(headers or {})
        return resp

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return error(request, exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
            return error(request, 404, "not found: no such item")  # /documents/abc names nothing
        return error(request, 422 if _wants_json(request) else 400, jsonable_encoder(exc.errors()))

    @app.exception_handler(Exception)
    async def _crash(request: Request, _exc: Exception):
        return error(request, 500, "something went wrong on the server")

    @app.exception_handler(NeedLogin)
    async def _need_login(request: Request, _exc: NeedLogin):
        if _wants_json(request):
            return JSONResponse({"detail": "log in first (a session, or Authorization: Bearer TOKEN)"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    async def identity(request: Request) -> Identity:
        auth = request.headers.get("authorization", "")
        with sessions() as s:
            if auth.lower().startswith("bearer "):
                ident = token_identity(s, auth[7:].strip())
            else:
                ident = session_identity(s, request.cookies.get(SESSION_COOKIE))
        if ident is None:
            raise NeedLogin()
        for key, value in [*request.path_params.items(), ("document", request.query_params.get("document"))]:
            # An id too large for the database's ids: nothing has it.
            if (key.endswith("_id") or key == "document") and _beyond(value, max_id):
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

    def page(request: Request, name: str, ident: Identity | None, status: int = 200, **ctx) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"me": ident, **ctx}, status_code=status)

    # -- login -----------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/"):
        token = secrets.token_urlsafe(24)
        resp = page(request, "login.html", None, csrf=token, next=_local(next), error=None)
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_tls(request), max_age=3600)
        return resp

    @app.post("/login")
    async def login_submit(request: Request):
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
        wait = throttle.start(address, name, device)
        if wait:  # the same answer whether or not the name exists
            refused = page(request, "login.html", None, status=429, csrf=cookie, next=target, error=_too_many(wait))
            refused.headers["Retry-After"] = str(wait)
            return refused
        ok = None
        try:
            # argon2 in a worker thread (at most LOGIN_HASHES at once): other requests go on meanwhile
            token, _ident = await anyio.to_thread.run_sync(_login, name, password, limiter=hashing)
            ok = True
        except LoginError as exc:
            ok = False
            return page(request, "login.html", None, status=401, csrf=cookie, next=target, error=str(exc))
        finally:
            throttle.end(address, name, ok, device)
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_tls(request), max_age=12 * 3600)
        resp.set_cookie(
            DEVICE_COOKIE, device, httponly=True, samesite="lax", secure=_tls(request), max_age=30 * 86400, path="/login"
        )
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    def _login(name: str, password: str) -> tuple[str, Identity]:
        with sessions() as s:
            return login(s, name, password)

    @app.post("/logout")
    def logout_submit(request: Request, ident: Me):
        with sessions() as s:
            logout(s, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    # -- pages -----------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def documents_page(request: Request, ident: Me):
        with sessions() as s:
            docs = _documents(s)
        return page(request, "documents.html", ident, documents=docs)

    @app.get("/documents/{doc_id}", response_class=HTMLResponse)
    def document_page(request: Request, ident: Me, doc_id: int, page_no: int = 1):
        with sessions() as s:
            doc = load_document(s, doc_id)
            if doc is None:
                raise HTTPException(404, f"no document {doc_id}")
            pages = doc.pages
            current = pages[min(max(page_no, 1), len(pages)) - 1] if pages else None
            left = lines_left(s, doc_id)
        return page(request, "document.html", ident, doc=doc, page=current, n_pages=len(pages), low=LOW_CONFIDENCE, left=left)

    @app.get("/search", response_class=HTMLResponse)
    def search_page(request: Request, ident: Me, q: str = "", min_prob: float = DEFAULT_MIN_PROB, exact: bool = False):
        hits = []
        if q.strip():
            with sessions() as s:
                hits = _search(s, q, min_prob, exact, 50)
        return page(request, "search.html", ident, q=q, hits=hits, min_prob=min_prob, exact=exact)

    @app.get("/review", response_class=HTMLResponse)
    def review_page(request: Request, ident: Me, document: int | None = None):
        return page(request, "review.html", ident, document=document, low=LOW_CONFIDENCE)

    # -- images ----------------------------------------------------------------

    def _page_png(s, page_id: int) -> tuple[Page, np.ndarray]:
        p = s.get(Page, page_id)
        if p is None or not p.image_key:
            raise HTTPException(404, "no image for this page")
        data = store.get_bytes(p.image_key)
        return p, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)

    @app.get("/pages/{page_id}/image")
    def page_image(ident: Me, page_id: int):
        with sessions() as s:
            p = s.get(Page, page_id)
            if p is None or not p.image_key:
                raise HTTPException(404, "no image for this page")
            data = store.get_bytes(p.image_key)
        return Response(data, media_type="image/png", headers=NO_STORE)

    @app.get("/lines/{line_id}/image")
    def line_image(ident: Me, line_id: int):
        with sessions() as s:
            line = s.get(Line, line_id)
            if line is None:
                raise HTTPException(404, f"no line {line_id}")
            _p, img = _page_png(s, line.page_id)
        m = 6
        crop = img[max(0, line.y0 - m) : line.y1 + m, max(0, line.x0 - m) : line.x1 + m]
        _ok, buf = cv2.imencode(".png", crop)
        return Response(buf.tobytes(), media_type="image/png", headers=NO_STORE)

    # -- JSON API --------------------------------------------------------------

    @app.get("/api/documents")
    def api_documents(ident: Me):
        with sessions() as s:
            return {"documents": _documents(s)}

    @app.get("/api/documents/{doc_id}")
    def api_document(ident: Me, doc_id: int, format: str = "json"):
        if format not in FORMATS:
            raise HTTPException(400, f"format: one of {', '.join(FORMATS)}")
        with sessions() as s:
            doc = load_document(s, doc_id)
            if doc is None:
                raise HTTPException(404, f"no document {doc_id}")
            files = serialize(doc, format)
        if not files:
            raise HTTPException(409, f"document {doc_id} has no pages")
        if format == "json":
            return Response(files[0][1], media_type="application/json")
        if len(files) > 1:
            return {"files": [{"name": n, "content": c} for n, c in files]}
        media = "text/plain; charset=utf-8" if format == "txt" else "application/xml" if format != "hocr" else "text/html"
        return Response(files[0][1], media_type=media, headers={"Content-Disposition": f'attachment; filename="{files[0][0]}"'})

    @app.get("/api/search")
    def api_search(ident: Me, q: str, limit: int = 20, min_prob: float = DEFAULT_MIN_PROB, exact: bool = False):
        if not 1 <= limit <= 1000:
            raise HTTPException(400, "limit: 1 to 1000")
        with sessions() as s:
            return {"hits": [h.to_json() for h in _search(s, q, min_prob, exact, limit)]}

    @app.get("/api/review")
    def api_review(ident: Me, document: int | None = None, limit: int = 20):
        if not 1 <= limit <= 200:
            raise HTTPException(400, "limit: 1 to 200")
        with sessions() as s:
            return {"left": lines_left(s, document), "lines": [i.to_json() for i in review_queue(s, document, limit)]}

    def _save(line_id: int, ident: Identity, text: str | None, version: int | None):
        with sessions() as s:
            try:
                line = review_line(s, line_id, ident.name, text, version)
            except StaleLine as exc:  # someone saved the line since: theirs stays, and is shown
                now = exc.line
                return JSONResponse(
                    {
                        "detail": str(exc),
                        "line": {
                            "id": now.id,
                            "text": now.text,
                            "version": now.version,
                            "reviewed_by": now.reviewed_by,
                            "reviewed_at": now.reviewed_at.isoformat() if now.reviewed_at else None,
                        },
                    },
                    status_code=409,
                )
            except ReviewError as exc:
                raise HTTPException(404 if "no line" in str(exc) else 400, str(exc)) from None
            s.commit()
            return {
                "id": line.id,
                "text": line.text,
                "version": line.version,
                "reviewed_by": line.reviewed_by,
                "words": [{"text": w.best_text, "box": [w.x0, w.y0, w.x1, w.y1]} for w in line.words],
            }

    @app.put("/api/lines/{line_id}")
    def api_save_line(ident: Me, line_id: int, body: LineText):
        return _save(line_id, ident, body.text, body.version)

    @app.post("/api/lines/{line_id}/accept")
    def api_accept_line(ident: Me, line_id: int, body: LineAccept | None = None):
        return _save(line_id, ident, None, body.version if body else None)

    @app.get("/api/lines/{line_id}/history")
    def api_line_history(ident: Me, line_id: int):
        with sessions() as s:
            if s.get(Line, line_id) is None:
                raise HTTPException(404, f"no line {line_id}")
            return {"history": history(s, line_id)}

    @app.get("/api/me")
    def api_me(ident: Me):
        return {"name": ident.name, "role": ident.role}

    # -- tokens: everyone their own; an admin everyone's -------------------------

    def _tokens(ident: Identity, user: str | None = None) -> list[TokenInfo]:
        if user is not None and user != ident.name and not ident.is_admin:
            raise HTTPException(403, "only an admin may see other people's tokens")
        with sessions() as s:
            return list_tokens(s, user if user is not None or ident.is_admin else ident.name)

    def _new_token(ident: Identity, name: str, days: int | None, user: str | None) -> tuple[str, TokenInfo]:
        owner = user or ident.name
        if owner != ident.name and not ident.is_admin:
            raise HTTPException(403, "only an admin may make tokens for other people")
        with sessions() as s:
            try:
                token = add_token(s, owner, name, days)
            except UserError as exc:
                raise HTTPException(404 if "no user" in str(exc) else 400, str(exc)) from None
            s.commit()
            return token, list_tokens(s, owner)[-1]

    def _revoke(ident: Identity, token_id: int) -> None:
        with sessions() as s:
            try:
                revoke_token(s, token_id, None if ident.is_admin else ident.name)
            except UserError as exc:  # also someone else's token, for a reviewer: nothing to learn
                raise HTTPException(404, str(exc)) from None
            s.commit()

    @app.get("/tokens", response_class=HTMLResponse)
    def tokens_page(request: Request, ident: Me):
        return page(request, "tokens.html", ident, tokens=_tokens(ident), new=None, days=TOKEN_DAYS)

    @app.post("/tokens", response_class=HTMLResponse)
    def tokens_add(
        request: Request,
        ident: Me,
        name: Annotated[str, Form()] = "script",
        days: Annotated[str, Form()] = "",
        user: Annotated[str, Form()] = "",
    ):
        lifetime = None if days in ("", "never") else _int(days, "days")
        token, info = _new_token(ident, name, lifetime, user.strip() or None)
        new = {"token": token, "info": info}
        return page(request, "tokens.html", ident, status=201, tokens=_tokens(ident), new=new, days=TOKEN_DAYS)

    @app.post("/tokens/{token_id}/revoke")
    def tokens_revoke(ident: Me, token_id: int):
        _revoke(ident, token_id)
        return RedirectResponse("/tokens", status_code=303)

    @app.get("/api/tokens")
    def api_tokens(ident: Me, user: str | None = None):
        return {"tokens": [t.to_json() for t in _tokens(ident, user)]}

    @app.post("/api/tokens", status_code=201)
    def api_token_add(ident: Me, body: NewToken):
        token, info = _new_token(ident, body.name, body.days, body.user)
        return {"token": token, **info.to_json(), "note": "shown once: send it as 'Authorization: Bearer TOKEN'"}

    @app.delete("/api/tokens/{token_id}")
    def api_token_revoke(ident: Me, token_id: int):
        _revoke(ident, token_id)
        return {"revoked": token_id}

    # -- people and deletion: admins only ----------------------------------------

    def _people() -> list[dict]:
        with sessions() as s:
            counts = collections.Counter(t.user for t in list_tokens(s))
            return [
                {"name": u.name, "role": u.role, "created_at": as_utc(u.created_at).isoformat(), "tokens": counts[u.name]}  # type: ignore[union-attr]
                for u in list_users(s)
            ]

    def _add_person(name: str, password: str, role: str) -> None:
        with sessions() as s:
            try:
                add_user(s, name, password, role)
            except UserError as exc:
                raise HTTPException(409 if "exists" in str(exc) else 400, str(exc)) from None
            s.commit()

    def _change_person(ident: Identity, name: str, role: str | None) -> None:
        """A new role for someone, or (``role`` None) remove them; never oneself, so an admin always remains."""
        if name == ident.name:
            raise HTTPException(400, "an admin may not demote or remove themselves (another admin may)")
        with sessions() as s:
            try:
                set_role(s, name, role) if role is not None else remove_user(s, name)
            except UserError as exc:
                raise HTTPException(404 if "no user" in str(exc) else 400, str(exc)) from None
            s.commit()

    @app.get("/people", response_class=HTMLResponse)
    def people_page(request: Request, ident: Admin):
        return page(request, "people.html", ident, people=_people(), roles=list(Role), error=None)

    @app.post("/people")
    def people_add(
        request: Request,
        ident: Admin,
        name: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        role: Annotated[str, Form()] = Role.REVIEWER,
    ):
        try:
            _add_person(name, password, role)
        except HTTPException as exc:
            people = _people()
            return page(request, "people.html", ident, status=exc.status_code, people=people, roles=list(Role), error=exc.detail)
        return RedirectResponse("/people", status_code=303)

    @app.post("/people/role")
    def people_role(ident: Admin, name: Annotated[str, Form()] = "", role: Annotated[str, Form()] = ""):
        _change_person(ident, name, role)
        return RedirectResponse("/people", status_code=303)

    @app.post("/people/remove")
    def people_remove(ident: Admin, name: Annotated[str, Form()] = ""):
        _change_person(ident, name, None)
        return RedirectResponse("/people", status_code=303)

    @app.get("/api/users")
    def api_users(ident: Admin):
        return {"users": _people()}

    @app.post("/api/users", status_code=201)
    def api_user_add(ident: Admin, body: NewUser):
        _add_person(body.name, body.password, body.role)
        return {"name": body.name.strip(), "role": body.role}

    @app.put("/api/users/{name}")
    def api_user_role(ident: Admin, name: str, body: UserRole):
        _change_person(ident, name, body.role)
        return {"name": name, "role": body.role}

    @app.delete("/api/users/{name}")
    def api_user_remove(ident: Admin, name: str):
        _change_person(ident, name, None)
        return {"removed": name}

    @app.delete("/api/documents/{doc_id}")
    def api_document_delete(ident: Admin, doc_id: int):
        """A finished or failed document with its pages, lines, reviews and stored files."""
        with sessions() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                raise HTTPException(404, f"no document {doc_id}")
            if doc.status not in (Status.DONE, Status.FAILED):
                raise HTTPException(409, f"document {doc_id} is {doc.status}: delete it once it is done or failed")
            keys = [k for k in [doc.store_key, *s.scalars(select(Page.image_key).where(Page.document_id == doc_id))] if k]
            s.execute(delete(Document).where(Document.id == doc_id))
            s.commit()
        for key in keys:
            with contextlib.suppress(Exception):  # a file already gone, or a store that refuses: the rows are gone
                store.delete(key)
        return {"deleted": doc_id}

    return app


def _search(s, q: str, min_prob: float, exact: bool, limit: int):
    """The keyword index (probable words), or full-text search over the best reading (``exact``)."""
    if not 0.0 <= min_prob <= 1.0:
        raise HTTPException(400, "min_prob: 0 to 1")
    return search(s, q[:200], limit) if exact else keyword_search(s, q[:200], min_prob, limit)


def _documents(s) -> list[dict]:
    reviewed = (
        select(Page.document_id, func.count(Line.id).label("n"), func.count(Line.reviewed_at).label("r"))
        .join(Line, Line.page_id == Page.id)
        .group_by(Page.document_id)
        .subquery()
    )
    rows = s.execute(
        select(Document, reviewed.c.n, reviewed.c.r)
        .outerjoin(reviewed, reviewed.c.document_id == Document.id)
        .order_by(Document.id)
    ).all()
    done_pages = dict(s.execute(select(Page.document_id, func.count()).group_by(Page.document_id)).all())
    return [
        {
            "id": d.id,
            "source": d.source,
            "status": str(d.status),
            "pages": d.page_count or 0,
            "pages_done": done_pages.get(d.id, 0),
            "lines": n or 0,
            "reviewed": r or 0,
            "error": d.error,
        }
        for d, n, r in rows
    ]


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise HTTPException(400, f"{field}: a whole number") from None


def _beyond(value: str | None, largest: int) -> bool:
    """A whole number no row of the database can have as its id."""
    if value is None:
        return False
    try:
        return abs(int(value)) > largest
    except ValueError:
        return False


def _too_many(wait: int) -> str:
    return f"too many failed logins from here: try again in {wait} s"


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith("/image") or "application/json" in request.headers.get("accept", "")


def _tls(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _local(target: str) -> str:
    """Only a path on this site may follow a login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
