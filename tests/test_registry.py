"""The fine-tune blend, the model registry and its promotion gate, and the promoted
model reaching a worker without a restart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from recognition.bundle import load_bundle
from tests.fixtures import seed_document, unseen_hand, write_data_root

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "recognition" / "models" / "htr-base"
SHIPPED = json.loads((BUNDLED / "model.json").read_text())["version"]  # the bundled model's version
LIMIT = 40  # crops of each standing set the gate measures here (HTR_STANDING_LIMIT; 200 by default)


def _copy_as(src: Path, dest: Path, version: str, report: dict, damage: float = 0.0) -> Path:
    """A bundle with ``src``'s weights (optionally damaged) and a fine-tuning report."""
    b = load_bundle(src)
    if damage:
        rng = np.random.default_rng(0)
        b.model.set_weights([w + damage * rng.standard_normal(w.shape) * (np.std(w) + 1e-3) for w in b.model.get_weights()])
    b.version = version
    b.metrics = {"finetune": report, "parent": {"name": "htr-base", "version": load_bundle(src).version}}
    b.save(dest)
    return dest


def test_the_blend_keeps_the_largest_share_of_the_fine_tune_that_holds_the_standing_sets(tmp_path):
    from recognition.bundle import _rounded
    from recognition.predictor import Predictor
    from training.evaluate import standing as standing_of
    from training.finetune import FinetuneOptions, _choose_blend

    bundle = load_bundle(BUNDLED)
    model = bundle.model
    base = model.get_weights()
    rng = np.random.default_rng(0)
    damaged = [w + rng.standard_normal(w.shape).astype(w.dtype) * (np.std(w) + 1e-3) for w in base]
    standing = unseen_hand(tmp_path / "standing", 12)
    opts = FinetuneOptions(standing=(str(standing),), standing_limit=12, blend=(1.0, 0.01))
    before = standing_of(Predictor.from_bundle(bundle), opts.standing, None, 12)  # the base's
    assert before[str(standing)] < 0.2
    model.set_weights(damaged)  # "the fine-tune": the base with heavy noise
    share, after, tried = _choose_blend(bundle, base, before, opts, None)
    assert share == 0.01 and [t["share"] for t in tried] == [1.0, 0.01] and after == tried[-1]["standing_cer"]
    cer = [t["standing_cer"][str(standing)] for t in tried]
    assert cer[0] > before[str(standing)] + 0.005 and cer[1] <= before[str(standing)] + 0.0025  # all damage fails, 1% holds
    # The blend, rounded to the bundle's weight type as it ships (int8 per output channel).
    assert bundle.weights_dtype == "int8"
    blend = [0.99 * b + 0.01 * d for b, d in zip(base, damaged)]
    for w, expected in zip(model.get_weights(), blend, strict=True):
        assert np.array_equal(w, _rounded(expected, "int8"))
    model.set_weights(damaged)
    assert _choose_blend(bundle, base, {}, FinetuneOptions(standing=(), blend=(1.0, 0.5)), None)[0] == 1.0  # nothing to hold


@pytest.mark.slow
def test_the_gate_refuses_a_damaged_model_and_a_promotion_reaches_the_worker(tmp_path, local, monkeypatch):
    from worker.db import Document, ModelVersion, Promotion
    from worker.registry import ModelSource, RegistryError, listing, promote, register, rollback

    sessions, store = local.sessions, local.store
    cache = tmp_path / "cache"
    data_root = write_data_root(tmp_path / "data")
    claims = {"heldout_cer_before": 0.3, "heldout_cer_after": 0.1, "heldout_lines": 16, "data": ["fixture"]}
    good = _copy_as(BUNDLED, tmp_path / "good", f"{SHIPPED}+same", claims)
    bad = _copy_as(BUNDLED, tmp_path / "bad", f"{SHIPPED}+damaged", claims, damage=1.0)
    flat = _copy_as(BUNDLED, tmp_path / "flat", f"{SHIPPED}+flat", {**claims, "heldout_cer_after": 0.3})
    default = (f"htr-base {SHIPPED}", BUNDLED)
    with sessions() as s:
        for b in (good, bad, flat):
            register(s, store, b)
        assert store.exists(f"models/htr-base/{SHIPPED}+same/model.weights.h5")
        assert {r["version"]: r["status"] for r in listing(s)} == {
            f"{SHIPPED}+same": "candidate",
            f"{SHIPPED}+damaged": "candidate",
            f"{SHIPPED}+flat": "candidate",
        }

        refused = promote(s, store, f"{SHIPPED}+damaged", "ana", cache, default, data_root=data_root, standing_limit=LIMIT)
        assert not refused.passed and any(r.startswith("worse on form-names:val") for r in refused.reasons), refused.reasons
        assert refused.standing["form-names:val"]["candidate"] > refused.standing["form-names:val"]["live"] + 0.005
        not_better = promote(s, store, f"{SHIPPED}+flat", "ana", cache, default, data_root=data_root, standing_limit=LIMIT)
        assert not not_better.passed and any("not better on its held-out" in r for r in not_better.reasons)
        assert s.query(Promotion).count() == 0 and all(r["status"] != "live" for r in listing(s))

    # A worker reading with the promoted model: the in-process runner between two documents.
    models = ModelSource(sessions, store, None, "greedy", cache, every=0.0)
    first = _process(sessions, store, models, tmp_path, ROOT / "examples" / "line.png")
    with sessions() as s:
        passed = promote(s, store, f"{SHIPPED}+same", "ana", cache, default, data_root=data_root, standing_limit=LIMIT)
        assert passed.passed, passed.reasons
        with pytest.raises(RegistryError, match="already live"):
            promote(s, store, f"{SHIPPED}+same", "ana", cache, default, data_root=data_root, standing_limit=LIMIT)
    second = _process(sessions, store, models, tmp_path, ROOT / "examples" / "word.png")
    with sessions() as s:
        versions = {d.id: s.get(ModelVersion, d.model_version_id).version for d in s.query(Document)}
        assert versions == {first: SHIPPED, second: f"{SHIPPED}+same"}
        forced = promote(
            s, store, f"{SHIPPED}+damaged", "ana", cache, default, force=True, data_root=data_root, standing_limit=LIMIT
        )
        assert not forced.passed
        last = s.query(Promotion).order_by(Promotion.id.desc()).first()
        assert last.forced and last.user_name == "ana" and last.gate["passed"] is False
        assert rollback(s, "ana").version == f"{SHIPPED}+same"
        assert rollback(s, "ana").version == f"{SHIPPED}+damaged"  # the one before, as recorded


def _process(sessions, store, models, tmp_path: Path, image: Path) -> int:
    from worker.pipeline import process_document, register_document

    copy = tmp_path / image.name
    shutil.copyfile(image, copy)
    with sessions() as s:
        doc, _ = register_document(s, store, copy)
    return process_document(doc.id, sessions, store, models).id


@pytest.mark.slow
def test_reprocess_keeps_peoples_corrections(tmp_path, local):
    from worker.db import Line, LineEdit
    from worker.db.corrections import history, review_line
    from worker.pipeline.reprocess import reprocess_document
    from worker.registry import ModelSource

    sessions, store = local.sessions, local.store
    models = ModelSource(sessions, store, None, "greedy", tmp_path / "cache")
    doc = _process(sessions, store, models, tmp_path, ROOT / "examples" / "line.png")
    with sessions() as s:
        (line,) = s.query(Line).all()
        review_line(s, line.id, "ana", "There are two basic points here")
        s.commit()
    result = reprocess_document(doc, sessions, store, models)
    assert result.status == "done" and result.corrections_kept == 1 and result.corrections_unmatched == []
    with sessions() as s:
        (line,) = s.query(Line).all()  # a new row: the page was read again
        assert line.text == "There are two basic points here" and line.reviewed_by == "ana"
        assert [w.best_text for w in line.words][-1] == "here"
        steps = [(h["action"], h["new_text"]) for h in history(s, line.id)]
        assert steps == [("edit", "There are two basic points here"), ("reprocess", "There are two basic points here")]
        assert s.query(LineEdit).count() == 2


@pytest.mark.slow
def test_the_nightly_refresh_waits_for_enough_new_lines_then_goes_through_the_gate(tmp_path, local):
    from training.finetune import FinetuneOptions
    from worker.db import Line, ModelVersion
    from worker.db.corrections import review_line
    from worker.registry.refresh import refresh_model
    from worker.settings import Settings

    db, sessions, store = local.url, local.sessions, local.store
    lines = [[(w, 0.5) for w in ("pack", "my", "box")], [(w, 0.5) for w in ("five", "dozen", "jugs")]] * 3
    seed_document(sessions, store, tmp_path / "page.png", lines)
    settings = Settings(
        database_url=db,
        store_url=f"file://{tmp_path / 'store'}",
        finetune_min_lines=4,
        data_dir=str(tmp_path / "none"),
        standing_limit=LIMIT,
    )
    default = (f"htr-base {SHIPPED}", BUNDLED)
    with sessions() as s:
        for line in s.query(Line).limit(3):
            review_line(s, line.id, "ana", line.text)
        s.commit()
    assert refresh_model(settings, sessions, store, default) == {"action": "skipped", "new_lines": 3, "min_lines": 4}
    with sessions() as s:
        for line in s.query(Line).filter(Line.reviewed_at.is_(None)):
            review_line(s, line.id, "ana", line.text)
        s.commit()
    summary = refresh_model(
        settings, sessions, store, default, FinetuneOptions(steps=10, time_limit=300, replay=(), standing_limit=LIMIT)
    )
    assert summary["action"] in ("promoted", "refused") and summary["new_lines"] == 6
    with sessions() as s:
        (cand,) = s.query(ModelVersion).filter(ModelVersion.store_prefix.is_not(None)).all()
        assert (
            cand.status == ("live" if summary["action"] == "promoted" else "candidate") and cand.parent == f"htr-base {SHIPPED}"
        )
        assert cand.data_manifest["train_lines"] + cand.data_manifest["heldout_lines"] == 6
    assert refresh_model(settings, sessions, store, default)["action"] == "skipped"  # nothing reviewed since
