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
people and JSON for the API (``errors.py``).

``create_app`` puts the parts together: the shared ``deps.Web`` (sessions,
store, templates, throttle), the routers of ``routes/``, and the error handlers.
Routes that touch the database or do CPU work are plain ``def`` (FastAPI runs
them in its thread pool); the few ``async def`` ones hand such work to threads.
"""

from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from ..db import make_engine, session_factory, upgrade
from ..db.engine import largest_id
from ..io.store import open_store
from ..registry import CACHE, ModelSource
from ..settings import Settings
from . import errors
from .deps import NeedLogin, Web
from .headers import SecurityHeaders
from .routes import auth, documents, fields, lines, people, review, search, tokens, work
from .routes import templates as form_templates
from .throttle import LoginThrottle

HERE = Path(__file__).resolve().parent
LOGIN_HASHES = 2  # password checks at once (argon2 takes a core each); more logins queue for these threads


class ReviewApp(FastAPI):
    """FastAPI with the security headers outside every other layer, so that server
    errors (answered by Starlette's outermost error middleware) carry them too."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every route of the app, one by one (an included router is one node of ``app.routes``)."""
    return [c.original_route for c in iter_route_contexts(app.router.routes) if isinstance(c.original_route, APIRoute)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    app = ReviewApp(title="htr review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    sessions, store = session_factory(engine), open_store(settings.store_url)
    app.state.web = Web(
        sessions=sessions,
        store=store,
        templates=Jinja2Templates(directory=str(HERE / "templates")),
        max_id=largest_id(engine.dialect.name),
        throttle=LoginThrottle(),
        hashing=anyio.CapacityLimiter(LOGIN_HASHES),
        review_chars=settings.review_chars,
        models=ModelSource(sessions, store, settings.model, "greedy", CACHE, backend=settings.backend)
        if settings.review_reread == "on"
        else None,
    )
    app.state.login_throttle = app.state.web.throttle
    app.state.login_limiter = app.state.web.hashing
    app.exception_handler(StarletteHTTPException)(errors.http_error)
    app.exception_handler(RequestValidationError)(errors.invalid)
    app.exception_handler(Exception)(errors.crash)
    app.exception_handler(NeedLogin)(errors.need_login)
    for module in (auth, documents, search, review, lines, fields, work, tokens, people, form_templates):
        app.include_router(module.router)
    return app
