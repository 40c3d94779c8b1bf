"""Fixes to what segmentation got wrong, made by a person on a page: merge a line with the
next, split a line in two at a word boundary, delete a false line (a border or a ruled line
read as text), add a line it missed (a drawn box). Each names the versions of the lines it changes (a line saved since is not
touched: :class:`~.corrections.StaleLine`), keeps the words with their boxes and confidences,
and is recorded as a :class:`PageEvent` (and as a ``merge`` / ``split`` edit in the history
of a line that stays). A line that comes out of a fix counts as reviewed only where every
line it came from was; the corrections export reads the lines as they are after the fix.
The caller commits.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .corrections import ReviewError, certain_candidates, claim_line, clean_text, line_model_version, realign
from .models import Line, LineEdit, Page, PageEvent, Word, WordCandidate, utcnow


def _shift(session: Session, page_id: int, after: int, by: int) -> None:
    """Move the lines below reading position ``after`` by ``by`` places, in two statements so the
    (page, index) unique constraint holds row by row: out to negative indices, then back."""
    session.flush()
    rows = (Line.page_id == page_id, Line.index > after)
    session.execute(update(Line).where(*rows).values(index=-Line.index - 1).execution_options(synchronize_session=False))
    session.execute(
        update(Line)
        .where(Line.page_id == page_id, Line.index < 0)
        .values(index=-Line.index - 1 + by)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def _event(session: Session, line: Line, user: str, action: str, detail: dict) -> None:
    """A page event on the line's page. ``detail``: ``line`` (its id), ``index`` (its place in
    reading order), ``text`` (what it held before), ``result`` (the text after), boxes."""
    page = session.get(Page, line.page_id)
    assert page is not None
    session.add(PageEvent(document_id=page.document_id, page_index=page.index, user_name=user, action=action, detail=detail))


def _edit(session: Session, line: Line, user: str, action: str, old_text: str) -> None:
    session.add(
        LineEdit(
            line_id=line.id,
            user_name=user,
            at=utcnow(),
            action=action,
            old_text=old_text,
            new_text=line.text,
            model_version_id=line_model_version(session, line),
        )
    )


def _copy_word(w: Word, index: int) -> Word:
    return Word(
        index=index, text=w.text, corrected_text=w.corrected_text, confidence=w.confidence, x0=w.x0, y0=w.y0, x1=w.x1, y1=w.y1
    )


def _copy_candidate(c: WordCandidate, shift: int) -> WordCandidate:
    """A keyword index entry of a word that moved by ``shift`` places."""
    return WordCandidate(
        word_index=c.word_index + shift, text=c.text, norm=c.norm, probability=c.probability, x0=c.x0, y0=c.y0, x1=c.x1, y1=c.y1
    )


def _move_tail(line: Line, new: Line, tail: list[Word]) -> None:
    """The words ``tail`` (the end of ``line``) and their index entries go to ``new``."""
    first = min((w.index for w in tail), default=0)
    new.words.extend(_copy_word(w, i) for i, w in enumerate(sorted(tail, key=lambda w: w.index)))
    new.candidates.extend(_copy_candidate(c, -first) for c in line.candidates if c.word_index >= first)
    ids = {w.id for w in tail}
    for w in [w for w in line.words if w.id in ids]:
        line.words.remove(w)
    for c in [c for c in line.candidates if c.word_index >= first]:
        line.candidates.remove(c)


def _box(line: Line) -> list[int]:
    return [line.x0, line.y0, line.x1, line.y1]


def merge_next(session: Session, line_id: int, user: str, version: int | None, next_version: int | None) -> tuple[int, bool]:
    """Join the line and the one after it in reading order into one line: the box that holds
    both, the words of the first then the second, their texts joined by a space; the history
    of both lines. Returns the line's id, and whether neither line had been read by a person
    (then the merged line may be read again as a whole)."""
    line = claim_line(session, line_id, version)
    nxt_id = session.scalar(select(Line.id).where(Line.page_id == line.page_id, Line.index == line.index + 1))
    if nxt_id is None:
        raise ReviewError(f"line {line_id} is the last of its page: there is no next line to merge it with")
    nxt = claim_line(session, nxt_id, next_version)
    detail = {
        "line": line.id,
        "index": line.index,
        "removed": nxt.id,
        "text": f"{line.text} | {nxt.text}",
        "boxes": [_box(line), _box(nxt)],
    }
    old_text = line.text
    offset = len(line.words)
    moved = [_copy_word(w, offset + i) for i, w in enumerate(nxt.words)]
    cands = [_copy_candidate(c, offset) for c in nxt.candidates]
    both_reviewed = line.reviewed_at is not None and nxt.reviewed_at is not None
    unread = line.reviewed_at is None and nxt.reviewed_at is None
    line.x0, line.y0 = min(line.x0, nxt.x0), min(line.y0, nxt.y0)
    line.x1, line.y1 = max(line.x1, nxt.x1), max(line.y1, nxt.y1)
    line.text = " ".join(t for t in (line.text, nxt.text) if t)
    line.confidence = min(line.confidence, nxt.confidence)
    if not both_reviewed:
        line.reviewed_at, line.reviewed_by = None, None
    removed_index = nxt.index
    # The next line's history stays with the line it went into.
    session.execute(
        update(LineEdit).where(LineEdit.line_id == nxt.id).values(line_id=line.id).execution_options(synchronize_session=False)
    )
    session.delete(nxt)
    session.flush()
    line.words.extend(moved)
    line.candidates.extend(cands)
    _edit(session, line, user, "merge", old_text)
    _event(session, line, user, "merge", {**detail, "result": line.text})
    _shift(session, line.page_id, removed_index, -1)
    return line.id, unread


def _split_point(line: Line, at: int) -> int:
    """The word boundary nearest character ``at`` of the line's text, as the number of words before it."""
    text = line.text
    bounds = [0] + [i for i, ch in enumerate(text) if ch == " "] + [len(text)]
    cut = min(bounds, key=lambda b: abs(b - at))
    k = len(text[:cut].split())
    if not 0 < k < len(text.split()):
        raise ReviewError("a split needs text on both sides: put the caret between two words")
    return k


def _split_boxes(line: Line, left: list[Word], right: list[Word], share: float) -> tuple[tuple, tuple]:
    """The boxes of the two parts: side by side, cut between the words, where the two parts'
    words share a row; one above the other where they do not (a box that held two written
    lines); by the share of characters where there are no word boxes."""
    x0, y0, x1, y1 = line.x0, line.y0, line.x1, line.y1
    if not (left and right):
        x = x0 + int((x1 - x0) * share)
        return (x0, y0, x, y1), (x, y0, x1, y1)
    ly0, ly1 = min(w.y0 for w in left), max(w.y1 for w in left)
    ry0, ry1 = min(w.y0 for w in right), max(w.y1 for w in right)
    if min(ly1, ry1) - max(ly0, ry0) > 0.5 * min(ly1 - ly0, ry1 - ry0):
        a, b = max(w.x1 for w in left), min(w.x0 for w in right)
        x = (a + b) // 2 if a <= b else (left[-1].x1 + right[0].x0) // 2
        return (x0, y0, x, y1), (x, y0, x1, y1)
    y = (ly1 + ry0) // 2 if ly0 <= ry0 else (ry1 + ly0) // 2
    top, bottom = (x0, y0, x1, y), (x0, y, x1, y1)
    return (top, bottom) if ly0 <= ry0 else (bottom, top)


def split_line(session: Session, line_id: int, user: str, at: int, version: int | None) -> tuple[Line, Line]:
    """Cut the line in two at the word boundary nearest character ``at`` of its text: the words
    before it stay, the rest make a new line right after it in reading order, each with its part
    of the box (:func:`_split_boxes`)."""
    line = claim_line(session, line_id, version)
    k = _split_point(line, at)
    old_text = line.text
    tokens = line.text.split()
    words = sorted(line.words, key=lambda w: w.index)
    share = len(" ".join(tokens[:k])) / max(1, len(old_text))
    if len(words) == len(tokens):
        left_words, right_words = words[:k], words[k:]
    else:  # words and text disagree: by position along the line
        x = line.x0 + (line.x1 - line.x0) * share
        left_words = [w for w in words if (w.x0 + w.x1) / 2 < x]
        right_words = [w for w in words if (w.x0 + w.x1) / 2 >= x]
    left_box, right_box = _split_boxes(line, left_words, right_words, share)
    detail = {"line": line.id, "index": line.index, "text": old_text, "box": _box(line), "at": at}
    _shift(session, line.page_id, line.index, +1)
    line = _reload(session, line_id)
    new = Line(
        page_id=line.page_id,
        index=line.index + 1,
        x0=right_box[0],
        y0=right_box[1],
        x1=right_box[2],
        y1=right_box[3],
        text=" ".join(tokens[k:]),
        confidence=min((w.confidence for w in right_words), default=line.confidence),
        reviewed_at=line.reviewed_at,
        reviewed_by=line.reviewed_by,
    )
    _move_tail(line, new, right_words)
    line.x0, line.y0, line.x1, line.y1 = left_box
    line.text = " ".join(tokens[:k])
    line.confidence = min((w.confidence for w in left_words), default=line.confidence)
    session.add(new)
    session.flush()
    _edit(session, line, user, "split", old_text)
    _edit(session, new, user, "split", old_text)
    detail.update(new=new.id, result=f"{line.text} | {new.text}")
    _event(session, line, user, "split", detail)
    session.flush()
    return _reload(session, line.id), _reload(session, new.id)


def delete_line(session: Session, line_id: int, user: str, version: int | None) -> None:
    """Remove a false line (its words and history go with it); the page event keeps its text and box."""
    line = claim_line(session, line_id, version)
    _event(session, line, user, "delete", {"line": line.id, "index": line.index, "text": line.text, "box": _box(line)})
    page_id, index = line.page_id, line.index
    session.delete(line)
    _shift(session, page_id, index, -1)


def _reload(session: Session, line_id: int) -> Line:
    line = session.get(Line, line_id, populate_existing=True)
    if line is None:
        raise ReviewError(f"no line {line_id}")
    return line


def add_line(session: Session, page_id: int, user: str, box: tuple[int, int, int, int], text: str = "") -> Line:
    """A line segmentation missed, drawn by a person: placed in reading order by its height on
    the page (its middle below the middle of the lines before it). With ``text`` it is a
    person's reading (reviewed, words spread over the box); without, it waits to be read."""
    page = session.get(Page, page_id)
    if page is None:
        raise ReviewError(f"no page {page_id}")
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, x1 = max(0, min(x0, x1)), min(page.width, max(x0, x1))
    y0, y1 = max(0, min(y0, y1)), min(page.height, max(y0, y1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ReviewError("a line's box must be at least 8 pixels wide and high, on the page")
    middle = (y0 + y1) / 2
    before = session.scalar(select(func.count()).where(Line.page_id == page_id, (Line.y0 + Line.y1) / 2.0 < middle)) or 0
    _shift(session, page_id, before - 1, +1)
    text = clean_text(text)
    line = Line(page_id=page_id, index=before, x0=x0, y0=y0, x1=x1, y1=y1, text="", confidence=0.0)
    session.add(line)
    session.flush()
    if text:
        words = realign(line, text)
        line.words.extend(words)
        line.candidates.extend(certain_candidates(words))
        line.text, line.confidence = text, 1.0
        line.reviewed_at, line.reviewed_by = utcnow(), user
    _edit(session, line, user, "add", "")
    _event(
        session, line, user, "add", {"line": line.id, "index": line.index, "text": "", "result": text, "box": [x0, y0, x1, y1]}
    )
    session.flush()
    return line
