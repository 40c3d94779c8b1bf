"""Form templates in the web app: the registered forms (admins only), one form's image with its
fields drawn on it, and saving the fields an admin drew (name, type, box, what the type needs)."""

from __future__ import annotations

from typing import Any

import cv2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy import select

from recognition.field_types import KINDS

from ...db import Template
from ...io.store import stored_gray
from ...pipeline.templates import TemplateError, set_fields
from ..deps import Admin, Db, WebDep
from .documents import NO_STORE

router = APIRouter()


class Fields(BaseModel):
    fields: list[dict[str, Any]]


def _template(s: Db, name: str) -> Template:
    row = s.scalar(select(Template).where(Template.name == name))
    if row is None:
        raise HTTPException(404, f"no template {name}")
    return row


def template_json(row: Template) -> dict:
    return {
        "name": row.name,
        "width": row.width,
        "height": row.height,
        "fields": row.fields,
        "calibrated": row.acceptance is not None,
    }


@router.get("/templates", response_class=HTMLResponse)
def templates_page(request: Request, ident: Admin, web: WebDep, s: Db):
    rows = s.scalars(select(Template).order_by(Template.name)).all()
    return web.page(request, "templates.html", ident, templates=[template_json(r) for r in rows])


@router.get("/templates/{name}", response_class=HTMLResponse)
def template_page(request: Request, ident: Admin, web: WebDep, s: Db, name: str):
    return web.page(request, "template.html", ident, template=template_json(_template(s, name)), kinds=KINDS)


@router.get("/templates/{name}/image")
def template_image(ident: Admin, web: WebDep, s: Db, name: str):
    img = stored_gray(web.store, _template(s, name).image_key)
    if img is None:
        raise HTTPException(404, "the template's image is not in the store")
    _ok, buf = cv2.imencode(".png", img)
    return Response(buf.tobytes(), media_type="image/png", headers=NO_STORE)


@router.get("/api/templates")
def api_templates(ident: Admin, s: Db):
    return {"templates": [template_json(r) for r in s.scalars(select(Template).order_by(Template.name))]}


@router.get("/api/templates/{name}")
def api_template(ident: Admin, s: Db, name: str):
    return template_json(_template(s, name))


@router.put("/api/templates/{name}/fields")
def api_set_fields(ident: Admin, web: WebDep, s: Db, name: str, body: Fields):
    _template(s, name)
    try:
        row = set_fields(s, web.store, name, body.fields)
    except TemplateError as exc:
        raise HTTPException(400, str(exc)) from None
    s.commit()
    return template_json(row)
