"""docker-compose.yml cannot be run here (no Docker engine): check it by reading,
against the same settings names the code and the tests use."""

import re
from pathlib import Path

import yaml

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BOTO3_NAMES = {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_stack_in_dependency_order():
    svc = _compose()["services"]
    assert {"redis", "postgres", "minio", "minio-setup", "migrate", "worker", "beat"} <= set(svc)
    assert svc["migrate"]["command"] == ["db", "upgrade"]
    assert svc["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert svc["worker"]["depends_on"]["minio-setup"]["condition"] == "service_completed_successfully"
    assert svc["worker"]["command"][0] == "worker" and svc["beat"]["command"][0] == "beat"
    gpu = svc["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert "--appendonly" in svc["redis"]["command"]  # the broker keeps messages across restarts
    assert svc["worker"]["restart"] == "unless-stopped"  # a worker that exits is started again
    assert "mc mb" in " ".join(svc["minio-setup"]["command"]) and "local/htr" in " ".join(svc["minio-setup"]["command"])


def test_compose_uses_the_settings_names_and_they_are_consistent():
    c = _compose()
    env = c["services"]["worker"]["environment"]
    known = set(Settings.variables())
    for name in env:
        assert name in known or name in BOTO3_NAMES, f"{name} is not read by htr"
    s = Settings.from_env({k: str(v) for k, v in env.items()})
    assert s.broker_url.startswith("redis://redis:") and s.database_url.startswith("postgresql")
    bucket = s.store_url.split("/")[2]
    assert f"local/{bucket}" in " ".join(c["services"]["minio-setup"]["command"])
    pg = c["services"]["postgres"]["environment"]
    assert f"{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}" in s.database_url
    minio = c["services"]["minio"]["environment"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
    for svc in ("migrate", "worker", "beat"):
        assert c["services"][svc]["environment"] == env  # one settings block for all


def test_dockerfile_builds_in_stages_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"(?m)^FROM ", text)[1:]
    assert len(stages) == 2 and " AS build" in stages[0]
    build, run = stages
    # dependencies installed before the sources are copied (cached while only the code changes)
    assert build.index("pip install -r requirements.txt") < build.index("COPY recognition recognition")
    for d in ("recognition", "segmentation", "training", "worker", "migrations"):
        assert f"COPY {d} {d}" in build
    assert "pip install --no-deps ." in build
    assert "COPY --from=build /opt/htr /opt/htr" in run and "poppler-utils" in run
    user = re.search(r"(?m)^USER (\S+)", run)
    assert user and user.group(1) not in ("root", "0")
    assert re.search(r"(?m)^HEALTHCHECK .*CMD \[\"htr\", \"health\"\]", run)


def test_compose_serves_the_review_app_beside_the_workers():
    c = _compose()
    web = c["services"]["web"]
    assert web["command"][0] == "serve" and web["command"][web["command"].index("--host") + 1] == "0.0.0.0"
    port = web["command"][web["command"].index("--port") + 1]
    assert f"{port}:{port}" in web["ports"]
    assert web["environment"] == c["services"]["worker"]["environment"]  # the same database and store
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert web["image"] == c["services"]["worker"]["image"] and "profiles" not in web  # started by `docker compose up`
