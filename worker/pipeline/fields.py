"""A register page's cells stored as fields, and one set of keys per document.

:func:`page_fields`: each cell of a page's table (``PageWork.table``), read into the
page's document model (``PageWork.page_model``, ``recognition.pages.table_fields``), becomes a
:class:`~worker.db.Field`: its column's key
(the printed header as read on the page), its row, the text of its lines as
read (top to bottom, joined by spaces) and that text's search form, its
confidence (the lines' confidences weighted by the length of their text) and
the cell's box on the page.

:func:`unify_keys`: a register's header is printed alike on every page, so
once a document is complete the keys read page by page become one set
(``segmentation.printed_ocr.consensus_keys``: per column, the reading closest
to all the others), which outvotes a page's misreadings; ``label`` keeps what
was read on each page. ``store_page`` and ``finish_document`` call them.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recognition import document
from recognition.acceptance import KindAcceptance
from segmentation.printed_ocr import consensus_keys

from ..db import Field, Page
from .pages import PageWork
from .templates import acceptances


def page_fields(doc_id: int, read: document.Page, accept: dict[str, KindAcceptance] | None = None) -> list[Field]:
    """The rows of a read page's fields (a register's cells, a form's fields); a form's field is
    accepted without review when its template's calibrated threshold (``accept``) says so."""
    accept = accept or {}
    return [
        Field(
            document_id=doc_id,
            template=f.template,
            row_index=f.row,
            column_index=f.column,
            field=f.key,
            label=f.label or f.key,
            value=f.value,
            normalized=f.normalized,
            confidence=f.confidence,
            kind=f.kind,
            parsed=f.parsed,
            valid=f.valid,
            accepted=f.template in accept and accept[f.template].accepts(f.kind, f.confidence, f.valid),
            read_value=f.value,
            read_confidence=f.confidence,
            x0=f.box[0],
            y0=f.box[1],
            x1=f.box[2],
            y1=f.box[3],
        )
        for f in read.fields
    ]


def store_fields(session: Session, doc_id: int, page: Page, work: PageWork, read: document.Page, reread: bool = False) -> None:
    """Write a page's fields and its table. A page read again (``reread``) has its unreviewed
    fields replaced; a field a person reviewed stays, and the new reading of its cell (same
    row and column, or the same form field) is not added."""
    if work.table:
        page.table_layout = work.table
    kept = set()
    if reread:
        for f in list(page.fields):
            if f.reviewed_by is None:
                page.fields.remove(f)
            else:
                kept.add((f.row_index, f.column_index, f.template and f.field))
    accept = acceptances(session) if any(f.template for f in read.fields) else {}
    for f in page_fields(doc_id, read, accept):
        if (f.row_index, f.column_index, f.template and f.field) not in kept:
            page.fields.append(f)


def unify_keys(session: Session, doc_id: int) -> None:
    """Give a document's fields one key per table column (:func:`consensus_keys` over the keys
    read on its pages, in page order); ``label`` keeps each page's reading."""
    rows = session.execute(
        select(Page.id, Page.table_layout).where(Page.document_id == doc_id, Page.table_layout.is_not(None)).order_by(Page.index)
    ).all()
    pages = [(page_id, layout) for page_id, layout in rows if layout and layout.get("columns")]
    if not pages:
        return
    read = [[c.get("key", "") or f"column {j + 1}" for j, c in enumerate(layout["columns"])] for _id, layout in pages]
    for (page_id, _layout), keys in zip(pages, consensus_keys(read)):
        for j, key in enumerate(keys):
            session.execute(
                update(Field)
                .where(Field.page_id == page_id, Field.column_index == j, Field.template.is_(None), Field.field != key)
                .values(field=key)
            )


def unify_document_keys(doc: document.Document) -> None:
    """:func:`unify_keys` for a document read without a database: its fields' keys become one
    set per table column, voted over its pages; ``label`` keeps each page's reading."""
    pages = [p for p in doc.pages if p.fields]
    read = []
    for p in pages:
        by_column = {f.column: f.label or f.key for f in p.fields if f.column is not None}
        read.append([by_column.get(j, f"column {j + 1}") for j in range(max(by_column, default=-1) + 1)])
    for p, keys in zip(pages, consensus_keys(read)):
        for f in p.fields:
            if f.column is not None and f.template is None and f.column < len(keys):
                f.key = keys[f.column]
