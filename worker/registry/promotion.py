"""Promotion and rollback: a candidate goes live only through :func:`promote` and its gate;
``force`` overrides, and the override and the figures are recorded in ``promotions``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import ModelVersion, Promotion, utcnow
from .gate import GateResult, gate
from .versions import RegistryError, fetch, find, label, live


def promote(
    session: Session,
    store,
    version: str,
    user: str,
    cache: Path,
    default_live: tuple[str, Path],
    force: bool = False,
    data_root=None,
    standing_limit: int | None = None,
) -> GateResult:
    """Make ``version`` live if it passes the gate (or ``force``; the gate measures ``standing_limit``
    crops of each standing set). ``default_live``: the label and folder of the model that reads
    when none was promoted."""
    cand = find(session, version)
    cur = live(session)
    if cur is not None and cur.id == cand.id:
        raise RegistryError(f"{label(cand)} is already live")
    live_label, live_dir = (label(cur), fetch(store, cur, cache)) if cur is not None else default_live
    result = gate(fetch(store, cand, cache), live_dir, cand, live_label, data_root, standing_limit)
    if not result.passed and not force:
        return result
    _make_live(session, cand, cur, user, "promote", force and not result.passed, result.to_json())
    return result


def rollback(session: Session, user: str) -> ModelVersion | None:
    """Make live again the version that was live before the current one (None: the default model)."""
    cur = live(session)
    if cur is None:
        raise RegistryError("no promoted model to roll back")
    earlier = session.scalars(
        select(Promotion).where(Promotion.model_version_id != cur.id).order_by(Promotion.at.desc(), Promotion.id.desc())
    ).first()
    target = session.get(ModelVersion, earlier.model_version_id) if earlier is not None else None
    if target is None:
        cur.status = "retired"
        session.add(Promotion(model_version_id=cur.id, action="rollback", at=utcnow(), user_name=user, forced=False, gate=None))
        session.commit()
        return None
    _make_live(session, target, cur, user, "rollback", False, None)
    return target


def _make_live(
    session: Session, new: ModelVersion, old: ModelVersion | None, user: str, action: str, forced: bool, gate_json
) -> None:
    if old is not None:
        old.status = "retired"
    new.status = "live"
    session.add(Promotion(model_version_id=new.id, action=action, at=utcnow(), user_name=user, forced=forced, gate=gate_json))
    session.commit()
