"""People: adding users, changing their roles, removing them (admins only; never
oneself, so an admin always remains). The People page, and ``/api/users``."""

from __future__ import annotations

import collections
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ...db import as_utc
from ...db.users import Identity, Role, UserError, add_user, list_tokens, list_users, remove_user, set_role
from ..deps import Admin, Db, WebDep

router = APIRouter()


class NewUser(BaseModel):
    name: str
    password: str
    role: str = Role.REVIEWER


class UserRole(BaseModel):
    role: str


def _people(s: Session) -> list[dict]:
    counts = collections.Counter(t.user for t in list_tokens(s))
    return [
        {"name": u.name, "role": u.role, "created_at": as_utc(u.created_at).isoformat(), "tokens": counts[u.name]}  # type: ignore[union-attr]
        for u in list_users(s)
    ]


def _add_person(s: Session, name: str, password: str, role: str) -> None:
    """A new user (argon2 hashes the password: plain ``def`` routes call this, in worker threads)."""
    try:
        add_user(s, name, password, role)
    except UserError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 400, str(exc)) from None
    s.commit()


def _change_person(s: Session, ident: Identity, name: str, role: str | None) -> None:
    """A new role for someone, or (``role`` None) remove them; never oneself, so an admin always remains."""
    if name == ident.name:
        raise HTTPException(400, "an admin may not demote or remove themselves (another admin may)")
    try:
        set_role(s, name, role) if role is not None else remove_user(s, name)
    except UserError as exc:
        raise HTTPException(404 if "no user" in str(exc) else 400, str(exc)) from None
    s.commit()


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request, ident: Admin, web: WebDep, s: Db):
    return web.page(request, "people.html", ident, people=_people(s), roles=list(Role), error=None)


@router.post("/people")
def people_add(
    request: Request,
    ident: Admin,
    web: WebDep,
    s: Db,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = Role.REVIEWER,
):
    try:
        _add_person(s, name, password, role)
    except HTTPException as exc:
        people = _people(s)
        return web.page(request, "people.html", ident, status=exc.status_code, people=people, roles=list(Role), error=exc.detail)
    return RedirectResponse("/people", status_code=303)


@router.post("/people/role")
def people_role(ident: Admin, s: Db, name: Annotated[str, Form()] = "", role: Annotated[str, Form()] = ""):
    _change_person(s, ident, name, role)
    return RedirectResponse("/people", status_code=303)


@router.post("/people/remove")
def people_remove(ident: Admin, s: Db, name: Annotated[str, Form()] = ""):
    _change_person(s, ident, name, None)
    return RedirectResponse("/people", status_code=303)


@router.get("/api/users")
def api_users(ident: Admin, s: Db):
    return {"users": _people(s)}


@router.post("/api/users", status_code=201)
def api_user_add(ident: Admin, s: Db, body: NewUser):
    _add_person(s, body.name, body.password, body.role)
    return {"name": body.name.strip(), "role": body.role}


@router.put("/api/users/{name}")
def api_user_role(ident: Admin, s: Db, name: str, body: UserRole):
    _change_person(s, ident, name, body.role)
    return {"name": name, "role": body.role}


@router.delete("/api/users/{name}")
def api_user_remove(ident: Admin, s: Db, name: str):
    _change_person(s, ident, name, None)
    return {"removed": name}
