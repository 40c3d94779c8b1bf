"""A stored document (``worker.db.Document`` loaded with its pages, lines, words and fields) as
the document model (``recognition.document``) that the exports read: the database maps to it
here, once. A word's ``corrected_text`` is a person's correction; a line a person reviewed is
``reviewed``."""

from __future__ import annotations

from recognition import document

from .. import db


def document_model(doc: db.Document) -> document.Document:
    model = f"{doc.model_version.name} {doc.model_version.version}" if doc.model_version is not None else None
    return document.Document(
        doc.source,
        [_page(p) for p in doc.pages],
        model=model,
        id=doc.id,
        status=str(doc.status),
        content_hash=doc.content_hash,
    )


def _page(p: db.Page) -> document.Page:
    return document.Page(
        p.index,
        p.width,
        p.height,
        [
            document.Line(
                ln.text,
                (ln.x0, ln.y0, ln.x1, ln.y1),
                ln.confidence,
                [
                    document.Word(w.text, (w.x0, w.y0, w.x1, w.y1), w.confidence, corrected_text=w.corrected_text)
                    for w in ln.words
                ],
                reviewed=ln.reviewed_at is not None,
            )
            for ln in p.lines
        ],
        p.dpi,
        p.skew_degrees or 0.0,
        p.image_key,
        [
            document.Field(
                f.field,
                f.value,
                (f.x0, f.y0, f.x1, f.y1),
                f.confidence,
                f.row_index,
                f.column_index,
                f.template,
                f.label,
                f.normalized,
                f.reviewed_by,
                kind=f.kind,
                parsed=f.parsed,
                valid=f.valid,
                accepted=f.accepted,
            )
            for f in p.fields
        ],
    )
