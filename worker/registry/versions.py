"""The store of model versions: bundles kept in the store (``models/NAME/VERSION/``) and their
rows in ``model_versions`` (metrics, lineage, status); fetching a version to local disk."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import ModelVersion
from ..io.store import Store

CACHE = Path(tempfile.gettempdir()) / "htr-models"  # bundles fetched from the store
BUNDLE_FILES = ("model.json", "model.weights.h5", "lm.json.gz", "lexicon.txt", "MODEL_CARD.md")


class RegistryError(ValueError):
    """A version that cannot be registered, found or promoted."""


def default_model(pinned: str | None) -> tuple[str, Path]:
    """The label ("name version") and folder of the model that reads when none
    was promoted: ``HTR_MODEL`` (``pinned``) or the bundled one."""
    from recognition.bundle import default_model_path

    path = Path(pinned) if pinned else default_model_path()
    meta = json.loads((path / "model.json").read_text())
    return f"{meta['name']} {meta['version']}", path


def label(mv: ModelVersion) -> str:
    return f"{mv.name} {mv.version}"


def register(session: Session, store: Store, bundle_dir: str | Path) -> ModelVersion:
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
        if version in (mv.version, label(mv), str(mv.id)):
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


def fetch(store: Store, mv: ModelVersion, cache: Path) -> Path:
    """The version's bundle on local disk (downloaded once into ``cache``)."""
    if mv.store_prefix is None:
        raise RegistryError(f"{label(mv)} is not in the store")
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
