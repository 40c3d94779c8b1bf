"""Persistence: the schema (``models``), engines, sessions and migrations (``engine``),
and reading transcripts back (``queries``)."""

from .engine import database_url, make_engine, session_factory, upgrade
from .models import (
    Base,
    Document,
    Line,
    ModelVersion,
    Page,
    RunState,
    Stage,
    Status,
    TaskRun,
    Word,
    WorkerDeath,
    as_utc,
    utcnow,
)

__all__ = [
    "Base",
    "Document",
    "Line",
    "ModelVersion",
    "Page",
    "RunState",
    "Stage",
    "Status",
    "TaskRun",
    "Word",
    "WorkerDeath",
    "as_utc",
    "database_url",
    "make_engine",
    "session_factory",
    "upgrade",
    "utcnow",
]
