"""Fine-tuning, the model registry and its promotion gate, and the promoted
model reaching a worker without a restart."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recognition.bundle import load_bundle
from tests.fixtures import seed_document, text_image, write_data_root
from training.datasets.folder import write_labels_folder

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "recognition" / "models" / "htr-base"
SHIPPED = json.loads((BUNDLED / "model.json").read_text())["version"]  # the bundled model's version
WORDS = "the quick brown fox jumps over lazy dog pack my box with five dozen liquor jugs how vexingly daft zebras".split()


def _hand(folder: Path, n: int, seed: int = 0) -> Path:
    """Lines in one hand the bundle never trained on (OpenCV's Hershey script)."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        t = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 5))))
        samples.append((f"l{i:03d}.png", text_image(t, height=60, scale=1.2), t))
    return write_labels_folder(folder, samples)


@pytest.fixture
def local(tmp_path):
    """An embedded database and a folder store in a temp folder."""
    from types import SimpleNamespace

    from worker.db import make_engine, session_factory, upgrade
    from worker.io.store import LocalStore

    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    yield SimpleNamespace(url=url, sessions=session_factory(engine), store=LocalStore(tmp_path / "store"))
    engine.dispose()


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


@pytest.mark.slow
def test_finetune_lowers_cer_on_a_new_hand(tmp_path):
    from training.finetune import FinetuneOptions, finetune

    data = _hand(tmp_path / "hand", 40)
    opts = FinetuneOptions(time_limit=300, steps=60, standing=(), replay=())
    report = finetune(BUNDLED, [data], tmp_path / "out", opts, data_root=tmp_path / "none")
    assert report.train_lines + report.heldout_lines == 40 and report.heldout_lines >= 5
    assert report.heldout_cer_before > 0 and report.heldout_cer_after < report.heldout_cer_before
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["version"].startswith(meta["metrics"]["parent"]["version"] + "+ft")
    assert meta["metrics"]["finetune"]["heldout_cer_after"] == report.heldout_cer_after
    assert (tmp_path / "out" / "lm.json.gz").is_file()  # the base's n-gram and calibration travel with it
    base, tuned = (load_bundle(b).model for b in (BUNDLED, tmp_path / "out"))
    for name in ("bn0", "bn4"):  # batch normalization frozen: its statistics are the base's
        assert all(np.array_equal(a, b) for a, b in zip(base.get_layer(name).get_weights(), tuned.get_layer(name).get_weights()))
    assert not np.array_equal(base.get_layer("conv0").get_weights()[0], tuned.get_layer("conv0").get_weights()[0])


def test_the_blend_keeps_the_largest_share_of_the_fine_tune_that_holds_the_standing_sets(tmp_path):
    from recognition.bundle import _rounded
    from recognition.predictor import Predictor
    from training.finetune import FinetuneOptions, _choose_blend, _standing

    bundle = load_bundle(BUNDLED)
    model = bundle.model
    base = model.get_weights()
    rng = np.random.default_rng(0)
    damaged = [w + rng.standard_normal(w.shape).astype(w.dtype) * (np.std(w) + 1e-3) for w in base]
    standing = _hand(tmp_path / "standing", 12)
    opts = FinetuneOptions(standing=(str(standing),), standing_limit=12, blend=(1.0, 0.01))
    before = _standing(Predictor.from_bundle(bundle), opts.standing, None, 12)  # the base's
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

        refused = promote(s, store, f"{SHIPPED}+damaged", "ana", cache, default, data_root=data_root)
        assert not refused.passed and any(r.startswith("worse on form-names:val") for r in refused.reasons), refused.reasons
        assert refused.standing["form-names:val"]["candidate"] > refused.standing["form-names:val"]["live"] + 0.005
        not_better = promote(s, store, f"{SHIPPED}+flat", "ana", cache, default, data_root=data_root)
        assert not not_better.passed and any("not better on its held-out" in r for r in not_better.reasons)
        assert s.query(Promotion).count() == 0 and all(r["status"] != "live" for r in listing(s))

    # A worker reading with the promoted model: the in-process runner between two documents.
    models = ModelSource(sessions, store, None, "greedy", cache, every=0.0)
    first = _process(sessions, store, models, tmp_path, ROOT / "examples" / "line.png")
    with sessions() as s:
        passed = promote(s, store, f"{SHIPPED}+same", "ana", cache, default, data_root=data_root)
        assert passed.passed, passed.reasons
        with pytest.raises(RegistryError, match="already live"):
            promote(s, store, f"{SHIPPED}+same", "ana", cache, default, data_root=data_root)
    second = _process(sessions, store, models, tmp_path, ROOT / "examples" / "word.png")
    with sessions() as s:
        versions = {d.id: s.get(ModelVersion, d.model_version_id).version for d in s.query(Document)}
        assert versions == {first: SHIPPED, second: f"{SHIPPED}+same"}
        forced = promote(s, store, f"{SHIPPED}+damaged", "ana", cache, default, force=True, data_root=data_root)
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
def test_finetune_from_corrections_on_the_command_line(tmp_path, local):
    from worker.db.corrections import review_line

    db, sessions = local.url, local.sessions
    lines = [[(w, 0.5) for w in ("pack", "my", "box")], [(w, 0.5) for w in ("five", "dozen", "jugs")]] * 3
    doc = seed_document(sessions, local.store, tmp_path / "page.png", lines)
    env = {
        "HTR_DATABASE_URL": db,
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
        "PATH": "/usr/bin:/bin",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }

    def htr(*args):
        return subprocess.run(
            [sys.executable, "-m", "worker.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )

    unsure = htr("finetune", "--self-train", str(doc), "--output", str(tmp_path / "self"))
    assert unsure.returncode == 3 and "0 words read at >= 0.95" in unsure.stderr
    no_person = htr(
        "finetune", "--self-train", str(doc), "--min-confidence", "0.4", "--steps", "10", "--output", str(tmp_path / "self"),
        "--data-root", str(tmp_path / "none"),
    )  # fmt: skip
    assert no_person.returncode == 0, no_person.stderr
    taught = json.loads(no_person.stdout)
    assert taught["train_lines"] + taught["heldout_lines"] == 18  # every word of the six lines, as read
    with sessions() as s:
        from worker.db import Line

        for line in s.query(Line).all():
            review_line(s, line.id, "ana", line.text)
        s.commit()
    few = htr("finetune", "--from-corrections", "--min-lines", "50", "--output", str(tmp_path / "cand"))
    assert few.returncode == 3 and "6 reviewed lines, fewer than --min-lines 50" in few.stderr
    run = htr(
        "finetune",
        "--from-corrections",
        "--document",
        str(doc),
        "--steps",
        "10",
        "--output",
        str(tmp_path / "cand"),
        "--data-root",
        str(tmp_path / "none"),
        "--register",
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["train_lines"] + report["heldout_lines"] == 6 and report["registered"]["status"] == "candidate"
    # An int8 base's fine-tune ships in float16: ten small steps would round back to the base in int8.
    assert json.loads((tmp_path / "cand" / "model.json").read_text())["weights_dtype"] == "float16"
    listed = [json.loads(line) for line in htr("models", "list", "--json").stdout.splitlines()]
    assert [r["version"] for r in listed if r["in_store"]] == [report["registered"]["version"]]
    promoted = htr("models", "promote", report["registered"]["version"], "--user", "ana", "--data-root", str(tmp_path / "none"))
    gate = json.loads(promoted.stdout)
    # Measured, not assumed better: ten steps on six lines may leave the one held-out line's single
    # misread letter as it was (test_finetune_lowers_cer_on_a_new_hand shows the learning).
    assert gate["heldout"]["after"] <= gate["heldout"]["before"] == report["heldout_cer_before"]
    if promoted.returncode == 0:  # measured no worse on the standing sets this machine has
        assert gate["passed"] and gate["standing"]
        listed = {
            json.loads(line)["version"]: json.loads(line)["status"]
            for line in htr("models", "list", "--json").stdout.splitlines()
        }
        assert listed[report["registered"]["version"]] == "live"
        assert htr("models", "rollback").stdout.strip() == "live: the default model"
    else:
        assert promoted.returncode == 1 and not gate["passed"] and "refused by the gate" in promoted.stderr


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
    from worker.refresh import refresh_model
    from worker.settings import Settings

    db, sessions, store = local.url, local.sessions, local.store
    lines = [[(w, 0.5) for w in ("pack", "my", "box")], [(w, 0.5) for w in ("five", "dozen", "jugs")]] * 3
    seed_document(sessions, store, tmp_path / "page.png", lines)
    settings = Settings(
        database_url=db, store_url=f"file://{tmp_path / 'store'}", finetune_min_lines=4, data_dir=str(tmp_path / "none")
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
    summary = refresh_model(settings, sessions, store, default, FinetuneOptions(steps=10, time_limit=300, replay=()))
    assert summary["action"] in ("promoted", "refused") and summary["new_lines"] == 6
    with sessions() as s:
        (cand,) = s.query(ModelVersion).filter(ModelVersion.store_prefix.is_not(None)).all()
        assert (
            cand.status == ("live" if summary["action"] == "promoted" else "candidate") and cand.parent == f"htr-base {SHIPPED}"
        )
        assert cand.data_manifest["train_lines"] + cand.data_manifest["heldout_lines"] == 6
    assert refresh_model(settings, sessions, store, default)["action"] == "skipped"  # nothing reviewed since
