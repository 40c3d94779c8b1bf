"""Reading transcripts back: a document's text, and ranked full-text search."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from .db import Document, Line, Page


@dataclass
class Hit:
    document_id: int
    source: str
    page: int  # 1-based
    line: int  # 1-based
    text: str
    rank: float


def load_document(session: Session, doc_id: int) -> Document | None:
    return session.scalar(
        select(Document).where(Document.id == doc_id).options(selectinload(Document.pages).selectinload(Page.lines).selectinload(Line.words))
    )


def document_text(doc: Document) -> str:
    """One line of text per line, pages in order (blank line between pages)."""
    return "\n\n".join("\n".join(ln.text for ln in page.lines) for page in doc.pages)


def _fts5_query(q: str) -> str:
    tokens = re.findall(r"\w+", q)
    return " ".join(f'"{t}"' for t in tokens)


def search(session: Session, query: str, limit: int = 20) -> list[Hit]:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        fts = _fts5_query(query)
        if not fts:
            return []
        sql = text(
            "SELECT d.id, d.source, p.\"index\", l.\"index\", l.text, bm25(lines_fts) AS rank "
            "FROM lines_fts JOIN lines l ON l.id = lines_fts.rowid JOIN pages p ON p.id = l.page_id "
            "JOIN documents d ON d.id = p.document_id WHERE lines_fts MATCH :q ORDER BY rank LIMIT :n"
        )
        rows = session.execute(sql, {"q": fts, "n": limit}).all()
        return [Hit(r[0], r[1], r[2] + 1, r[3] + 1, r[4], -float(r[5])) for r in rows]
    if dialect == "postgresql":
        sql = text(
            "SELECT d.id, d.source, p.\"index\", l.\"index\", l.text, ts_rank(l.tsv, q) AS rank "
            "FROM lines l, plainto_tsquery('english', :q) q, pages p, documents d "
            "WHERE l.tsv @@ q AND p.id = l.page_id AND d.id = p.document_id ORDER BY rank DESC LIMIT :n"
        )
        rows = session.execute(sql, {"q": query, "n": limit}).all()
        return [Hit(r[0], r[1], r[2] + 1, r[3] + 1, r[4], float(r[5])) for r in rows]
    raise NotImplementedError(f"search on {dialect}")
