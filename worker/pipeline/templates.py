"""Registered form templates: registering a blank form, loading the templates pages are
matched to, and calibrating which fields need no review.

- :func:`add_template` (``htr template add NAME blank.png --fields fields.yaml``): the blank
  form's image (a PDF's first page, or an image) goes to the store, its fields (name, type,
  box in the image's pixels, what the type needs) to ``form_templates``; a form too plain to
  be recognized (too few features) or a field outside the image is refused with the reason.
  Without fields, they are drawn in the web app (``/templates/NAME``: :func:`set_fields`).
- :func:`load_templates`: the registered templates as ``segmentation.forms.FormTemplate``
  (kept in memory per process and loaded again when one changes).
- :func:`calibrate_template` (``htr template calibrate NAME``): the reviewed fields of a
  template's pages are held-out fields (the value as first read against the value a person
  saved): ``recognition.acceptance.calibrate_kinds`` gives each field type the threshold
  above which at most ``alpha`` of accepted fields are wrong (probability ``1 - delta``); the
  template keeps them and its unreviewed fields are accepted or sent to review by them. Fields of pages read later
  are accepted as they are stored (:func:`acceptances`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recognition.acceptance import KindAcceptance, calibrate_kinds
from recognition.field_types import field_type
from recognition.text import normalize_text
from segmentation.forms import MIN_INLIERS, FormTemplate, load_fields

from ..db import Field, Template
from ..io import keys
from ..io.documents import BadInput, PageSource
from ..io.store import Store, stored_gray

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class TemplateError(ValueError):
    """A template that cannot be registered, or is not there; the message says why."""


def read_fields_file(path: str | Path) -> list[dict]:
    """A template's fields from a YAML or JSON file: a list of fields, or ``{fields: [...]}``."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'YAML'}: {exc}") from exc
    fields = data.get("fields") if isinstance(data, dict) else data
    if not isinstance(fields, list) or not fields:
        raise TemplateError(f"{path}: expected a list of fields (name, type, box)")
    return fields


def blank_image(path: str | Path) -> np.ndarray:
    """A template's blank form: the first page of a PDF or an image, gray."""
    try:
        return PageSource(path).read(0).image
    except BadInput as exc:
        raise TemplateError(str(exc)) from exc


def checked(name: str, image: np.ndarray, fields: list[dict]) -> FormTemplate:
    """The template as pages are matched to it, or :class:`TemplateError` saying what is wrong."""
    if not NAME.match(name):
        raise TemplateError(f"template name {name!r}: letters, digits, '.', '_' and '-' (at most 100)")
    try:
        tpl = FormTemplate(name, image, load_fields(fields))
        for f in fields:
            field_type(f)  # the type and what it needs (a choice's vocabulary, a date's order)
    except ValueError as exc:
        raise TemplateError(f"template {name}: {exc}") from exc
    for ff in tpl.fields:
        if not ff.name.strip():
            raise TemplateError(f"template {name}: the field at {ff.box.to_list()} has no name")
    if len(tpl.features.points) < 2 * MIN_INLIERS:
        raise TemplateError(f"template {name}: too plain to be recognized on a scan (a blank page?)")
    return tpl


def add_template(
    session: Session, store: Store, name: str, image: np.ndarray, fields: list[dict], replace: bool = False
) -> Template:
    """Register (or with ``replace``, re-register) a form template. The caller commits."""
    checked(name, image, fields)
    row = session.scalar(select(Template).where(Template.name == name))
    if row is not None and not replace:
        raise TemplateError(f"template {name} exists (replace it with --replace)")
    ok, png = cv2.imencode(".png", image)
    assert ok
    data = png.tobytes()
    key = store.put_bytes(keys.template_image(hashlib.sha256(data).hexdigest()), data)
    h, w = image.shape[:2]
    if row is None:
        row = Template(name=name, image_key=key, width=w, height=h, fields=fields)
        session.add(row)
    else:
        row.image_key, row.width, row.height, row.fields, row.acceptance = key, w, h, fields, None
    session.flush()
    return row


def set_fields(session: Session, store: Store, name: str, fields: list[dict]) -> Template:
    """Replace a registered template's fields (drawn in the web app on its image); checked as
    :func:`add_template` checks them. Pages read later are cut by them. The caller commits."""
    row = session.scalar(select(Template).where(Template.name == name))
    if row is None:
        raise TemplateError(f"no template {name}")
    image = stored_gray(store, row.image_key)
    if image is None:
        raise TemplateError(f"template {name}: its image {row.image_key} is not in the store")
    checked(name, image, fields)
    row.fields = fields
    session.flush()
    return row


_cache: dict[tuple, FormTemplate] = {}
_lock = threading.Lock()


def load_templates(session: Session, store: Store) -> list[FormTemplate]:
    """Every registered template with fields, ready to match (images and features kept per
    process). One with none yet (registered to have its fields drawn) matches no page."""
    rows = session.execute(select(Template.id, Template.name, Template.image_key, Template.fields, Template.updated_at)).all()
    out = []
    for tid, name, image_key, fields, updated in rows:
        if not fields:
            continue
        stamp = (tid, image_key, str(updated))
        with _lock:
            tpl = _cache.get(stamp)
        if tpl is None:
            image = stored_gray(store, image_key)
            if image is None:
                raise FileNotFoundError(f"template {name}: its image {image_key} is not in the store")
            tpl = FormTemplate(name, image, load_fields(fields))
            tpl.features  # noqa: B018  (found once, here, not per page)
            with _lock:
                _cache[stamp] = tpl
        out.append(tpl)
    return out


def acceptances(session: Session) -> dict[str, KindAcceptance]:
    """Each calibrated template's acceptance, by name."""
    rows = session.execute(select(Template.name, Template.acceptance).where(Template.acceptance.is_not(None))).all()
    return {name: KindAcceptance.from_dict(a) for name, a in rows}


def calibrate_template(session: Session, name: str, alpha: float = 0.02, delta: float = 0.1) -> KindAcceptance:
    """Calibrate ``name``'s acceptance (a threshold per field type) on its reviewed fields and
    apply it to its unreviewed ones. The caller commits."""
    row = session.scalar(select(Template).where(Template.name == name))
    if row is None:
        raise TemplateError(f"no template {name}")
    held = session.execute(
        select(Field.kind, Field.read_confidence, Field.read_value, Field.value, Field.valid).where(
            Field.template == name, Field.reviewed_at.is_not(None), Field.read_value.is_not(None)
        )
    ).all()
    acc = calibrate_kinds(
        [k for k, *_ in held],
        [c or 0.0 for _k, c, *_ in held],
        [normalize_text(r or "") == normalize_text(v) for _k, _c, r, v, _ok in held],
        alpha=alpha,
        delta=delta,
        valid=[ok for *_x, ok in held],
    )
    row.acceptance = acc.to_dict()
    open_fields = (Field.template == name, Field.reviewed_at.is_(None))
    session.execute(update(Field).where(*open_fields).values(accepted=False))
    for kind, a in acc.kinds.items():
        if a.threshold is not None:
            session.execute(
                update(Field)
                .where(*open_fields, Field.kind == kind, Field.valid.is_(True), Field.confidence >= a.threshold)
                .values(accepted=True)
            )
    session.flush()
    return acc
