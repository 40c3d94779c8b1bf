"""The review web app (``htr serve``): documents, pages with their boxes,
search, and the review queue, as server-rendered pages with a little plain
JavaScript, and a JSON API beside them for scripts.

Nothing is served without a login: a browser session (HttpOnly, SameSite=Lax
cookie; Secure over TLS) or an API token sent as ``Authorization: Bearer``.
Every state-changing request from a browser session carries its CSRF token
(``X-CSRF-Token`` header or ``csrf_token`` form field).
"""

import asyncio
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import cv2
import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy import func, select

from ..db import Document, Line, Page, make_engine, session_factory, upgrade
from ..db.corrections import ReviewError, history, lines_left, review_line, review_queue
from ..db.queries import DEFAULT_MIN_PROB, keyword_search, load_document, search
from ..db.users import Identity, LoginError, login, logout, session_identity, token_identity
from ..export import FORMATS, serialize
from ..io.store import open_store
from ..settings import Settings

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "htr_session"
LOGIN_CSRF_COOKIE = "htr_login_csrf"
LOW_CONFIDENCE = 0.5  # words below this are marked for review
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class NeedLogin(Exception):
    pass


class LineText(BaseModel):
    text: str


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    upgrade(settings.database_url)
    sessions = session_factory(make_engine(settings.database_url))
    store = open_store(settings.store_url)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app = FastAPI(title="htr review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

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
        try:
            with sessions() as s:
                token, _ident = login(s, name, password)
        except LoginError as exc:
            await asyncio.sleep(0.5)  # a little cost on every failure, besides the lockout
            return page(request, "login.html", None, status=401, csrf=cookie, next=target, error=str(exc))
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_tls(request), max_age=12 * 3600)
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

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
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

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
        return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

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

    def _save(line_id: int, ident: Identity, text: str | None) -> dict:
        with sessions() as s:
            try:
                line = review_line(s, line_id, ident.name, text)
            except ReviewError as exc:
                raise HTTPException(404 if "no line" in str(exc) else 400, str(exc)) from None
            s.commit()
            return {
                "id": line.id,
                "text": line.text,
                "reviewed_by": line.reviewed_by,
                "words": [{"text": w.best_text, "box": [w.x0, w.y0, w.x1, w.y1]} for w in line.words],
            }

    @app.put("/api/lines/{line_id}")
    def api_save_line(ident: Me, line_id: int, body: LineText):
        return _save(line_id, ident, body.text)

    @app.post("/api/lines/{line_id}/accept")
    def api_accept_line(ident: Me, line_id: int):
        return _save(line_id, ident, None)

    @app.get("/api/lines/{line_id}/history")
    def api_line_history(ident: Me, line_id: int):
        with sessions() as s:
            if s.get(Line, line_id) is None:
                raise HTTPException(404, f"no line {line_id}")
            return {"history": history(s, line_id)}

    @app.get("/api/me")
    def api_me(ident: Me):
        return {"name": ident.name, "role": ident.role}

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


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith("/image") or "application/json" in request.headers.get("accept", "")


def _tls(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _local(target: str) -> str:
    """Only a path on this site may follow a login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
