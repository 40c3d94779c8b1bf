"""Database schema (SQLAlchemy 2 typed declarative).

The schema is created and changed only by the Alembic migrations in
``migrations/`` (``htr db upgrade``), never by ``create_all``.

documents 1─* pages 1─* lines 1─* words; pages 1─* fields (a register's cells);
documents *─1 model_versions;
task_runs and worker_deaths are the queue's delivery bookkeeping.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from recognition.text import normalize_term  # the one definition of search forms (plain text, no model code)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite hands back naive datetimes)."""
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


class Base(DeclarativeBase):
    pass


class Status(StrEnum):
    """A document's state: queued → processing → done or failed."""

    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class Stage(StrEnum):
    """A queued unit of work on a document (``task_runs.stage``)."""

    START = "start"  # the whole document: count pages, fan out
    SEGMENT = "segment"  # one page: render and segment
    RECOGNIZE = "recognize"  # one page: recognize and persist


class RunState(StrEnum):
    """``task_runs.state``."""

    RUNNING = "running"  # started, not ended; its worker beats (``heartbeat_at``)
    LOST = "lost"  # its worker stopped beating: queued again by another worker
    RETRY = "retry"  # ended by a transient error; a retry is queued
    ENDED = "ended"  # done: a redelivery does nothing


class BoxColumns:
    """A box in page pixels: x0, y0 inclusive; x1, y1 exclusive."""

    x0: Mapped[int] = mapped_column(Integer)
    y0: Mapped[int] = mapped_column(Integer)
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)


def word_span(x0: int, x1: int, lo: int, hi: int, height: int) -> tuple[int, int]:
    """A word's x-span at least ``max(3, height // 4)`` pixels wide (a quarter of its line's
    height: never a 1-pixel sliver), grown evenly about its middle and kept within the line's
    ``lo``..``hi``."""
    width = min(max(3, height // 4), max(hi - lo, 1))
    if x1 - x0 >= width:
        return x0, x1
    a = x0 - (width - (x1 - x0)) // 2
    a = max(lo, min(a, hi - width))
    return a, a + width


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    metrics: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # seen (a bundle that read documents) | candidate (registered in the store) | live | retired
    status: Mapped[str] = mapped_column(String(20), default="seen")
    store_prefix: Mapped[str | None] = mapped_column(Text)  # models/NAME/VERSION/ in the object store
    parent: Mapped[str | None] = mapped_column(String(300))  # "name version" of the base it was fine-tuned from
    data_manifest: Mapped[dict | None] = mapped_column(JSON)  # what it was fine-tuned on


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text, index=True)  # where it came from (path or URL)
    store_key: Mapped[str | None] = mapped_column(Text)  # the original in the object store
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the bytes
    status: Mapped[str] = mapped_column(String(20), default=Status.QUEUED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    timings: Mapped[dict | None] = mapped_column(JSON)  # seconds per stage
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    model_version: Mapped[ModelVersion | None] = relationship()
    pages: Mapped[list[Page]] = relationship(back_populates="document", order_by="Page.index", cascade="all, delete-orphan")


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "index", name="uq_pages_document_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)  # 0-based
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    dpi: Mapped[int | None] = mapped_column(Integer)
    skew_degrees: Mapped[float | None] = mapped_column(Float)
    image_key: Mapped[str | None] = mapped_column(Text)  # page image in the store
    # a register's table as found (deskewed pixels, the keys as read on the page)
    table_layout: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))

    document: Mapped[Document] = relationship(back_populates="pages")
    lines: Mapped[list[Line]] = relationship(back_populates="page", order_by="Line.index", cascade="all, delete-orphan")
    fields: Mapped[list[Field]] = relationship(
        back_populates="page", order_by=lambda: (Field.row_index, Field.column_index, Field.id), cascade="all, delete-orphan"
    )


class Line(BoxColumns, Base):
    __tablename__ = "lines"
    __table_args__ = (UniqueConstraint("page_id", "index", name="uq_lines_page_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)  # reading order on the page
    text: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # raised by every review (optimistic locking)

    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)  # a person read it
    reviewed_by: Mapped[str | None] = mapped_column(String(100))

    page: Mapped[Page] = relationship(back_populates="lines")
    words: Mapped[list[Word]] = relationship(back_populates="line", order_by="Word.index", cascade="all, delete-orphan")
    candidates: Mapped[list[WordCandidate]] = relationship(
        back_populates="line", order_by="WordCandidate.id", cascade="all, delete-orphan"
    )


class Word(BoxColumns, Base):
    __tablename__ = "words"
    __table_args__ = (UniqueConstraint("line_id", "index", name="uq_words_line_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float, index=True)
    corrected_text: Mapped[str | None] = mapped_column(Text)
    corrected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    line: Mapped[Line] = relationship(back_populates="words")

    @property
    def best_text(self) -> str:
        """The corrected text where a person corrected the word, else what was recognized."""
        return self.corrected_text if self.corrected_text is not None else self.text


class WordCandidate(BoxColumns, Base):
    """A probable spelling of a word of a line (the keyword index): ``norm`` is
    what search matches (lower case, letters and digits), ``probability`` its
    relevance; a reviewed line's words are its only candidates, at 1."""

    __tablename__ = "word_candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    word_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    norm: Mapped[str] = mapped_column(String(200), index=True)
    probability: Mapped[float] = mapped_column(Float)

    line: Mapped[Line] = relationship(back_populates="candidates")

    @classmethod
    def of_word(cls, word_index: int, spellings, box: tuple[int, int, int, int]) -> list[WordCandidate]:
        """The index entries of one word: each (text, probability) spelling under its search
        form, and the parts of a joined spelling (``MARIE-ASTRIDE``, ``Pay.-Rolls``) under
        theirs; one entry per search form, at its best probability. ``box``: x0, y0, x1, y1."""
        best: dict[str, tuple[str, float]] = {}
        for text, probability in spellings:
            pieces = [text] + [p for p in re.split(r"[^\w]+", text) if p]
            for piece in pieces if len(pieces) > 2 else pieces[:1]:
                norm = normalize_term(piece)[:200]
                if norm and (norm not in best or probability > best[norm][1]):
                    best[norm] = (piece, float(probability))
        x0, y0, x1, y1 = box
        return [
            cls(word_index=word_index, text=t, norm=n, probability=p, x0=x0, y0=y0, x1=x1, y1=y1) for n, (t, p) in best.items()
        ]


class TaskRun(Base):
    """One queued unit of work on a document (start, or one page's segment or
    recognize step), keyed so a redelivered message finds its earlier run.

    ``state``: running (started, not ended), retry (ended by a transient error,
    a retry is queued), lost (its worker stopped beating and another worker
    queued it again), ended (done: a redelivery does nothing). A run whose
    worker has not beaten for ``4 × HTR_HEARTBEAT_SECONDS`` belonged to a
    worker that died; the next delivery counts it in ``deaths``.
    """

    __tablename__ = "task_runs"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)
    page: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1 for the whole document
    state: Mapped[str] = mapped_column(String(20))
    deaths: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid of the last run
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the running worker's last sign of life
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)


class WorkerDeath(Base):
    """A worker (host:pid) that died while working on a document: one row per
    worker, however many of the document's pages it had in hand."""

    __tablename__ = "worker_deaths"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A person who may log in (``htr user add``); the password as an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))  # reviewer | admin
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebSession(Base):
    """A browser's login: the cookie's secret as its sha256, and the session's CSRF token."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A script's bearer token (``htr token add``), stored as its sha256; one without ``expires_at`` does not expire."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LineEdit(Base):
    """One review of a line: who, when, the text before and after, and the model version that read it."""

    __tablename__ = "line_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    user_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(20))  # edit | accept | revert | undo | merge | split
    old_text: Mapped[str] = mapped_column(Text)
    new_text: Mapped[str] = mapped_column(Text)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    before: Mapped[dict | None] = mapped_column(JSON)  # the line before this edit (corrections.snapshot); None: not undoable
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PageEvent(Base):
    """A change to a page's lines themselves (``merge``, ``split``, ``delete``): who, when, and
    what the lines held (``detail``); the document's activity list reads these beside the line edits."""

    __tablename__ = "page_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    page_index: Mapped[int] = mapped_column(Integer)
    user_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict | None] = mapped_column(JSON)


class Promotion(Base):
    """A model version made live (promote, rollback), by whom, whether forced past the gate, and the gate's figures."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    action: Mapped[str] = mapped_column(String(20))  # promote | rollback
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_name: Mapped[str] = mapped_column(String(100))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    gate: Mapped[dict | None] = mapped_column(JSON)


class Field(BoxColumns, Base):
    """A value read into a named field: a register's cell, keyed by its column's printed header
    (``field``: one key per column for the whole document, ``label``: the header as read on
    this page), with the register row it belongs to. ``template`` names the form template a
    field comes from; a register's table read from the page itself has none. ``normalized``
    is the value's search form; ``reviewed_by`` the person who checked it."""

    __tablename__ = "fields"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), index=True)
    template: Mapped[str | None] = mapped_column(String(200))
    row_index: Mapped[int | None] = mapped_column(Integer)  # the register row on its page (0-based, top down)
    column_index: Mapped[int | None] = mapped_column(Integer)  # the table column on its page (0-based, left to right)
    field: Mapped[str] = mapped_column(String(500), index=True)
    label: Mapped[str] = mapped_column(Text, default="")
    value: Mapped[str] = mapped_column(Text, default="")
    normalized: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(20), default="text", server_default="text")  # a form field's type
    parsed: Mapped[str] = mapped_column(Text, default="", server_default="")  # the value in normal form (ISO date, digits...)
    valid: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # the reading fits its type
    accepted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # sure enough to need no review
    read_value: Mapped[str | None] = mapped_column(Text)  # the value as first read (a review changes ``value``)
    read_confidence: Mapped[float | None] = mapped_column(Float)

    page: Mapped[Page] = relationship(back_populates="fields")


class Template(Base):
    """A registered form: its blank image (a store key), its fields (name, type, box in the
    image's pixels, what the type needs) and the acceptance threshold calibrated on its reviewed
    fields (``recognition.acceptance.Acceptance.to_dict``; None: every field goes to review)."""

    __tablename__ = "form_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    image_key: Mapped[str] = mapped_column(String(1000))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list] = mapped_column(JSON)
    acceptance: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Assignment(Base):
    """A document (``page_index`` None) or one of its pages given to a reviewer: their "my work"."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("document_id", "page_index", name="uq_assignments_document_page"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    page_index: Mapped[int | None] = mapped_column(Integer)  # 0-based; None: the whole document
    user_name: Mapped[str] = mapped_column(String(100), index=True)
    assigned_by: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PagePresence(Base):
    """Who has a page open in the page editor (its heartbeat), so two people see each other there."""

    __tablename__ = "page_presence"

    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
