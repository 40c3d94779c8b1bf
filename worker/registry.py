"""The model registry: bundles kept in the store (``models/NAME/VERSION/``),
their rows in ``model_versions`` (metrics, lineage, status), the promotion
gate, and the model documents are read with.

A candidate goes live only through :func:`promote`, whose gate measures it
against the live model on the standing validation sets (greedy CER, the
first ``training.finetune.STANDING_LIMIT`` crops of each set this machine has) and reads its own
held-out new lines from its fine-tuning report: it is refused when it is
worse than the live model by more than ``GATE_TOLERANCE`` on any standing
set, or not better on its held-out lines. ``force`` overrides; the override
and the figures are recorded in ``promotions``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .db import ModelVersion, Promotion, utcnow

log = logging.getLogger(__name__)

CACHE = Path(tempfile.gettempdir()) / "htr-models"  # bundles fetched from the store
BUNDLE_FILES = ("model.json", "model.weights.h5", "lm.json.gz", "lexicon.txt", "MODEL_CARD.md")
GATE_TOLERANCE = 0.005  # CER: 0.5 points


class RegistryError(ValueError):
    """A version that cannot be registered, found or promoted."""


@dataclass
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    standing: dict = field(default_factory=dict)  # spec -> {"live": cer, "candidate": cer}
    heldout: dict = field(default_factory=dict)  # {"before": cer, "after": cer, "lines": n}

    def to_json(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, "standing": self.standing, "heldout": self.heldout}


def default_model(pinned: str | None) -> tuple[str, Path]:
    """The label ("name version") and folder of the model that reads when none
    was promoted: ``HTR_MODEL`` (``pinned``) or the bundled one."""
    from recognition.bundle import default_model_path

    path = Path(pinned) if pinned else default_model_path()
    meta = json.loads((path / "model.json").read_text())
    return f"{meta['name']} {meta['version']}", path


def _label(mv: ModelVersion) -> str:
    return f"{mv.name} {mv.version}"


def register(session: Session, store, bundle_dir: str | Path) -> ModelVersion:
    """Upload a bundle folder to the store and record it as a candidate."""
    bundle_dir = Path(bundle_dir)
    meta_file = bundle_dir / "model.json"
    if not meta_file.is_file():
        raise RegistryError(f"no model bundle at {bundle_dir} (model.json missing)")
    meta = json.loads(meta_file.read_text())
    name, version, metrics = meta["name"], meta["version"], meta.get("metrics", {})
    prefix = f"models/{name}/{version}/"
    for f in BUNDLE_FILES:
        if (bundle_dir / f).is_file():
            store.put_file(prefix + f, bundle_dir / f)
    mv = session.scalar(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version))
    if mv is None:
        mv = ModelVersion(name=name, version=version)
        session.add(mv)
    parent = metrics.get("parent")
    report = metrics.get("finetune") or {}
    mv.metrics = {k: v for k, v in metrics.items() if not k.startswith("reliability")}
    mv.store_prefix = prefix
    mv.parent = f"{parent['name']} {parent['version']}" if parent else None
    mv.data_manifest = {
        "data": report.get("data"),
        "train_lines": report.get("train_lines"),
        "heldout_lines": report.get("heldout_lines"),
    }
    if mv.status in (None, "seen"):
        mv.status = "candidate"
    session.commit()
    return mv


def find(session: Session, version: str) -> ModelVersion:
    """A registered version by its version string (``5+ft2026…``), ``name version``, or row id."""
    q = select(ModelVersion).where(ModelVersion.store_prefix.is_not(None))
    rows = list(session.scalars(q))
    for mv in rows:
        if version in (mv.version, _label(mv), str(mv.id)):
            return mv
    raise RegistryError(f"no registered model version {version!r} (htr models list)")


def live(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.status == "live"))


def listing(session: Session) -> list[dict]:
    out = []
    for mv in session.scalars(select(ModelVersion).order_by(ModelVersion.id)):
        report = (mv.metrics or {}).get("finetune") or {}
        out.append(
            {
                "id": mv.id,
                "name": mv.name,
                "version": mv.version,
                "status": mv.status,
                "parent": mv.parent,
                "in_store": mv.store_prefix is not None,
                "heldout_cer": [report.get("heldout_cer_before"), report.get("heldout_cer_after")] if report else None,
                "created_at": mv.created_at.isoformat() if mv.created_at else None,
            }
        )
    return out


def fetch(store, mv: ModelVersion, cache: Path) -> Path:
    """The version's bundle on local disk (downloaded once into ``cache``)."""
    if mv.store_prefix is None:
        raise RegistryError(f"{_label(mv)} is not in the store")
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / mv.name / mv.version
    if (dest / "model.json").is_file():
        return dest
    part = Path(tempfile.mkdtemp(prefix=".part-", dir=cache))
    for f in BUNDLE_FILES:
        try:
            data = store.get_bytes(mv.store_prefix + f)
        except FileNotFoundError:
            continue
        (part / f).write_bytes(data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not (dest / "model.json").is_file():
        shutil.rmtree(dest, ignore_errors=True)
        part.rename(dest)
    else:
        shutil.rmtree(part, ignore_errors=True)
    return dest


def gate(candidate_dir: Path, live_dir: Path, candidate: ModelVersion, live_label: str, data_root=None) -> GateResult:
    """Measure a candidate against the live model (see the module's rules)."""
    from training.finetune import STANDING, STANDING_LIMIT, standing_cer

    result = GateResult(True)
    report = (candidate.metrics or {}).get("finetune") or {}
    before, after = report.get("heldout_cer_before"), report.get("heldout_cer_after")
    result.heldout = {"before": before, "after": after, "lines": report.get("heldout_lines")}
    if before is None or after is None:
        result.reasons.append("no held-out new lines measured (fine-tune with htr finetune)")
    elif not after < before:
        result.reasons.append(f"not better on its held-out new lines: CER {after:.4f} vs {before:.4f} before")
    if candidate.parent and candidate.parent != live_label:
        result.reasons.append(f"fine-tuned from {candidate.parent}, not from the live model {live_label}")
    cand = standing_cer(candidate_dir, STANDING, data_root, STANDING_LIMIT)
    base = standing_cer(live_dir, STANDING, data_root, STANDING_LIMIT)
    if not cand:
        result.reasons.append("no standing validation set on this machine to measure it on")
    for spec in cand:
        result.standing[spec] = {"live": base.get(spec), "candidate": cand[spec]}
        if base.get(spec) is not None and cand[spec] > base[spec] + GATE_TOLERANCE:
            result.reasons.append(f"worse on {spec}: CER {cand[spec]:.4f} vs {base[spec]:.4f} live (tolerance {GATE_TOLERANCE})")
    result.passed = not result.reasons
    return result


def promote(
    session: Session,
    store,
    version: str,
    user: str,
    cache: Path,
    default_live: tuple[str, Path],
    force: bool = False,
    data_root=None,
) -> GateResult:
    """Make ``version`` live if it passes the gate (or ``force``). ``default_live``:
    the label and folder of the model that reads when none was promoted."""
    cand = find(session, version)
    cur = live(session)
    if cur is not None and cur.id == cand.id:
        raise RegistryError(f"{_label(cand)} is already live")
    live_label, live_dir = (_label(cur), fetch(store, cur, cache)) if cur is not None else default_live
    result = gate(fetch(store, cand, cache), live_dir, cand, live_label, data_root)
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


class ModelSource:
    """The model documents are read with: pinned (``--model``, ``HTR_MODEL``),
    or the promoted one, looked up between pages (at most every ``every``
    seconds) and loaded when it changes, without a restart."""

    def __init__(self, sessions: sessionmaker, store, pinned: str | None, decoder: str, cache: Path, every: float = 2.0):
        self.sessions, self.store, self.pinned, self.decoder, self.cache, self.every = (
            sessions,
            store,
            pinned,
            decoder,
            cache,
            every,
        )
        self._lock = threading.Lock()
        self._checked = 0.0
        self._live_id: int | None = -1
        self.bundle = None
        self.predictor = None

    def _load(self, path: str | Path | None):
        from recognition.bundle import load_bundle
        from recognition.predictor import DecoderOptions, Predictor

        bundle = load_bundle(path)
        return bundle, Predictor.from_bundle(bundle, decoder=DecoderOptions(name=self.decoder), keywords=True)

    def current(self):
        """(predictor, bundle) to read the next page with."""
        with self._lock:
            if self.pinned is not None:
                if self.bundle is None:
                    self.bundle, self.predictor = self._load(self.pinned)
                return self.predictor, self.bundle
            now = time.monotonic()
            if self.bundle is None or now - self._checked >= self.every:
                self._checked = now
                with self.sessions() as s:
                    mv = live(s)
                    live_id = mv.id if mv is not None else None
                    if live_id != self._live_id:
                        path = fetch(self.store, mv, self.cache) if mv is not None else None
                        self.bundle, self.predictor = self._load(path)
                        if self._live_id != -1:
                            log.info("model switched to %s %s", self.bundle.name, self.bundle.version)
                        self._live_id = live_id
            return self.predictor, self.bundle
