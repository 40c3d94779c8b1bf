"""Shared review work: documents or pages assigned to reviewers ("my work"), who has a page
open (presence, so two people on one page see each other; a save of a line someone changed
meanwhile is refused anyway: :class:`~.corrections.StaleLine`), and progress per document
and per reviewer. The caller commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from .models import Assignment, Document, Line, LineEdit, Page, PagePresence, User, as_utc, utcnow


class WorkError(ValueError):
    """An assignment or presence that cannot be made (no such document, page, user)."""


PRESENCE_SECONDS = 60  # an editor beats every 20 s: someone silent for a minute has left the page


def assign(session: Session, document_id: int, user: str, by: str, page: int | None = None) -> Assignment:
    """Give a document (``page`` None) or one of its pages (1-based) to ``user``; what was
    assigned there before goes to them instead."""
    doc = session.get(Document, document_id)
    if doc is None:
        raise WorkError(f"no document {document_id}")
    if session.scalar(select(User.id).where(User.name == user)) is None:
        raise WorkError(f"no user {user!r}")
    index = None
    if page is not None:
        if not 1 <= page <= (doc.page_count or 0):
            raise WorkError(f"document {document_id} has no page {page}")
        index = page - 1
    where = Assignment.page_index.is_(None) if index is None else Assignment.page_index == index
    row = session.scalar(select(Assignment).where(Assignment.document_id == document_id, where))
    if row is None:
        row = Assignment(document_id=document_id, page_index=index)
        session.add(row)
    row.user_name, row.assigned_by, row.assigned_at = user, by, utcnow()
    session.flush()
    return row


def unassign(session: Session, assignment_id: int) -> None:
    if session.execute(delete(Assignment).where(Assignment.id == assignment_id)).rowcount != 1:  # type: ignore[attr-defined]
        raise WorkError(f"no assignment {assignment_id}")


def assigned_to(user: str) -> ColumnElement[bool]:
    """A condition on Document and Page rows: the page is the user's (assigned alone or with its document)."""
    mine = Assignment.user_name == user
    return or_(
        exists().where(mine, Assignment.document_id == Document.id, Assignment.page_index.is_(None)),
        exists().where(mine, Assignment.document_id == Document.id, Assignment.page_index == Page.index),
    )


def assignments(session: Session, user: str | None = None) -> list[dict]:
    """Assignments (all, or one user's) with the lines they hold and how many are reviewed,
    and the first page with a line left to review (one query)."""
    in_scope = and_(
        Page.document_id == Assignment.document_id, or_(Assignment.page_index.is_(None), Page.index == Assignment.page_index)
    )
    q = (
        select(
            Assignment,
            Document.source,
            func.count(Line.id),
            func.count(Line.reviewed_at),
            func.min(Page.index).filter(Line.id.is_not(None), Line.reviewed_at.is_(None)),
        )
        .join(Document, Document.id == Assignment.document_id)
        .outerjoin(Page, in_scope)
        .outerjoin(Line, Line.page_id == Page.id)
        .group_by(Assignment.id, Document.source)
        .order_by(Assignment.id)
    )
    if user is not None:
        q = q.where(Assignment.user_name == user)
    return [
        {
            "id": a.id,
            "document_id": a.document_id,
            "source": source,
            "page": None if a.page_index is None else a.page_index + 1,
            "user": a.user_name,
            "assigned_by": a.assigned_by,
            "lines": total,
            "reviewed": reviewed,
            "next_page": None if first_open is None else first_open + 1,
        }
        for a, source, total, reviewed, first_open in session.execute(q).all()
    ]


def reviewer_progress(session: Session) -> list[dict]:
    """Per reviewer: lines they reviewed that stand (reviewed_by), saves made, their last save."""
    lines = dict(
        session.execute(
            select(Line.reviewed_by, func.count()).where(Line.reviewed_at.is_not(None)).group_by(Line.reviewed_by)
        ).all()
    )
    saves = session.execute(
        select(LineEdit.user_name, func.count(), func.max(LineEdit.at))
        .where(LineEdit.action != "undo")
        .group_by(LineEdit.user_name)
    ).all()
    rows = {u: {"user": u, "lines": n, "saves": 0, "last": None} for u, n in lines.items() if u}
    for user, n, last in saves:
        row = rows.setdefault(user, {"user": user, "lines": 0, "saves": 0, "last": None})
        row["saves"], row["last"] = n, as_utc(last).isoformat() if last else None  # type: ignore[union-attr]
    return sorted(rows.values(), key=lambda r: r["user"])


def here(session: Session, page_id: int, user: str) -> list[dict]:
    """Note that ``user`` has the page open now; the others who have it open (seen in the last
    :data:`PRESENCE_SECONDS`), with since when. Two beats of one person at once (a page left and
    opened again) may both insert: one raises IntegrityError, and the caller tries again."""
    if session.get(Page, page_id) is None:
        raise WorkError(f"no page {page_id}")
    now = utcnow()
    _mark(session, page_id, user, now)
    others = session.scalars(
        select(PagePresence)
        .where(
            PagePresence.page_id == page_id,
            PagePresence.user_name != user,
            PagePresence.seen_at >= now - timedelta(seconds=PRESENCE_SECONDS),
        )
        .order_by(PagePresence.since)
    )
    return [{"user": p.user_name, "since": as_utc(p.since).isoformat()} for p in others]  # type: ignore[union-attr]


def _mark(session: Session, page_id: int, user: str, now: datetime) -> None:
    """One statement where the row is there (no read before the write: nothing to go stale)."""
    cutoff = now - timedelta(seconds=PRESENCE_SECONDS)
    seen = (
        update(PagePresence)
        .where(PagePresence.page_id == page_id, PagePresence.user_name == user)
        .values(seen_at=now, since=case((PagePresence.seen_at < cutoff, now), else_=PagePresence.since))
        .execution_options(synchronize_session=False)
    )
    if session.execute(seen).rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(PagePresence).values(page_id=page_id, user_name=user, since=now, seen_at=now))


def leave(session: Session, page_id: int, user: str) -> None:
    session.execute(delete(PagePresence).where(PagePresence.page_id == page_id, PagePresence.user_name == user))
