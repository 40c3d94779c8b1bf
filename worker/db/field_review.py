"""A person's reading of a field (a register's cell, a form's field): the review queue of a
document's fields, the least sure first, and saving a value (its search form, confidence 1,
who and when). The caller commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recognition.field_types import FieldType, parse, searched_as

from .corrections import MAX_LINE_CHARS, ReviewError, clean_text
from .models import Field, Page, utcnow


def field_queue(session: Session, document_id: int, limit: int = 50) -> tuple[int, list[dict]]:
    """How many of the document's fields need review (not reviewed, not accepted by their
    template's calibrated threshold), and the first ``limit`` of them, those that do not fit
    their type first, then the least sure (a field's key, value, confidence, page, row and box)."""
    open_ = (Field.document_id == document_id, Field.reviewed_at.is_(None), Field.accepted.is_(False))
    left = session.scalar(select(func.count()).select_from(Field).where(*open_)) or 0
    rows = session.execute(
        select(Field, Page.index)
        .join(Page, Page.id == Field.page_id)
        .where(*open_)
        .order_by(Field.valid, Field.confidence, Field.id)
        .limit(limit)
    ).all()
    return left, [field_json(f, page_index) for f, page_index in rows]


def field_json(f: Field, page_index: int) -> dict:
    return {
        "id": f.id,
        "document_id": f.document_id,
        "page": page_index + 1,
        "row": None if f.row_index is None else f.row_index + 1,
        "field": f.field,
        "value": f.value,
        "confidence": round(float(f.confidence), 4),
        "box": [f.x0, f.y0, f.x1, f.y1],
        "reviewed_by": f.reviewed_by,
        "template": f.template,
        "kind": f.kind,
        "parsed": f.parsed,
        "valid": f.valid,
    }


def typed_value(kind: str, text: str) -> str:
    """A person's value in normal form for its field's kind (a choice: as typed; a value that
    does not parse: none)."""
    if kind in ("text", "choice") or not text:
        return text if kind == "choice" else ""
    return parse(FieldType(kind), text) or ""


def review_field(session: Session, field_id: int, user: str, value: str) -> Field:
    """Save a person's reading of a field: the value as typed (control characters out), its normal
    form and search form, confidence 1; the reading it replaces stays as ``read_value``."""
    text = clean_text(value)
    if len(text) > MAX_LINE_CHARS:
        raise ReviewError(f"a field holds at most {MAX_LINE_CHARS} characters")
    f = session.get(Field, field_id)
    if f is None:
        raise ReviewError(f"no field {field_id}")
    if f.read_value is None:  # the reading a review is measured against (template calibration)
        f.read_value, f.read_confidence = f.value, f.confidence
    parsed = typed_value(f.kind, text)
    f.value, f.parsed, f.normalized, f.confidence = text, parsed, searched_as(text, parsed), 1.0
    f.reviewed_at, f.reviewed_by = utcnow(), user
    session.flush()
    return f
