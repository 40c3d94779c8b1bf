"""Hammer the review app and print what it refused and what got through.

    python benchmarks/web_security.py [--parallel 8 32] [--guesses 60] [--parts logins passwords saves routes]

Starts ``htr serve`` on a free port of 127.0.0.1 against a temporary SQLite
database and folder store (two seeded one-page documents; a reviewer rita, an
admin ana, a reviewer vic), then:

- parallel logins: N correct logins at once (each from its own address, sent as
  ``X-Forwarded-For``, which the server trusts from 127.0.0.1), while a probe asks
  ``GET /api/me`` with a token again and again: the logins' times and the probe's,
  against the probe alone;
- wrong passwords: one address guessing vic's password as fast as it can; 40
  addresses guessing 3 times each at a name that does not exist, then the same at
  rita (the answers must match); then the last attacking address with rita's right
  password, rita from an address she logged in from, and from a new one;
- stale saves: two reviewers load the same line and both save it;
- every route as anonymous, reviewer and admin: the status each got, and whether
  it is the one the rules say (anonymous: 401 or a redirect to the login;
  reviewer on an admin route: 403);
- ids too large for the database and the security headers on every answer.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PASSWORDS = {"rita": "correct horse", "ana": "battery staple", "vic": "victor's own words"}
LINES = [[("the", 0.97), ("quick", 0.31)], [("fax", 0.12), ("jumps", 0.93)]]
HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options")


def seed(folder: Path) -> tuple[str, dict]:
    from sqlalchemy import select

    from worker.db import Line, make_engine, session_factory, upgrade
    from worker.db.users import add_token, add_user
    from worker.io.store import LocalStore

    # The tests' seeded document: a page drawn with its lines, stored through the pipeline's own steps.
    seed_document = importlib.import_module("tests.fixtures").seed_document
    url = f"sqlite:///{folder / 'htr.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    store = LocalStore(folder / "store")
    docs = [seed_document(sessions, store, folder / f"page{i}.png", LINES[i:] + LINES[:i]) for i in range(2)]
    with sessions() as s:
        for name, role in (("rita", "reviewer"), ("ana", "admin"), ("vic", "reviewer")):
            add_user(s, name, PASSWORDS[name], role)
        token = add_token(s, "rita", "probe")
        s.commit()
        lines = [ln.id for ln in s.scalars(select(Line).order_by(Line.id))]
    engine.dispose()
    return url, {"docs": docs, "lines": lines, "token": token}


def routes_of_app(url: str, store: str) -> set[tuple[str, str]]:

    from worker.settings import Settings
    from worker.web.app import api_routes, create_app

    app = create_app(Settings(database_url=url, store_url=store))
    return {(m, r.path) for r in api_routes(app) for m in r.methods or ()}


def client(base: str, address: str = "127.0.0.1"):
    import httpx

    return httpx.Client(base_url=base, headers={"X-Forwarded-For": address}, follow_redirects=False, timeout=120)


def found(pattern: str, html: str) -> str:
    m = re.search(pattern, html)
    if m is None:
        raise RuntimeError(f"not on the page: {pattern}")
    return m.group(1)


def login_csrf(c) -> str:
    return found(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)


def try_login(c, name: str, password: str):
    csrf = login_csrf(c)
    return c.post("/login", data={"name": name, "password": password, "csrf_token": csrf})


def session(base: str, name: str, address: str):
    """A logged-in client with its CSRF token on every request."""
    c = client(base, address)
    r = try_login(c, name, PASSWORDS[name])
    assert r.status_code == 303, (name, r.status_code, r.text[:200])
    c.headers["X-CSRF-Token"] = found(r'name="htr-csrf" content="([^"]+)"', c.get("/review").text)
    return c


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {1000 * statistics.median(values):.0f} ms, max {1000 * max(values):.0f} ms (n={len(values)})"


def parallel_logins(base: str, token: str, n: int) -> None:
    def probe(stop: threading.Event, out: list[float]) -> None:
        with client(base, "192.0.2.250") as c:
            while not stop.is_set():
                t = time.perf_counter()
                assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
                out.append(time.perf_counter() - t)
                time.sleep(0.01)

    idle: list[float] = []
    stop = threading.Event()
    th = threading.Thread(target=probe, args=(stop, idle))
    th.start()
    time.sleep(1.0)
    stop.set()
    th.join()

    during: list[float] = []
    stop = threading.Event()
    th = threading.Thread(target=probe, args=(stop, during))
    clients = [client(base, f"10.8.{i // 250}.{i % 250 + 1}") for i in range(n)]
    forms = []
    for c in clients:
        forms.append(login_csrf(c))

    def one(i: int) -> tuple[int, float]:
        t = time.perf_counter()
        data = {"name": "rita", "password": PASSWORDS["rita"], "csrf_token": forms[i]}
        r = clients[i].post("/login", data=data)
        return r.status_code, time.perf_counter() - t

    th.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - start
    stop.set()
    th.join()
    for c in clients:
        c.close()
    codes = [code for code, _ in results]
    print(f"  {n} parallel logins: {codes.count(303)} logged in, {n - codes.count(303)} refused {sorted(set(codes) - {303})}")
    print(f"    each login: {ms([t for _, t in results])}; all done in {wall:.2f} s")
    print(f"    GET /api/me meanwhile: {ms(during)}; alone: {ms(idle)}")


def wrong_passwords(base: str, guesses: int) -> None:
    with client(base, "198.51.100.7") as c:
        csrf = login_csrf(c)
        codes = []
        start = time.perf_counter()
        for i in range(guesses):
            codes.append(c.post("/login", data={"name": "vic", "password": f"guess {i}", "csrf_token": csrf}).status_code)
        wall = time.perf_counter() - start
    print(
        f"  one address, {guesses} guesses at vic's password in {wall:.1f} s: {codes.count(401)} checked (401), "
        f"{codes.count(429)} refused unchecked (429), {codes.count(303)} got in"
    )

    def spread(name: str) -> list[int]:
        out = []
        for a in range(40):
            with client(base, f"203.0.113.{a + 1}") as c:
                for g in range(3):
                    out.append(try_login(c, name, f"spray {a} {g}").status_code)
        return out

    ghost, real = spread("nobody-here"), spread("rita")
    print(
        f"  40 addresses x 3 guesses at rita: {real.count(401)} checked, {real.count(429)} refused, {real.count(303)} got in; "
        f"same at a name that does not exist: {ghost.count(401)} checked, {ghost.count(429)} refused "
        f"({'the same answers' if real == ghost else 'DIFFERENT answers'})"
    )
    with client(base, "203.0.113.40") as c:
        r = try_login(c, "rita", PASSWORDS["rita"])
        wait = r.headers.get("retry-after")
        print(f"  the last attacking address with rita's right password: {r.status_code} (Retry-After {wait} s)")
    with client(base, "10.8.0.1") as c:  # an address rita logged in from (the parallel logins)
        print(f"  rita from her usual address: {try_login(c, 'rita', PASSWORDS['rita']).status_code}")
    with client(base, "192.0.2.77") as c:
        print(f"  rita from a new address: {try_login(c, 'rita', PASSWORDS['rita']).status_code}")


def stale_saves(base: str, line_id: int) -> None:
    rita, vic = session(base, "rita", "192.0.2.11"), session(base, "vic", "192.0.2.12")
    seen = {
        c: next(ln for ln in c.get("/api/review", params={"limit": 200}).json()["lines"] if ln["line_id"] == line_id)
        for c in (rita, vic)
    }
    codes = []
    for c, text in ((rita, "rita's reading"), (vic, "vic's reading")):
        body = {"text": text, "version": seen[c].get("version", 1)}
        codes.append(c.put(f"/api/lines/{line_id}", json=body).status_code)
    final = rita.get(f"/api/lines/{line_id}/history").json()["history"]
    print(f"  two reviewers save the same line from the same version: {codes}; history keeps {[h['new_text'] for h in final]}")
    rita.close()
    vic.close()


def _rules(seeded: dict) -> dict[tuple[str, str], tuple[str, str, object, dict | None]]:
    """(method, route) -> (who may, the path, JSON body, form); ids made per role when a route uses them up.
    Changes to lines name a version no line has (999): an allowed caller gets 409, not 401/403."""
    doc, other_doc = seeded["docs"]
    line = seeded["lines"][0]
    stale = {"version": 999}
    return {
        ("GET", "/login"): ("public", "/login", None, None),
        ("POST", "/login"): ("public", "/login", None, None),
        ("POST", "/logout"): ("reviewer", "/logout", None, None),
        ("GET", "/"): ("reviewer", "/", None, None),
        ("GET", "/documents/{doc_id}"): ("reviewer", f"/documents/{doc}", None, None),
        ("GET", "/search"): ("reviewer", "/search?q=jumps", None, None),
        ("GET", "/review"): ("reviewer", "/review", None, None),
        ("GET", "/my-work"): ("reviewer", "/my-work", None, None),
        ("GET", "/pages/{page_id}/image"): ("reviewer", "/pages/1/image", None, None),
        ("GET", "/lines/{line_id}/image"): ("reviewer", f"/lines/{line}/image", None, None),
        ("GET", "/api/documents"): ("reviewer", "/api/documents", None, None),
        ("GET", "/api/documents/{doc_id}"): ("reviewer", f"/api/documents/{doc}?format=txt", None, None),
        ("GET", "/api/documents/{doc_id}/activity"): ("reviewer", f"/api/documents/{doc}/activity", None, None),
        ("GET", "/api/search"): ("reviewer", "/api/search?q=jumps", None, None),
        ("GET", "/api/review"): ("reviewer", "/api/review", None, None),
        ("GET", "/api/my-work"): ("reviewer", "/api/my-work", None, None),
        ("GET", "/api/progress"): ("reviewer", "/api/progress", None, None),
        ("PUT", "/api/lines/{line_id}"): ("reviewer", "/api/lines/{own_line}", "save", None),
        ("POST", "/api/lines/{line_id}/accept"): ("reviewer", f"/api/lines/{line}/accept", None, None),
        ("GET", "/api/lines/{line_id}/history"): ("reviewer", f"/api/lines/{line}/history", None, None),
        ("POST", "/api/lines/{line_id}/undo"): ("reviewer", f"/api/lines/{line}/undo", stale, None),
        ("POST", "/api/lines/{line_id}/revert"): ("reviewer", f"/api/lines/{line}/revert", stale, None),
        ("POST", "/api/lines/{line_id}/merge"): ("reviewer", f"/api/lines/{line}/merge", {**stale, "next_version": 999}, None),
        ("POST", "/api/lines/{line_id}/split"): ("reviewer", f"/api/lines/{line}/split", {**stale, "at": 3}, None),
        ("POST", "/api/lines/{line_id}/delete"): ("reviewer", f"/api/lines/{line}/delete", stale, None),
        ("GET", "/api/pages/{page_id}/lines"): ("reviewer", "/api/pages/1/lines", None, None),
        ("POST", "/api/pages/{page_id}/lines"): ("reviewer", "/api/pages/1/lines", {"box": [1, 1, 4, 4]}, None),
        ("POST", "/api/pages/{page_id}/presence"): ("reviewer", "/api/pages/1/presence", None, None),
        ("GET", "/documents/{doc_id}/fields"): ("reviewer", f"/documents/{doc}/fields", None, None),
        ("GET", "/api/documents/{doc_id}/fields"): ("reviewer", f"/api/documents/{doc}/fields", None, None),
        ("PUT", "/api/fields/{field_id}"): ("reviewer", "/api/fields/999", {"value": "x"}, None),
        ("GET", "/fields/{field_id}/image"): ("reviewer", "/fields/999/image", None, None),
        ("GET", "/api/me"): ("reviewer", "/api/me", None, None),
        ("GET", "/tokens"): ("reviewer", "/tokens", None, None),
        ("POST", "/tokens"): ("reviewer", "/tokens", None, {"name": "web", "days": "30"}),
        ("POST", "/tokens/{token_id}/revoke"): ("reviewer", "/tokens/{own_token}/revoke", None, {}),
        ("GET", "/api/tokens"): ("reviewer", "/api/tokens", None, None),
        ("POST", "/api/tokens"): ("reviewer", "/api/tokens", {"name": "api", "days": 7}, None),
        ("DELETE", "/api/tokens/{token_id}"): ("reviewer", "/api/tokens/{own_token}", None, None),
        ("GET", "/people"): ("admin", "/people", None, None),
        ("POST", "/people"): ("admin", "/people", None, {"name": "ola", "password": "a fresh long secret"}),
        ("POST", "/people/role"): ("admin", "/people/role", None, {"name": "vic", "role": "reviewer"}),
        ("POST", "/people/remove"): ("admin", "/people/remove", None, {"name": "ola"}),
        ("GET", "/api/users"): ("admin", "/api/users", None, None),
        ("POST", "/api/users"): ("admin", "/api/users", {"name": "uma", "password": "another long secret"}, None),
        ("PUT", "/api/users/{name}"): ("admin", "/api/users/vic", {"role": "reviewer"}, None),
        ("DELETE", "/api/users/{name}"): ("admin", "/api/users/uma", None, None),
        ("GET", "/api/assignments"): ("admin", "/api/assignments", None, None),
        ("POST", "/api/assignments"): ("admin", "/api/assignments", {"document_id": doc, "user": "rita"}, None),
        ("DELETE", "/api/assignments/{assignment_id}"): ("admin", "/api/assignments/999", None, None),
        ("POST", "/documents/{doc_id}/assign"): ("admin", f"/documents/{doc}/assign", None, {"user": "rita"}),
        ("DELETE", "/api/documents/{doc_id}"): ("admin", f"/api/documents/{other_doc}", None, None),
    }


def _refused(r) -> bool:
    return r.status_code in (401, 403) or (r.status_code == 303 and "/login" in r.headers.get("location", ""))


def _as_ruled(who: str, role: str, r) -> bool:
    """Whether an answer keeps the rules: public routes answer everyone, the others refuse the anonymous
    (401, or the login page), admins' routes refuse reviewers (403), and the allowed are let through
    (an answer about the data, 404 or 409, is still through; logging out sends to the login page)."""
    if who == "public":
        return r.status_code < 500
    if role == "anonymous":
        return r.status_code == 401 or (r.status_code == 303 and r.headers["location"].startswith("/login"))
    if who == "admin" and role == "reviewer":
        return r.status_code == 403
    return r.status_code not in (401, 403) and r.status_code < 500


def route_matrix(base: str, seeded: dict, app_routes: set[tuple[str, str]]) -> None:
    ana = session(base, "ana", "192.0.2.21")

    def fresh_token(owner: str) -> int:
        return ana.post("/api/tokens", json={"name": "to revoke", "user": owner}).json()["id"]

    rules = _rules(seeded)
    missing = app_routes - set(rules)
    if missing:
        print(f"  ROUTES WITHOUT A RULE HERE: {sorted(missing)}")
    clients = {
        "anonymous": client(base, "192.0.2.30"),
        "reviewer": session(base, "rita", "192.0.2.31"),
        "admin": ana,
    }
    wrong, headers_missing, counts = [], 0, {"refused": 0, "through": 0}
    print(f"  {'route':44} {'anonymous':>10} {'reviewer':>9} {'admin':>6}")
    for (method, route), (who, path, body, form) in rules.items():
        row = []
        for role, c in clients.items():
            if route == "/logout" and role != "anonymous":  # a session of its own: the matrix's goes on
                c = session(base, "ana" if role == "admin" else "rita", "192.0.2.40")
            p = path.replace("{own_token}", str(fresh_token("rita" if role != "admin" else "vic")))
            own_line = seeded["lines"][{"anonymous": 0, "reviewer": 0, "admin": 2}[role]]  # each saves a line not saved before
            p = p.replace("{own_line}", str(own_line))
            b = {"text": f"read by {role}", "version": 1} if body == "save" else body
            r = c.request(method, p, json=b, data=form)
            headers_missing += any(h not in r.headers for h in HEADERS)
            counts["refused" if _refused(r) else "through"] += 1
            if not _as_ruled(who, role, r):
                wrong.append((method, route, role, r.status_code))
            row.append(str(r.status_code))
        print(f"  {method + ' ' + route:44} {row[0]:>10} {row[1]:>9} {row[2]:>6}")
    print(
        f"  {sum(len(clients) for _ in rules)} requests: {counts['refused']} refused (401/403/login), {counts['through']} served; "
        f"against the rules: {wrong or 'none'}; answers without the security headers: {headers_missing}"
    )
    big = [2**63, 2**63 + 1, 10**30]
    paths = ["/documents/{}", "/api/documents/{}", "/api/lines/{}/history", "/lines/{}/image", "/pages/{}/image"]
    codes = [ana.get(p.format(b)).status_code for b in big for p in paths]
    print(f"  ids >= 2**63 on {len(codes)} requests: {sorted(set(codes))} (404 wanted)")
    for c in clients.values():
        c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parallel", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--guesses", type=int, default=60)
    parts = ["logins", "passwords", "saves", "routes"]
    ap.add_argument("--parts", nargs="+", choices=parts, default=parts)
    args = ap.parse_args()

    from tests.services import free_port, wait_port

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, seeded = seed(folder)
        store = f"file://{folder / 'store'}"
        app_routes = routes_of_app(url, store)
        port = free_port()
        env = {**os.environ, "HTR_DATABASE_URL": url, "HTR_STORE_URL": store}
        server = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "--log-level", "warning", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_port("127.0.0.1", port, timeout=120)
            print(f"htr serve on {base} (SQLite, {os.cpu_count()} CPUs)")
            if "logins" in args.parts:
                print("Parallel logins (correct password, one address each):")
                for n in args.parallel:
                    parallel_logins(base, seeded["token"], n)
            if "passwords" in args.parts:
                print("Wrong passwords:")
                wrong_passwords(base, args.guesses)
            if "saves" in args.parts:
                print("Stale saves:")
                stale_saves(base, seeded["lines"][1])
            if "routes" in args.parts:
                print("Every route by role (status codes):")
                route_matrix(base, seeded, app_routes)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
