"""The model shipped in the repo: it loads without any download and reads the sample crops."""

import subprocess
import sys
from pathlib import Path

from recognition.bundle import default_model_path, load_bundle
from recognition.charset import IAM_CHARS

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_model_is_complete():
    b = load_bundle()
    assert b.path == default_model_path() and b.path.is_relative_to(ROOT)
    assert set(IAM_CHARS) <= set(b.charset.chars)
    assert b.lm is not None and len(b.lexicon.words) > 1000
    assert len(b.calibration.knots_x) > 2  # fitted, not identity
    assert b.calibration_beam is not None and len(b.calibration_beam.knots_x) > 2
    for table in ("reliability_held_out", "reliability_held_out_beam"):
        top = [r for r in b.metrics[table] if r["bin"] == ">=0.90"][0]
        assert top["words"] > 100 and top["share_exact"] >= 0.9, table  # "≥ 0.9" means at least 90% right
    # Trained and preprocessed for real line boxes, which carry ink of neighbouring lines.
    assert b.preprocess.fit_limit > 0 and b.preprocess.core_refine > 0
    assert b.preprocess.refine_min_aspect > 0  # ... and for words the plain x-height search (version 3)
    assert (b.path / "MODEL_CARD.md").is_file()


def test_shipped_model_reads_the_sample_line_through_ink_of_neighbouring_lines():
    import cv2
    import numpy as np

    from recognition.predictor import Predictor
    from training.augment import neighbours

    line = cv2.imread(str(ROOT / "examples" / "line.png"), cv2.IMREAD_GRAYSCALE)
    word = cv2.imread(str(ROOT / "examples" / "word.png"), cv2.IMREAD_GRAYSCALE)
    crops = [neighbours(line, line, word, np.random.default_rng(s)) for s in range(16)]
    texts = [r.text for r in Predictor.load().predict(crops)]
    assert sum(t == "There are two basic points" for t in texts) >= 9, texts


def test_htr_recognize_reads_the_shipped_samples():
    labels = dict(line.split("\t") for line in (ROOT / "examples" / "labels.tsv").read_text().splitlines())
    files = [f"examples/{name}" for name in labels]
    res = subprocess.run(
        [sys.executable, "-m", "worker.cli", "recognize", *files], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    rows = [r.split("\t") for r in res.stdout.splitlines()]
    assert [r[0] for r in rows] == files
    for (path, text, conf), name in zip(rows, labels):
        assert text == labels[name], (path, text)
        assert 0.0 < float(conf) <= 1.0


def test_htr_model_env_selects_another_model(tmp_path):
    import os

    env = {**os.environ, "HTR_MODEL": str(tmp_path / "elsewhere")}
    res = subprocess.run(
        [sys.executable, "-m", "worker.cli", "recognize", "examples/word.png"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 2 and "elsewhere" in res.stderr
