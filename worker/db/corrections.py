"""What a person's review does to a line, and the review queue.

A save stores the line's new text, re-aligns its words to it (boxes kept for
words that still match one to one, spans shared out by length where words
were split, merged or inserted), marks the line reviewed and keeps a history
row (who, when, old text, new text, the model version that read it).
Reviewed words count as certain (confidence 1). A save names the line's
``version`` it edited: each save raises it, and a save of an older version
is refused (:class:`StaleLine`) rather than overwriting a newer reading.
Control characters (and the other characters XML 1.0 forbids) are taken
out of a person's text. Search reads ``lines.text``,
so it finds the corrected words at once; exports read the same rows.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from .models import Document, Line, LineEdit, Page, PageEvent, Word, WordCandidate, as_utc, utcnow, word_span
from .work import assigned_to

MAX_LINE_CHARS = 2000


class ReviewError(ValueError):
    """A review that cannot be applied (no such line, text too long)."""


class StaleLine(ReviewError):
    """A save of a line that someone else saved since it was read: ``line`` is the line as it is now."""

    def __init__(self, line: Line, version: int):
        self.line = line
        by = f" by {line.reviewed_by}" if line.reviewed_by else ""
        super().__init__(
            f"line {line.id} was changed{by} since you opened it (you edited version {version}, it is now at "
            f"version {line.version}): your text was not saved"
        )


def clean_text(text: str) -> str:
    """A person's text as stored: whitespace runs (tabs, line breaks) as one space, and no control
    characters, surrogates or U+FFFE/U+FFFF (XML 1.0 cannot carry them, nor can a line)."""
    spaced = (" " if ch.isspace() else ch for ch in text)
    return " ".join(
        "".join(ch for ch in spaced if unicodedata.category(ch) not in ("Cc", "Cs") and ch not in "\ufffe\uffff").split()
    )


@dataclass
class QueueItem:
    line_id: int
    document_id: int
    source: str
    page: int  # 1-based
    line: int  # 1-based
    text: str
    lowest: float  # the line's lowest word confidence
    words: list[dict]
    version: int  # what a save of this line names (optimistic locking)

    def to_json(self) -> dict:
        return self.__dict__.copy()


def _spans(old: list[Word], i1: int, i2: int, line: Line) -> tuple[int, int]:
    """The x-span the old words i1..i2 covered; for an insertion (i1 == i2) the gap where it goes."""
    if i2 > i1:
        return min(w.x0 for w in old[i1:i2]), max(w.x1 for w in old[i1:i2])
    left = old[i1 - 1].x1 if i1 > 0 else line.x0
    right = old[i1].x0 if i1 < len(old) else line.x1
    return (left, right) if right > left else (left, left)


def realign(line: Line, new_text: str) -> list[Word]:
    """New word rows for ``new_text``, aligned to the line's recognized words."""
    old = sorted(line.words, key=lambda w: w.index)
    new = new_text.split()
    out: list[Word] = []
    sm = SequenceMatcher(a=[w.best_text for w in old], b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "delete":
            continue
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for k in range(j2 - j1):
                w = old[i1 + k]
                out.append(Word(x0=w.x0, y0=w.y0, x1=w.x1, y1=w.y1, text=w.text, corrected_text=new[j1 + k]))
            continue
        x0, x1 = _spans(old, i1, i2, line)
        recognized = " ".join(w.text for w in old[i1:i2])
        weights = [len(t) + 1 for t in new[j1:j2]]
        total, acc = sum(weights), 0
        for k, t in enumerate(new[j1:j2]):
            a = x0 + (x1 - x0) * acc // total
            acc += weights[k]
            b = x0 + (x1 - x0) * acc // total
            a, b = word_span(a, b, line.x0, line.x1, line.y1 - line.y0)
            out.append(Word(x0=a, y0=line.y0, x1=b, y1=line.y1, text=recognized if k == 0 else "", corrected_text=t))
    now = utcnow()
    for i, w in enumerate(out):
        w.index, w.confidence, w.corrected_at = i, 1.0, now
    return out


def claim_line(session: Session, line_id: int, version: int | None) -> Line:
    """The line with its words and index, its version raised for the change the caller makes.
    ``version``: the version the person saw; a line changed since raises :class:`StaleLine`.
    The version is checked and raised in one statement: of two saves of the same version, one wins."""
    claim = update(Line).where(Line.id == line_id).values(version=Line.version + 1).execution_options(synchronize_session=False)
    if version is not None:
        claim = claim.where(Line.version == version)
    if session.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
        current = session.get(Line, line_id)
        if current is None:
            raise ReviewError(f"no line {line_id}")
        session.refresh(current)
        raise StaleLine(current, version or 0)
    line = session.scalar(
        select(Line)
        .where(Line.id == line_id)
        .options(selectinload(Line.words), selectinload(Line.candidates))
        .execution_options(populate_existing=True)
    )
    if line is None:
        raise ReviewError(f"no line {line_id}")
    return line


def snapshot(line: Line) -> dict:
    """The line's reading as it stands (text, confidence, review, words with boxes), for an undo."""
    return {
        "text": line.text,
        "confidence": line.confidence,
        "reviewed_at": line.reviewed_at.isoformat() if line.reviewed_at else None,
        "reviewed_by": line.reviewed_by,
        "words": [[w.text, w.corrected_text, w.confidence, w.x0, w.y0, w.x1, w.y1] for w in line.words],
    }


def _set_words(session: Session, line: Line, words: list[Word], reviewed: bool) -> None:
    """Replace the line's words, and its keyword index: a reviewed line's words at probability 1,
    an unreviewed one's at their confidence (the model's other spellings are not kept)."""
    line.words.clear()
    line.candidates.clear()
    session.flush()  # the old words go before the new ones take their indices
    for i, w in enumerate(words):
        w.index = i
    line.words.extend(words)
    if reviewed:
        line.candidates.extend(certain_candidates(words))
    else:
        line.candidates.extend(
            c for w in words for c in WordCandidate.of_word(w.index, [(w.best_text, w.confidence)], (w.x0, w.y0, w.x1, w.y1))
        )


def _restore(session: Session, line: Line, snap: dict) -> None:
    words = [
        Word(text=t, corrected_text=c, confidence=p, x0=x0, y0=y0, x1=x1, y1=y1) for t, c, p, x0, y0, x1, y1 in snap["words"]
    ]
    _set_words(session, line, words, snap["reviewed_at"] is not None)
    line.text = snap["text"]
    line.confidence = snap["confidence"]
    line.reviewed_at = datetime.fromisoformat(snap["reviewed_at"]) if snap["reviewed_at"] else None
    line.reviewed_by = snap["reviewed_by"]


def line_model_version(session: Session, line: Line) -> int | None:
    """The model version that read the line's document (what a history row records)."""
    return session.scalar(select(Document.model_version_id).join(Page).where(Page.id == line.page_id))


def review_line(
    session: Session,
    line_id: int,
    user: str,
    new_text: str | None = None,
    version: int | None = None,
    action: str | None = None,
) -> Line:
    """Save a person's reading of a line (``new_text``; None accepts the line
    as read). ``version``: the line's version the person edited; a line saved
    since is not overwritten (:class:`StaleLine`). ``action`` names the edit in
    the history (default ``edit``, or ``accept`` when the text is unchanged). The caller commits."""
    text = None if new_text is None else clean_text(new_text)
    if text is not None and len(text) > MAX_LINE_CHARS:
        raise ReviewError(f"a line holds at most {MAX_LINE_CHARS} characters")
    line = claim_line(session, line_id, version)
    before = snapshot(line)
    old_text = line.text
    text = old_text if text is None else text
    _set_words(session, line, realign(line, text), reviewed=True)
    line.text = text
    line.confidence = 1.0
    line.reviewed_at = utcnow()
    line.reviewed_by = user
    default = "accept" if new_text is None or text == old_text else "edit"
    session.add(
        LineEdit(
            line_id=line.id,
            user_name=user,
            at=line.reviewed_at,
            action=action or default,
            old_text=old_text,
            new_text=text,
            model_version_id=line_model_version(session, line),
            before=before,
        )
    )
    session.flush()
    return line


def undo_last(session: Session, line_id: int, user: str, version: int | None = None) -> Line:
    """Undo the line's last save that is not undone yet: its words, confidences and review
    come back as they were (a line reviewed for the first time is unreviewed again, and
    leaves the corrections export). Recorded as an ``undo`` edit; merges and splits are not undone here."""
    line = claim_line(session, line_id, version)
    last = session.scalar(
        select(LineEdit)
        .where(LineEdit.line_id == line_id, LineEdit.undone_at.is_(None), LineEdit.action != "undo")
        .order_by(LineEdit.id.desc())
        .limit(1)
    )
    if last is None:
        raise ReviewError(f"line {line_id} has no save to undo")
    if last.before is None:
        raise ReviewError(f"the last change to line {line_id} ({last.action}) is not one undo takes back")
    before = snapshot(line)
    _restore(session, line, last.before)
    now = utcnow()
    last.undone_at = now
    session.add(
        LineEdit(
            line_id=line.id,
            user_name=user,
            at=now,
            action="undo",
            old_text=before["text"],
            new_text=line.text,
            model_version_id=line_model_version(session, line),
        )
    )
    session.flush()
    return line


def revert_line(session: Session, line_id: int, user: str, edit_id: int | None, version: int | None = None) -> Line:
    """Save an earlier version of the line's text again: the text an edit (``edit_id``) saved,
    or with None the model's reading (the text before the first edit). A save like any other
    (action ``revert``), so it can itself be undone."""
    edits = list(session.scalars(select(LineEdit).where(LineEdit.line_id == line_id).order_by(LineEdit.id)))
    if edit_id is None:
        if not edits:
            raise ReviewError(f"line {line_id} has no earlier version")
        text = edits[0].old_text
    else:
        chosen = next((e for e in edits if e.id == edit_id), None)
        if chosen is None:
            raise ReviewError(f"line {line_id} has no version {edit_id}")
        text = chosen.new_text
    return review_line(session, line_id, user, text, version, action="revert")


def certain_candidates(words) -> list[WordCandidate]:
    """A reviewed line's index: its words as a person wrote them, at probability 1."""
    return [c for w in words for c in WordCandidate.of_word(w.index, [(w.best_text, 1.0)], (w.x0, w.y0, w.x1, w.y1))]


def _scope(document_id: int | None, mine: str | None = None):
    q = (
        select(Line.id)
        .join(Page, Page.id == Line.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(Line.reviewed_at.is_(None))
    )
    if mine is not None:
        q = q.where(assigned_to(mine))
    return q.where(Document.id == document_id) if document_id is not None else q


def lines_left(session: Session, document_id: int | None = None, mine: str | None = None) -> int:
    """Lines not reviewed yet: everywhere, in one document, or in the work assigned to ``mine``."""
    return session.scalar(select(func.count()).select_from(_scope(document_id, mine).subquery())) or 0


def review_queue(
    session: Session,
    document_id: int | None = None,
    limit: int = 20,
    after: list[int] | None = None,
    mine: str | None = None,
    spread: bool = False,
    teach: bool = False,
) -> list[QueueItem]:
    """Unreviewed lines, the least sure first (lowest word confidence; a line
    without words by its own confidence), across documents, in one, or in the
    documents and pages assigned to ``mine``. ``spread``: the least sure line of
    every page first, then the second of every page, and so on (corrections that
    cover the whole of a hand rather than its worst page). ``teach``: the lines
    whose correction teaches the model most first, spread over the pages the same
    way: the most characters expected wrong (each word's length times one minus
    its confidence, summed), so that a long line read badly comes before a stamp
    or a lone unsure word."""
    lowest = func.coalesce(func.min(Word.confidence), Line.confidence).label("lowest")
    order = [lowest, Line.id]
    if teach:
        wrong = func.coalesce(
            func.sum((1.0 - Word.confidence) * func.length(Word.text)), (1.0 - Line.confidence) * func.length(Line.text)
        )
        order = [wrong.desc(), Line.id]
    if spread or teach:
        order.insert(0, func.row_number().over(partition_by=Line.page_id, order_by=tuple(order)))
    q = (
        select(Line, Page.index, Document.id, Document.source, lowest)
        .join(Page, Page.id == Line.page_id)
        .join(Document, Document.id == Page.document_id)
        .outerjoin(Word, Word.line_id == Line.id)
        .where(Line.reviewed_at.is_(None))
        .group_by(Line.id, Page.index, Document.id, Document.source)
        .order_by(*order)
        .limit(limit)
        .options(selectinload(Line.words))
    )
    if document_id is not None:
        q = q.where(Document.id == document_id)
    if after:
        q = q.where(Line.id.not_in(after))
    if mine is not None:
        q = q.where(assigned_to(mine))
    items = []
    for line, page_index, doc_id, source, low in session.execute(q).all():
        items.append(
            QueueItem(
                line.id,
                doc_id,
                source,
                page_index + 1,
                line.index + 1,
                line.text,
                round(float(low), 4),
                [{"text": w.best_text, "confidence": round(float(w.confidence), 4)} for w in line.words],
                line.version,
            )
        )
    return items


def history(session: Session, line_id: int) -> list[dict]:
    """The line's edits, oldest first: each with its id (what :func:`revert_line` names) and
    whether it was undone; ``old_text`` of the first is the model's reading."""
    rows = session.scalars(select(LineEdit).where(LineEdit.line_id == line_id).order_by(LineEdit.id))
    return [
        {
            "id": r.id,
            "undone": r.undone_at is not None,
            "user": r.user_name,
            "at": r.at.isoformat() if r.at else None,
            "action": r.action,
            "old_text": r.old_text,
            "new_text": r.new_text,
            "model_version_id": r.model_version_id,
        }
        for r in rows
    ]


def _when(at: datetime | None) -> str:
    aware = as_utc(at)
    return aware.isoformat() if aware else ""


def activity(session: Session, document_id: int, limit: int = 100) -> list[dict]:
    """What people did to a document, newest first: saves, undos and reverts of lines (with the
    page and line they touched) and the page events of merges, splits, deletions and drawn lines."""
    edits = session.execute(
        select(LineEdit, Page.index, Line.index)
        .join(Line, Line.id == LineEdit.line_id)
        .join(Page, Page.id == Line.page_id)
        .where(Page.document_id == document_id, LineEdit.action.not_in(("merge", "split", "add")))
        .order_by(LineEdit.id.desc())
        .limit(limit)
    ).all()
    out = [
        {
            "at": _when(e.at),
            "user": e.user_name,
            "action": e.action,
            "page": page + 1,
            "line": line + 1,
            "line_id": e.line_id,
            "text": e.new_text,
            "was": e.old_text,
            "undone": e.undone_at is not None,
        }
        for e, page, line in edits
    ]
    events = session.scalars(
        select(PageEvent).where(PageEvent.document_id == document_id).order_by(PageEvent.id.desc()).limit(limit)
    )
    for ev in events:
        detail = ev.detail or {}
        out.append(
            {
                "at": _when(ev.at),
                "user": ev.user_name,
                "action": ev.action,
                "page": ev.page_index + 1,
                "line": detail.get("index", 0) + 1,
                "line_id": detail.get("line"),
                "text": detail.get("result", ""),
                "was": detail.get("text", ""),
                "undone": False,
            }
        )
    out.sort(key=lambda r: str(r["at"]), reverse=True)
    return out[:limit]
