"""Reading transcripts back: a document's text, and ranked full-text search."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from recognition.text import normalize_term, search_form

from .models import Document, Line, Page, Word, WordCandidate


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
    probability: float | None = None  # keyword search: the probability that the line holds the query

    def to_json(self) -> dict:
        return asdict(self)


def load_document(session: Session, doc_id: int) -> Document | None:
    return session.scalar(
        select(Document)
        .where(Document.id == doc_id)
        .options(
            selectinload(Document.pages).selectinload(Page.lines).selectinload(Line.words),
            selectinload(Document.pages).selectinload(Page.fields),
            selectinload(Document.model_version),
        )
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


MAX_QUERY_TERMS = 20


@dataclass(frozen=True)
class Fuzzy:
    """Error-tolerant matching: query words of ``min_length`` letters or more also match
    indexed spellings with one error per ``letters_per_error`` letters, each error
    multiplying the probability by ``penalty`` (near spellings rank below probable ones).
    The defaults are chosen on validation pages (``benchmarks/keywords.py --split val --fuzzy``):
    real words misread are found through the lexicon's spellings in the index, so the fallback
    is kept for long words and scored low (a 5-letter rule at 0.5 cost 0.1 of precision)."""

    min_length: int = 6
    letters_per_error: int = 5
    penalty: float = 0.2


FUZZY = Fuzzy()


def query_terms(query: str) -> tuple[list[str], bool]:
    """Normalized words of a query, and whether it is a quoted phrase."""
    q = query.strip()
    phrase = len(q) >= 2 and q[0] == q[-1] == '"'
    terms = [t for t in (normalize_term(w) for w in re.findall(r"\w+", q)) if t]
    return terms[:MAX_QUERY_TERMS], phrase


def keyword_search(session: Session, query: str, min_prob: float, limit: int = 20, fuzzy: Fuzzy = FUZZY) -> list[Hit]:
    """Lines that probably hold every word of ``query`` (a quoted phrase: in
    order, next to each other), from the keyword index of probable spellings;
    ranked by that probability (the product of each word's best), at least
    ``min_prob``. Case and punctuation do not matter."""
    terms, phrase = query_terms(query)
    if not terms:
        return []
    wanted = set(terms)
    spelled_as: dict[str, dict[str, int]] = {t: {t: 0} for t in wanted}  # indexed spelling -> {query term: errors}
    for t in wanted:
        if len(t) >= fuzzy.min_length:
            for other, errors in _near_spellings(session, t, max(1, len(t) // fuzzy.letters_per_error)).items():
                spelled_as.setdefault(other, {})[t] = errors
    found = _candidates_by_line(session, spelled_as, fuzzy)
    scored: list[tuple[float, int, list]] = []
    for line_id, by_term in found.items():
        if not wanted <= set(by_term):
            continue
        best = _phrase(terms, by_term) if phrase else _all_words(terms, by_term)
        if best is None:
            continue
        p, hits = best
        if p >= min_prob:
            scored.append((p, line_id, hits))
    scored.sort(key=lambda x: (-x[0], x[1]))
    scored = scored[:limit]
    if not scored:
        return []
    return _hits(session, scored)


def _candidates_by_line(
    session: Session, spelled_as: dict[str, dict[str, int]], fuzzy: Fuzzy
) -> dict[int, dict[str, dict[int, Any]]]:
    """line -> query term -> word index -> the best indexed spelling there (near spellings scored below)."""
    rows = session.execute(
        select(
            WordCandidate.line_id,
            WordCandidate.norm,
            WordCandidate.word_index,
            WordCandidate.probability,
            WordCandidate.text,
            WordCandidate.x0,
            WordCandidate.y0,
            WordCandidate.x1,
            WordCandidate.y1,
        ).where(WordCandidate.norm.in_(set(spelled_as)))
    ).all()
    found: dict[int, dict[str, dict[int, Any]]] = {}
    for r in rows:
        for term, errors in spelled_as[r.norm].items():
            row: Any = _Scaled(r, fuzzy.penalty**errors) if errors else r
            slot = found.setdefault(r.line_id, {}).setdefault(term, {})
            if r.word_index not in slot or row.probability > slot[r.word_index].probability:
                slot[r.word_index] = row
    return found


def _hits(session: Session, scored: list[tuple[float, int, list]]) -> list[Hit]:
    """The ranked lines as hits, with their document, page and line numbers."""
    info: dict[int, Any] = {
        row.id: row
        for row in session.execute(
            select(
                Line.id,
                Line.text,
                Line.index.label("line_no"),
                Page.index.label("page"),
                Document.id.label("doc"),
                Document.source,
            )
            .join(Page, Page.id == Line.page_id)
            .join(Document, Document.id == Page.document_id)
            .where(Line.id.in_([line_id for _, line_id, _ in scored]))
        ).all()
    }
    out = []
    for p, line_id, hits in scored:
        ln = info[line_id]
        words = [WordHit(h.word_index + 1, h.text, round(float(h.probability), 4), [h.x0, h.y0, h.x1, h.y1]) for h in hits]
        out.append(Hit(ln.doc, ln.source, ln.page + 1, ln.line_no + 1, ln.text, round(p, 4), line_id, words, round(p, 4)))
    return out


class _Scaled:
    """A candidate row whose probability counts less (a near spelling)."""

    def __init__(self, row, factor: float):
        self._row, self.probability = row, row.probability * factor

    def __getattr__(self, name):
        return getattr(self._row, name)


def _near_spellings(session: Session, term: str, limit: int) -> dict[str, int]:
    """Indexed spellings at most ``limit`` edits from a query word (other than
    itself), with their edit distance, found through the trigram index."""
    import editdistance

    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        grams = {term[i : i + 3] for i in range(len(term) - 2)}
        match = " OR ".join(f'"{g}"' for g in sorted(grams))
        sql = text("SELECT DISTINCT norm FROM word_candidates_trgm WHERE word_candidates_trgm MATCH :q LIMIT 2000")
        found = [r[0] for r in session.execute(sql, {"q": match})]
    elif dialect == "postgresql":
        sql = text("SELECT DISTINCT norm FROM word_candidates WHERE norm % :t LIMIT 2000")
        found = [r[0] for r in session.execute(sql, {"t": term})]
    else:
        return {}
    near = {f: editdistance.eval(f, term) for f in found if f != term and abs(len(f) - len(term)) <= limit}
    return {f: d for f, d in near.items() if d <= limit}


def _all_words(terms: list[str], by_term: dict) -> tuple[float, list] | None:
    """Each term's likeliest word; a word that holds several terms (the parts of
    ``MARIE-ASTRIDE``) counts once."""
    hits = [max(by_term[t].values(), key=lambda r: r.probability) for t in dict.fromkeys(terms)]
    per_word: dict[int, float] = {}
    for row in hits:
        per_word[row.word_index] = max(per_word.get(row.word_index, 0.0), row.probability)
    return math.prod(per_word.values()), hits


def _phrase(terms: list[str], by_term: dict) -> tuple[float, list] | None:
    best = None
    for start in by_term[terms[0]]:
        rows = [by_term[t].get(start + k) for k, t in enumerate(terms)]
        if any(r is None for r in rows):
            continue
        p = 1.0
        for r in rows:
            p *= r.probability
        if best is None or p > best[0]:
            best = (p, rows)
    return best


FIELD_QUERY = re.compile(r"^\s*([\w-]+)\s*:\s*(\S.*)$")  # surname:dupont, born:1921 (letters, digits, - and _ before the colon)


@dataclass
class FieldHit:
    document_id: int
    source: str
    page: int  # 1-based
    row: int | None  # 1-based register row, where the field is a cell
    field: str  # the field's key (a register's column header, a template's field name)
    value: str
    confidence: float
    box: list[int]  # x0, y0, x1, y1 on the page
    reviewed: bool

    def to_json(self) -> dict:
        return asdict(self)


def field_query(session: Session, query: str) -> tuple[str, str] | None:
    """``KEY:VALUE`` (``surname:dupont``) where some field's key holds KEY: the key and the value
    searched for; else None, and the query is searched as words (``12:30`` in a letter)."""
    from .models import Field

    m = FIELD_QUERY.match(query)
    if not m:
        return None
    key = normalize_term(m.group(1))
    keys = session.scalars(select(Field.field).distinct())
    return (m.group(1), m.group(2)) if key and any(key in normalize_term(k) for k in keys) else None


def field_search(session: Session, key: str, value: str, limit: int = 50) -> list[FieldHit]:
    """Fields whose key holds ``key`` (lower case, accents folded: ``birth`` finds ``Date of birth``)
    and whose value holds ``value``'s words in order (its search form: ``dupont`` finds ``DUPONT
    Marie``), the surest first."""
    from .models import Field

    want_key, want = normalize_term(key), search_form(value)
    if not want_key or not want:
        return []
    like = "%" + want.split()[0] + "%"  # letters and digits only (search_form): nothing for LIKE to read as a pattern
    rows = session.execute(
        select(Field, Document.source, Page.index)
        .join(Document, Document.id == Field.document_id)
        .join(Page, Page.id == Field.page_id)
        .where(Field.normalized.like(like))
        .order_by(Field.confidence.desc(), Field.id)
    ).all()
    hits = []
    for f, source, page_index in rows:
        if want_key not in normalize_term(f.field) or not _words_in_order(want, f.normalized):
            continue
        row = None if f.row_index is None else f.row_index + 1
        hits.append(
            FieldHit(f.document_id, source, page_index + 1, row, f.field, f.value, round(float(f.confidence), 4),
                     [f.x0, f.y0, f.x1, f.y1], f.reviewed_by is not None)
        )  # fmt: skip
        if len(hits) >= limit:
            break
    return hits


def _words_in_order(want: str, have: str) -> bool:
    """Whether the words of ``want`` start words of ``have``, in order (``dup`` finds ``dupont``)."""
    words = have.split()
    i = 0
    for w in want.split():
        while i < len(words) and not words[i].startswith(w):
            i += 1
        if i == len(words):
            return False
        i += 1
    return True
