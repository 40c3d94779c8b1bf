"""The nightly model refresh: fine-tune the live model on people's corrections
and promote the candidate through the gate, when enough new lines were reviewed.

"New" means reviewed after the live model (or the newest registered
candidate) was made; the fine-tune itself reads every reviewed line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from ..db import Line, ModelVersion
from ..settings import Settings
from .candidates import TrainingSource, finetune_candidate
from .promotion import promote
from .versions import CACHE, fetch, live, register

log = logging.getLogger(__name__)


def _since(session):
    newest = session.scalar(
        select(func.max(ModelVersion.created_at)).where(ModelVersion.status.in_(("live", "candidate", "retired")))
    )
    return newest


def new_reviewed_lines(session) -> int:
    since = _since(session)
    q = select(func.count()).select_from(Line).where(Line.reviewed_at.is_not(None))
    if since is not None:
        q = q.where(Line.reviewed_at >= since)
    return session.scalar(q) or 0


def refresh_model(
    settings: Settings, sessions: sessionmaker, store, default_live: tuple[str, Path], opts=None, user: str = "nightly"
) -> dict:
    """Fine-tune, register and promote (through the gate); a summary dict."""
    import tempfile

    from training.finetune import FinetuneOptions

    with sessions() as s:
        fresh = new_reviewed_lines(s)
        if fresh < settings.finetune_min_lines:
            return {"action": "skipped", "new_lines": fresh, "min_lines": settings.finetune_min_lines}
        cur = live(s)
        base = fetch(store, cur, CACHE) if cur is not None else default_live[1]
    opts = opts or FinetuneOptions(time_limit=float(settings.finetune_seconds), standing_limit=settings.standing_limit)
    with tempfile.TemporaryDirectory(prefix="htr-refresh-") as tmp:
        report = finetune_candidate(
            sessions, store, base, Path(tmp) / "candidate", TrainingSource(corrections=True), opts, settings.data_dir
        )
        with sessions() as s:
            mv = register(s, store, Path(tmp) / "candidate")
            result = promote(
                s,
                store,
                mv.version,
                user,
                CACHE,
                default_live,
                data_root=settings.data_dir,
                standing_limit=settings.standing_limit,
            )
    summary = {
        "action": "promoted" if result.passed else "refused",
        "new_lines": fresh,
        "candidate": report.candidate,
        "heldout": result.heldout,
        "standing": result.standing,
        "reasons": result.reasons,
    }
    log.info("model refresh: %s", summary)
    return summary
