"""Reading transcripts back: a document's text, and ranked full-text search."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from .models import Document, Line, Page, Word


@dataclass
class WordHit:
    index: int  # 1-based position in the line
    text: str  # corrected text where a person corrected it
    confidence: float
    box: list[int]  # x0, y0, x1, y1 in page pixels


@dataclass
class Hit:
    document_id: int
    source: str
    page: int  # 1-based
    line: int  # 1-based
    text: str
    rank: float
    line_id: int = 0
    words: list[WordHit] = field(default_factory=list)  # the words of the line that match the query

    def to_json(self) -> dict:
        return asdict(self)


def load_document(session: Session, doc_id: int) -> Document | None:
    return session.scalar(
        select(Document)
        .where(Document.id == doc_id)
        .options(selectinload(Document.pages).selectinload(Page.lines).selectinload(Line.words))
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
            'SELECT d.id, d.source, p."index", l."index", l.text, bm25(lines_fts) AS rank, l.id '
            "FROM lines_fts JOIN lines l ON l.id = lines_fts.rowid JOIN pages p ON p.id = l.page_id "
            "JOIN documents d ON d.id = p.document_id WHERE lines_fts MATCH :q ORDER BY rank LIMIT :n"
        )
        rows = session.execute(sql, {"q": fts, "n": limit}).all()
        return _with_words(session, query, [Hit(r[0], r[1], r[2] + 1, r[3] + 1, r[4], -float(r[5]), r[6]) for r in rows])
    if dialect == "postgresql":
        sql = text(
            'SELECT d.id, d.source, p."index", l."index", l.text, ts_rank(l.tsv, q) AS rank, l.id '
            "FROM lines l, plainto_tsquery('english', :q) q, pages p, documents d "
            "WHERE l.tsv @@ q AND p.id = l.page_id AND d.id = p.document_id ORDER BY rank DESC LIMIT :n"
        )
        rows = session.execute(sql, {"q": query, "n": limit}).all()
        return _with_words(session, query, [Hit(r[0], r[1], r[2] + 1, r[3] + 1, r[4], float(r[5]), r[6]) for r in rows])
    raise NotImplementedError(f"search on {dialect}")


def _norm(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _with_words(session: Session, query: str, hits: list[Hit]) -> list[Hit]:
    """Point each line hit at its matching words (boxes and confidences): the
    search engines stem ("fox" finds "foxes"), so a word matches when it starts
    with a query term."""
    terms = [t for t in (_norm(t) for t in re.findall(r"\w+", query)) if t]
    if not hits or not terms:
        return hits
    by_line: dict[int, list[Word]] = {}
    for w in session.scalars(select(Word).where(Word.line_id.in_([h.line_id for h in hits])).order_by(Word.line_id, Word.index)):
        by_line.setdefault(w.line_id, []).append(w)
    for h in hits:
        for w in by_line.get(h.line_id, []):
            if any(_norm(w.best_text).startswith(t) for t in terms):
                h.words.append(WordHit(w.index + 1, w.best_text, round(float(w.confidence), 4), [w.x0, w.y0, w.x1, w.y1]))
    return hits
