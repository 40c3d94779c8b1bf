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
    assert (b.path / "MODEL_CARD.md").is_file()


def test_htr_recognize_reads_the_shipped_samples():
    labels = dict(line.split("\t") for line in (ROOT / "examples" / "labels.tsv").read_text().splitlines())
    files = [f"examples/{name}" for name in labels]
    res = subprocess.run([sys.executable, "-m", "worker.cli", "recognize", *files], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = [r.split("\t") for r in res.stdout.splitlines()]
    assert [r[0] for r in rows] == files
    for (path, text, conf), name in zip(rows, labels):
        assert text == labels[name], (path, text)
        assert 0.0 < float(conf) <= 1.0


def test_htr_model_env_selects_another_model(tmp_path):
    import os

    env = {**os.environ, "HTR_MODEL": str(tmp_path / "elsewhere")}
    res = subprocess.run([sys.executable, "-m", "worker.cli", "recognize", "examples/word.png"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2 and "elsewhere" in res.stderr
