"""The one error classifier: what an exception while processing a document means.

bad input (the reader's BadInput)        → fail the document, with the reader's words
an original missing from the store       → fail the document
transient (store, database, network)     → retry (the queue, with backoff); in-process: fail
anything else (a bug, an unforeseen file) → fail with "internal error: Type: message"
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import DBAPIError

from ..io.documents import BadInput
from ..io.store import StoreError

TRANSIENT: tuple[type[BaseException], ...] = (StoreError, DBAPIError, ConnectionError, TimeoutError)


class Action(StrEnum):
    FAIL = "fail"
    RETRY = "retry"


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str  # what the document's error says
    unexpected: bool = False  # a bug: log the traceback


def classify(exc: BaseException, where: str = "", transient: tuple[type[BaseException], ...] = TRANSIENT) -> Verdict:
    """``where`` names the step for unexpected errors (`` (segment, page 2)``);
    ``transient`` adds error types that mean "try again" (the broker's)."""
    if isinstance(exc, BadInput):
        return Verdict(Action.FAIL, str(exc))
    if isinstance(exc, FileNotFoundError):
        return Verdict(Action.FAIL, f"missing from the store: {exc}")
    if isinstance(exc, transient):
        return Verdict(Action.RETRY, f"{type(exc).__name__}: {exc}")
    return Verdict(Action.FAIL, f"internal error{where}: {type(exc).__name__}: {exc}", unexpected=True)
