"""``htr health``: whether the database, the store and the broker answer (the container's
health check). One line per check; exit 0 when all answer, 1 otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

CHECKS = ("database", "store", "broker")


def _database(settings) -> None:
    from sqlalchemy import text

    from ..db import make_engine

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def _store(settings) -> None:
    from ..io.store import open_store

    open_store(settings.store_url).exists("health/probe")  # a HEAD request on S3: reachable and allowed


def _broker(settings) -> None:
    from kombu import Connection

    with Connection(settings.broker_url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1, timeout=5)


PROBES: dict[str, Callable] = {"database": _database, "store": _store, "broker": _broker}


def cmd_health(args) -> int:
    results = {}
    for name in CHECKS:
        if name in (args.skip or []):
            continue
        try:
            PROBES[name](args.settings)
            results[name] = "ok"
        except Exception as exc:  # any failure is the answer
            results[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    if args.json:
        print(json.dumps(results))
    else:
        for name, res in results.items():
            print(f"{name}: {res}", file=sys.stdout if res == "ok" else sys.stderr)
    return 0 if all(r == "ok" for r in results.values()) else 1


def register(sub) -> None:
    h = sub.add_parser("health", help="whether the database, the store and the broker answer (exit 0 / 1)")
    h.add_argument("--skip", action="append", choices=CHECKS, help="leave a check out (e.g. --skip broker in-process)")
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=cmd_health)
