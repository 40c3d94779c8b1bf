"""One settings object, read from environment variables with the same names
everywhere: the CLI, Celery workers and beat, docker-compose and the tests.

S3 endpoint and credentials are boto3's own variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``); boto3 reads them itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROUTES = {
    "htr.start": "cpu",  # validate, count pages, fan out
    "htr.segment": "cpu",  # render + segment one page
    "htr.recognize": "gpu",  # recognize + persist one page (micro-batched)
    "htr.scan": "cpu",  # nightly: enqueue new objects under a prefix
}


DECODERS = ("greedy", "beam")  # HTR_DECODER / --decoder values


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r}: expected a whole number") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str  # HTR_DATABASE_URL (default: SQLite in ./var/htr.sqlite)
    store_url: str  # HTR_STORE_URL: file:///folder or s3://bucket/prefix (default ./var/store)
    broker_url: str = "redis://127.0.0.1:6379/0"  # HTR_BROKER_URL
    model: str | None = None  # HTR_MODEL: model folder (default: the bundled model)
    decoder: str = "greedy"  # HTR_DECODER: greedy, or beam (search with the bundle's character n-gram: more accurate, slower)
    max_attempts: int = 3  # HTR_MAX_ATTEMPTS: worker deaths on one task before the document fails
    visibility_timeout: int = 3600  # HTR_VISIBILITY_TIMEOUT (s): longer than any one task (one page)
    task_retries: int = 8  # HTR_TASK_RETRIES: retries with backoff for transient errors
    batch_max_lines: int = 256  # HTR_BATCH_MAX_LINES: micro-batch size across documents
    batch_wait_ms: int = 50  # HTR_BATCH_WAIT_MS: longest a line waits for its batch to fill
    scan_url: str | None = None  # HTR_SCAN_URL: s3://bucket/prefix scanned by beat
    scan_schedule: str = "0 2 * * *"  # HTR_SCAN_SCHEDULE: cron (minute hour day month weekday)
    routes: dict = field(default_factory=lambda: dict(DEFAULT_ROUTES))  # HTR_TASK_ROUTES (JSON: task -> queue)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        db = env.get("HTR_DATABASE_URL") or f"sqlite:///{Path('var/htr.sqlite').resolve()}"
        store = env.get("HTR_STORE_URL") or "file://" + str(Path("var/store").resolve())
        routes = dict(DEFAULT_ROUTES)
        if env.get("HTR_TASK_ROUTES"):
            try:
                routes.update(json.loads(env["HTR_TASK_ROUTES"]))
            except json.JSONDecodeError as exc:
                raise ValueError(f"HTR_TASK_ROUTES is not JSON: {exc}") from exc
        decoder = env.get("HTR_DECODER") or cls.decoder
        if decoder not in DECODERS:
            raise ValueError(f"HTR_DECODER={decoder!r}: expected one of {', '.join(DECODERS)}")
        return cls(
            database_url=db,
            store_url=store,
            broker_url=env.get("HTR_BROKER_URL") or cls.broker_url,
            model=env.get("HTR_MODEL") or None,
            decoder=decoder,
            max_attempts=_int(env, "HTR_MAX_ATTEMPTS", cls.max_attempts),
            visibility_timeout=_int(env, "HTR_VISIBILITY_TIMEOUT", cls.visibility_timeout),
            task_retries=_int(env, "HTR_TASK_RETRIES", cls.task_retries),
            batch_max_lines=_int(env, "HTR_BATCH_MAX_LINES", cls.batch_max_lines),
            batch_wait_ms=_int(env, "HTR_BATCH_WAIT_MS", cls.batch_wait_ms),
            scan_url=env.get("HTR_SCAN_URL") or None,
            scan_schedule=env.get("HTR_SCAN_SCHEDULE") or cls.scan_schedule,
            routes=routes,
        )


def skip_printed(env: Mapping[str, str] | None = None) -> bool:
    """HTR_PRINTED: ``skip`` (default) leaves machine-printed lines out of pages that mix
    print and handwriting (a form's template text); ``read`` reads them as writing.
    Read when a page is segmented, like the input limits."""
    env = os.environ if env is None else env
    value = (env.get("HTR_PRINTED") or "skip").strip().lower()
    if value not in ("skip", "read"):
        raise ValueError(f"HTR_PRINTED={value!r}: expected skip or read")
    return value == "skip"
