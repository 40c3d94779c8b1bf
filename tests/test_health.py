"""``htr health``: the container's health check against real services."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def health(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", "health", "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_health_answers_for_each_service(tmp_path):
    import os

    env = {**os.environ, "HTR_DATABASE_URL": f"sqlite:///{tmp_path}/h.sqlite", "HTR_STORE_URL": f"file://{tmp_path}/store"}
    env["HTR_BROKER_URL"] = "redis://127.0.0.1:6379/0"  # the machine's Redis (scripts/services.sh)
    ok = health(env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"database": "ok", "store": "ok", "broker": "ok"}
    env.update(HTR_DATABASE_URL="postgresql+psycopg2://nobody@127.0.0.1:1/none", HTR_BROKER_URL="redis://127.0.0.1:1/0")
    bad = health(env)
    out = json.loads(bad.stdout)
    assert bad.returncode == 1 and out["store"] == "ok"
    assert out["database"].startswith("OperationalError") and out["broker"] != "ok"
    skipped = health(env, "--skip", "database", "--skip", "broker")
    assert skipped.returncode == 0 and json.loads(skipped.stdout) == {"store": "ok"}
