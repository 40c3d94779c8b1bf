"""Queue throughput: documents/min and pages/min with 1 and 2 worker processes.

    python benchmarks/celery_queue.py [--docs 8] [--pages 3] [--workers 1 2]

Builds DOCS PDFs of PAGES generated handwritten pages each (IAM-OnDB test
strokes, ~14 lines a page, 300 dpi), then for each worker count: a fresh
PostgreSQL database, a private Redis, a folder store, N `htr worker`
processes (threads pool, concurrency 2, micro-batched recognition), and
`htr submit` of all documents; the clock runs from submit until the last
document is done. Peak RSS is read per worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def make_docs(folder: Path, docs: int, pages: int) -> list[Path]:
    from PIL import Image

    from benchmarks.segmentation import build_pages

    base, _ = build_pages(min(docs * pages, 12))
    out = []
    for d in range(docs):
        imgs = [Image.fromarray(base[(d * pages + k) % len(base)].image) for k in range(pages)]
        # A different first pixel per document: distinct content hashes, same work.
        imgs[0].putpixel((0, 0), d % 256)
        path = folder / f"doc{d:03d}.pdf"
        imgs[0].save(path, save_all=True, append_images=imgs[1:], resolution=300)
        out.append(path)
    return out


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def wait_until_done(sessions) -> int:
    """Wait until no document is queued or processing; how many failed."""
    from sqlalchemy import func, select

    from worker.db import Document, Status

    while True:
        with sessions() as s:
            left = s.scalar(
                select(func.count()).select_from(Document).where(Document.status.in_([Status.QUEUED, Status.PROCESSING]))
            )
            failed = s.scalar(select(func.count()).select_from(Document).where(Document.status == Status.FAILED))
        if left == 0:
            return failed or 0
        time.sleep(0.25)


def run(n_workers: int, files: list[Path], pages: int, work: Path) -> dict:
    from sqlalchemy import create_engine, text

    from tests.services import RedisServer, WorkerProcess
    from worker.db import make_engine, session_factory, upgrade

    name = f"htr_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    upgrade(db)
    redis = RedisServer(work / f"redis{n_workers}")
    redis.start()
    env = {
        "HTR_BROKER_URL": redis.url,
        "HTR_DATABASE_URL": db,
        "HTR_STORE_URL": f"file://{work / f'store{n_workers}'}",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    workers = [WorkerProcess(env, work / f"w{n_workers}-{i}.log", "--concurrency", "2").start() for i in range(n_workers)]
    engine = make_engine(db)
    sessions = session_factory(engine)
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("htr")), "submit", *map(str, files)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        submitted = time.perf_counter() - t0
        failed = wait_until_done(sessions)
        wall = time.perf_counter() - t0
        rss = [peak_rss_mb(w.pid) for w in workers]
    finally:
        for w in workers:
            w.stop()
        redis.stop()
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    n = len(files)
    return {
        "workers": n_workers,
        "documents": n,
        "pages": n * pages,
        "failed": failed,
        "submit_seconds": round(submitted, 2),
        "seconds": round(wall, 1),
        "documents_per_min": round(60.0 * n / wall, 2),
        "pages_per_min": round(60.0 * n * pages / wall, 1),
        "peak_rss_mb_per_worker": rss,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    out: dict = {"cores": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="htr-qbench-") as d:
        work = Path(d)
        files = make_docs(work, args.docs, args.pages)
        for n in args.workers:
            out["runs"].append(run(n, files, args.pages, work))
            print(json.dumps(out["runs"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
