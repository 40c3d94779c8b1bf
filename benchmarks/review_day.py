"""What a reviewer waits for in the page editor: the round trips of a day's work.

    python benchmarks/review_day.py [--lines 24] [--rounds 20]

Starts ``htr serve`` on a free port of 127.0.0.1 against a temporary SQLite database and folder
store holding one seeded page of ``--lines`` lines (the tests' seeded document: a page drawn
with its lines, stored through the pipeline's own steps), and a reviewer with an API token.
Then times, over HTTP as the page's script makes them: opening the page editor, its page
image (full, and the scaled preview it loads), saving a corrected line (one round trip per
line), the line's history, undo of a save, a merge of two unread lines (read again by the
bundled model: the first also loads it), a drawn line, and the presence beat.
Prints one line per figure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def seed(folder: Path, n_lines: int) -> tuple[str, int, str]:
    from worker.db import make_engine, session_factory, upgrade
    from worker.db.users import add_token, add_user
    from worker.io.store import LocalStore

    seed_document = importlib.import_module("tests.fixtures").seed_document
    url = f"sqlite:///{folder / 'htr.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    lines = [[("entry", 0.9), (str(i), 0.8), ("of", 0.9), ("the", 0.9), ("rolx", 0.3)] for i in range(1, n_lines + 1)]
    doc = seed_document(sessions, LocalStore(folder / "store"), folder / "page.png", lines)
    with sessions() as s:
        add_user(s, "rita", "correct horse battery", "reviewer")
        token = add_token(s, "rita", "bench")
        s.commit()
    engine.dispose()
    return url, doc, token


def timed(call, rounds: int) -> tuple[list[float], Any]:
    out, last = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        last = call()
        out.append(time.perf_counter() - t)
    return out, last


def ms(values: list[float]) -> str:
    return f"median {1000 * statistics.median(values):.1f} ms, max {1000 * max(values):.1f} ms (n={len(values)})"


def main() -> None:
    import httpx

    from tests.services import free_port, wait_port

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db, doc, token = seed(folder, args.lines)
        port = free_port()
        env = {**os.environ, "HTR_DATABASE_URL": db, "HTR_STORE_URL": f"file://{folder / 'store'}", "HTR_REVIEW_REREAD": "on"}
        server = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        try:
            wait_port("127.0.0.1", port, timeout=60)
            c = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=120)
            run(c, doc, args.rounds)
        finally:
            server.terminate()
            server.wait(timeout=20)


def run(c, doc: int, rounds: int) -> None:
    lines = c.get("/api/pages/1/lines").json()["lines"]
    print(f"page: {len(lines)} lines")
    t, page = timed(lambda: c.get(f"/documents/{doc}"), rounds)
    print(f"open the page editor (HTML, {len(page.content) // 1024} KB): {ms(t)}")
    t, full = timed(lambda: c.get("/pages/1/image"), rounds)
    print(f"page image, full ({len(full.content) // 1024} KB PNG): {ms(t)}")
    t, small = timed(lambda: c.get("/pages/1/image", params={"width": 900}), rounds)
    print(f"page image, preview 900 px ({len(small.content) // 1024} KB JPEG): {ms(t)}")
    saves = []
    for ln in lines[: min(rounds, len(lines) - 4)]:
        text = ln["text"][:-1] + "l"
        t0 = time.perf_counter()
        r = c.put(f"/api/lines/{ln['id']}", json={"text": text, "version": ln["version"]})
        saves.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
        ln["version"] = r.json()["version"]
    print(f"save a corrected line (one round trip a line): {ms(saves)}")
    t, _ = timed(lambda: c.get(f"/api/lines/{lines[0]['id']}/history"), rounds)
    print(f"a line's history: {ms(t)}")
    undo = []
    for ln in lines[: len(saves)]:
        t0 = time.perf_counter()
        r = c.post(f"/api/lines/{ln['id']}/undo", json={"version": ln["version"]})
        undo.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    print(f"undo a save: {ms(undo)}")
    merges = []
    for _ in range(3):
        now = c.get("/api/pages/1/lines").json()["lines"]
        a, b = now[-2], now[-1]
        t0 = time.perf_counter()
        r = c.post(f"/api/lines/{a['id']}/merge", json={"version": a["version"], "next_version": b["version"]})
        merges.append(time.perf_counter() - t0)
        assert r.status_code == 200 and r.json()["reread"], r.text
    print(
        f"merge two unread lines, read again by the model: first (loads the model) {1000 * merges[0]:.0f} ms, then {ms(merges[1:])}"
    )
    last = c.get("/api/pages/1/lines").json()["lines"][-1]["box"]
    t0 = time.perf_counter()
    r = c.post("/api/pages/1/lines", json={"box": [last[0], last[1], (last[0] + last[2]) // 2, last[3]]})
    assert r.status_code == 201 and r.json()["reread"], r.text
    print(f"draw a line, read by the model: {1000 * (time.perf_counter() - t0):.0f} ms")
    t, _ = timed(lambda: c.post("/api/pages/1/presence"), rounds)
    print(f"presence beat (every 20 s): {ms(t)}")


if __name__ == "__main__":
    main()
