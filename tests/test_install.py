"""A non-editable install (``pip install .``) carries the bundled model and the
migrations, processes the sample from any folder, and evaluates on the data root its
settings name (training code reads no environment and needs no source checkout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import write_data_root

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_plain_install_processes_the_sample_from_elsewhere(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert sorted(p.name for p in (site / "migrations" / "versions").glob("*.py"))[:2] == ["0001_initial.py", "0002_task_runs.py"]
    assert (site / "recognition" / "models" / "htr-base" / "model.weights.h5").is_file()
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTR_")}
    env.update(PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="2")
    # The dependencies come from this interpreter's environment; htr itself from the plain install.
    probe = subprocess.run(
        [sys.executable, "-c", "import worker, migrations; print(worker.__file__); print(migrations.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(line.startswith(str(site)) for line in probe.stdout.split())
    run = subprocess.run(
        [sys.executable, "-m", "worker.cli", "process", str(ROOT / "examples" / "line.png"), "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert '"status": "done"' in run.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "worker.cli", "show", "1"], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert "There are two basic points" in shown.stdout
    assert (work / "var" / "htr.sqlite").is_file()  # the embedded database, migrated where the command ran
    data = write_data_root(tmp_path / "data")
    evaluated = subprocess.run(
        [sys.executable, "-m", "worker.cli", "evaluate", "--limit", "1", "iam-ondb:test"],
        cwd=work,
        env={**env, "HTR_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["iam-ondb:test"]["samples"] == 1
