"""Who may reach what in the review app, through its HTTP interface: roles on every
route, login throttling that cannot lock an owner out, password checks off the event
loop, API tokens (expiry, last use, revocation, stored hashed), the password policy,
security headers, ids too large for the database, and error pages."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from tests.fixtures import seed_document
from worker.db import ApiToken, Line, make_engine, session_factory, upgrade, utcnow
from worker.db import users as users_module
from worker.db.engine import largest_id
from worker.db.users import add_token, add_user, login, password_problem
from worker.io.store import LocalStore
from worker.settings import Settings
from worker.web.app import api_routes
from worker.web.throttle import ADDRESS_FREE, ALERT_WAIT, NAME_ALERT, PAIR_FREE, LoginThrottle, address_key

ROOT = Path(__file__).resolve().parents[1]
LINES = [[("the", 0.97), ("quick", 0.31)], [("fax", 0.12), ("jumps", 0.93)]]
PASSWORDS = {"rita": "correct horse", "ana": "battery staple", "vic": "victor's own words"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One seeded database (a document, a reviewer rita, an admin ana, a reviewer vic
    with a token, a browser session each for rita and ana) that each test copies."""
    root = tmp_path_factory.mktemp("seeded")
    url = f"sqlite:///{root / 'htr.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    doc_id = seed_document(sessions, LocalStore(root / "store"), root / "page.png", LINES)
    logins = {}
    with sessions() as s:
        for name, role in (("rita", "reviewer"), ("ana", "admin"), ("vic", "reviewer")):
            add_user(s, name, PASSWORDS[name], role)
        tokens = {"vic": add_token(s, "vic", "vic's script"), "rita": add_token(s, "rita", "rita's script")}
        s.commit()
        for name in ("rita", "ana"):
            logins[name] = login(s, name, PASSWORDS[name])
        ids = {t.name: t.id for t in s.scalars(select(ApiToken))}
        line_ids = [line.id for line in s.scalars(select(Line).order_by(Line.id))]
    engine.dispose()
    return root, doc_id, logins, tokens, ids, line_ids


class Site:
    def __init__(self, root: Path, seeded):
        src, self.doc_id, self.logins, self.tokens, self.token_ids, self.line_ids = seeded
        shutil.copy(src / "htr.sqlite", root / "htr.sqlite")
        shutil.copytree(src / "store", root / "store")
        self.url = f"sqlite:///{root / 'htr.sqlite'}"
        self.engine = make_engine(self.url)
        self.sessions = session_factory(self.engine)
        from worker.web.app import create_app

        # Lines are not read again by the model here (HTR_REVIEW_REREAD=off): these tests are about who may do what.
        self.app = create_app(Settings(database_url=self.url, store_url=f"file://{root / 'store'}", review_reread="off"))

    def freeze_clock(self) -> None:
        """The login throttle's clock stands still: its waits do not run out during a test."""
        self.app.state.login_throttle.clock = lambda: 1000.0

    def client(self, role: str = "anonymous", address: str = "203.0.113.9") -> TestClient:
        """A client logged in as ``role`` (its session cookie, and its CSRF token on every request)."""
        client = TestClient(self.app, follow_redirects=False, client=(address, 50000))
        if role != "anonymous":
            token, ident = self.logins["ana" if role == "admin" else "rita"]
            client.cookies.set("htr_session", token)
            client.headers["X-CSRF-Token"] = ident.csrf_token
        return client


@pytest.fixture
def site(tmp_path, seeded):
    s = Site(tmp_path, seeded)
    yield s
    s.engine.dispose()


def _login_form(client: TestClient) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)


def _try_login(client: TestClient, name: str, password: str, csrf: str | None = None):
    csrf = csrf or _login_form(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf})


# -- roles on every route -------------------------------------------------------

# (method, route path) -> who may: "public", "reviewer" (every logged-in person) or "admin";
# and the request sent: the path's values, a JSON body or a form, and the status wanted.
R, A = "reviewer", "admin"
ROUTES = {
    ("GET", "/login"): ("public", "/login", None, None, 200),
    ("POST", "/login"): ("public", "/login", None, None, 403),  # no login CSRF token: refused before anything
    ("POST", "/logout"): (R, "/logout", None, None, 303),
    ("GET", "/"): (R, "/", None, None, 200),
    ("GET", "/documents/{doc_id}"): (R, "/documents/{doc}", None, None, 200),
    ("GET", "/search"): (R, "/search?q=jumps", None, None, 200),
    ("GET", "/review"): (R, "/review", None, None, 200),
    ("GET", "/pages/{page_id}/image"): (R, "/pages/1/image", None, None, 200),
    ("GET", "/lines/{line_id}/image"): (R, "/lines/{line}/image", None, None, 200),
    ("GET", "/api/documents"): (R, "/api/documents", None, None, 200),
    ("GET", "/api/documents/{doc_id}"): (R, "/api/documents/{doc}?format=txt", None, None, 200),
    ("GET", "/api/search"): (R, "/api/search?q=jumps", None, None, 200),
    ("GET", "/api/review"): (R, "/api/review", None, None, 200),
    ("PUT", "/api/lines/{line_id}"): (R, "/api/lines/{line}", {"text": "fox jumps", "version": 1}, None, 200),
    ("POST", "/api/lines/{line_id}/accept"): (R, "/api/lines/{line}/accept", None, None, 200),
    ("GET", "/api/lines/{line_id}/history"): (R, "/api/lines/{line}/history", None, None, 200),
    ("GET", "/api/pages/{page_id}/lines"): (R, "/api/pages/1/lines", None, None, 200),
    ("POST", "/api/lines/{line_id}/undo"): (R, "/api/lines/{line}/undo", {"version": 1}, None, 400),  # no save to undo
    ("POST", "/api/lines/{line_id}/revert"): (R, "/api/lines/{line}/revert", {"version": 1}, None, 400),  # no earlier version
    ("POST", "/api/lines/{line_id}/merge"): (R, "/api/lines/{line}/merge", {"version": 1, "next_version": 1}, None, 200),
    ("POST", "/api/lines/{line_id}/split"): (R, "/api/lines/{line}/split", {"at": 3, "version": 1}, None, 200),
    ("POST", "/api/lines/{line_id}/delete"): (R, "/api/lines/{line}/delete", {"version": 1}, None, 200),
    ("POST", "/api/pages/{page_id}/lines"): (R, "/api/pages/1/lines", {"box": [40, 5, 600, 60], "text": "a"}, None, 201),
    ("GET", "/api/documents/{doc_id}/activity"): (R, "/api/documents/{doc}/activity", None, None, 200),
    ("GET", "/my-work"): (R, "/my-work", None, None, 200),
    ("GET", "/api/my-work"): (R, "/api/my-work", None, None, 200),
    ("GET", "/api/progress"): (R, "/api/progress", None, None, 200),
    ("POST", "/api/pages/{page_id}/presence"): (R, "/api/pages/1/presence", None, None, 200),
    ("GET", "/api/assignments"): (A, "/api/assignments", None, None, 200),
    ("POST", "/api/assignments"): (A, "/api/assignments", {"document_id": 1, "user": "rita"}, None, 201),
    ("DELETE", "/api/assignments/{assignment_id}"): (A, "/api/assignments/999", None, None, 404),
    ("POST", "/documents/{doc_id}/assign"): (A, "/documents/{doc}/assign", None, {"user": "rita"}, 303),
    ("GET", "/documents/{doc_id}/fields"): (R, "/documents/{doc}/fields", None, None, 200),
    ("GET", "/api/documents/{doc_id}/fields"): (R, "/api/documents/{doc}/fields", None, None, 200),
    ("PUT", "/api/fields/{field_id}"): (R, "/api/fields/999", {"value": "x"}, None, 404),  # the page holds no fields
    ("GET", "/fields/{field_id}/image"): (R, "/fields/999/image", None, None, 404),
    ("GET", "/api/me"): (R, "/api/me", None, None, 200),
    ("GET", "/tokens"): (R, "/tokens", None, None, 200),
    ("POST", "/tokens"): (R, "/tokens", None, {"name": "new", "days": "30"}, 201),
    ("POST", "/tokens/{token_id}/revoke"): (R, "/tokens/{rita_token}/revoke", None, {}, 303),
    ("GET", "/api/tokens"): (R, "/api/tokens", None, None, 200),
    ("POST", "/api/tokens"): (R, "/api/tokens", {"name": "new", "days": 7}, None, 201),
    ("DELETE", "/api/tokens/{token_id}"): (R, "/api/tokens/{rita_token}", None, None, 200),
    ("GET", "/people"): (A, "/people", None, None, 200),
    ("POST", "/people"): (A, "/people", None, {"name": "ola", "password": "a fresh long secret", "role": "reviewer"}, 303),
    ("POST", "/people/role"): (A, "/people/role", None, {"name": "vic", "role": "admin"}, 303),
    ("POST", "/people/remove"): (A, "/people/remove", None, {"name": "vic"}, 303),
    ("GET", "/templates"): (A, "/templates", None, None, 200),
    ("GET", "/templates/{name}"): (A, "/templates/census", None, None, 404),  # none registered here
    ("GET", "/templates/{name}/image"): (A, "/templates/census/image", None, None, 404),
    ("GET", "/api/templates"): (A, "/api/templates", None, None, 200),
    ("GET", "/api/templates/{name}"): (A, "/api/templates/census", None, None, 404),
    ("PUT", "/api/templates/{name}/fields"): (A, "/api/templates/census/fields", {"fields": []}, None, 404),
    ("GET", "/api/users"): (A, "/api/users", None, None, 200),
    ("POST", "/api/users"): (A, "/api/users", {"name": "ola", "password": "a fresh long secret"}, None, 201),
    ("PUT", "/api/users/{name}"): (A, "/api/users/vic", {"role": "admin"}, None, 200),
    ("DELETE", "/api/users/{name}"): (A, "/api/users/vic", None, None, 200),
    ("DELETE", "/api/documents/{doc_id}"): (A, "/api/documents/{doc}", None, None, 200),
}


def test_every_route_has_a_rule(site):
    routes = {(m, r.path) for r in api_routes(site.app) for m in r.methods}
    assert routes == set(ROUTES), "a route without a rule here (or a rule for a route that is gone)"


@pytest.mark.parametrize("role", ["anonymous", "reviewer", "admin"])
@pytest.mark.parametrize("route", list(ROUTES), ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_by_role(site, route, role):
    who, path, body, form, ok = ROUTES[route]
    path = path.format(doc=site.doc_id, line=site.line_ids[0], rita_token=site.token_ids["rita's script"])
    r = site.client(role).request(route[0], path, json=body, data=form)
    if who == "public":
        assert r.status_code == ok, r.text
    elif role == "anonymous":
        assert r.status_code in (401, 303), r.text  # the API answers 401, pages send the browser to the login
        assert (
            r.status_code == 401
            if path.startswith("/api/") or path.endswith("/image")
            else r.headers["location"].startswith("/login")
        )
    elif who == "admin" and role == "reviewer":
        assert r.status_code == 403 and "only an admin" in r.text, r.text
    else:
        assert r.status_code == ok, r.text


def test_reviewers_manage_only_their_own_tokens(site):
    rita, ana = site.client("reviewer"), site.client("admin")
    vic_token = site.token_ids["vic's script"]
    assert [t["name"] for t in rita.get("/api/tokens").json()["tokens"]] == ["rita's script"]
    assert rita.get("/api/tokens", params={"user": "vic"}).status_code == 403
    assert rita.post("/api/tokens", json={"name": "x", "user": "vic"}).status_code == 403
    assert rita.delete(f"/api/tokens/{vic_token}").status_code == 404  # not hers: as if there were none
    assert rita.post(f"/tokens/{vic_token}/revoke").status_code == 404
    assert "vic's script" not in rita.get("/tokens").text
    assert {t["user"] for t in ana.get("/api/tokens").json()["tokens"]} == {"rita", "vic"}
    made = ana.post("/api/tokens", json={"name": "for vic", "user": "vic", "days": None})
    assert made.status_code == 201 and made.json()["user"] == "vic" and made.json()["expires_at"] is None
    assert ana.delete(f"/api/tokens/{vic_token}").status_code == 200
    assert rita.get("/api/me", headers={"Authorization": f"Bearer {site.tokens['vic']}"}).status_code == 401


def test_roles_take_effect_at_once_and_an_admin_cannot_demote_themselves(site):
    ana, rita = site.client("admin"), site.client("reviewer")
    assert ana.put("/api/users/ana", json={"role": "reviewer"}).status_code == 400
    assert ana.delete("/api/users/ana").status_code == 400
    assert ana.put("/api/users/rita", json={"role": "boss"}).status_code == 400
    assert ana.put("/api/users/nobody", json={"role": "admin"}).status_code == 404
    assert rita.get("/api/users").status_code == 403
    assert ana.put("/api/users/rita", json={"role": "admin"}).status_code == 200
    assert rita.get("/api/users").status_code == 200  # the same session, the new role
    assert ana.put("/api/users/rita", json={"role": "reviewer"}).status_code == 200
    assert rita.get("/api/users").status_code == 403
    assert ana.delete("/api/users/rita").status_code == 200
    assert rita.get("/api/me").status_code == 401  # her session ended with her
    assert ana.get("/api/me", headers={"Authorization": f"Bearer {site.tokens['rita']}"}).status_code == 401
    assert ana.post("/api/users", json={"name": "ana", "password": "yet another long one"}).status_code == 409
    assert ana.post("/api/users", json={"name": "ola", "password": "password1234"}).status_code == 400


def test_deleting_a_document_removes_its_rows_and_files(site, tmp_path):
    ana = site.client("admin")
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert len(files) == 2  # the original and its page image
    assert ana.delete(f"/api/documents/{site.doc_id}").status_code == 200
    assert ana.get(f"/api/documents/{site.doc_id}").status_code == 404
    assert ana.delete(f"/api/documents/{site.doc_id}").status_code == 404
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
    with site.sessions() as s:
        assert s.scalar(select(Line).limit(1)) is None


# -- logins: throttled, never locked, off the event loop -------------------------


def test_an_attacker_cannot_lock_the_owner_out(site):
    """Wrong passwords for rita from many addresses: the attackers are slowed, rita is not."""
    site.freeze_clock()
    refused = 0
    for i in range(NAME_ALERT + 5):
        attacker = site.client(address=f"198.51.100.{i % 7}")
        r = _try_login(attacker, "rita", f"guess number {i}")
        assert r.status_code in (401, 429)
        refused += r.status_code == 429
    attacker = site.client(address="198.51.100.1")
    r = _try_login(attacker, "rita", PASSWORDS["rita"])
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= ALERT_WAIT - 1  # even the right password waits here
    assert "too many failed logins from here" in r.text
    owner = site.client(address="192.0.2.44")  # her own address, never used by the attackers
    r = _try_login(owner, "rita", PASSWORDS["rita"])
    assert r.status_code == 303 and "htr_session=" in r.headers["set-cookie"]
    assert refused > 0


def test_the_owner_gets_in_from_her_browser_behind_the_attackers_address(site):
    """One address (a NAT, a proxy) for rita and an attacker: her browser, which logged in
    before, is counted on its own."""
    site.freeze_clock()
    shared = "198.51.100.200"
    browser = site.client(address=shared)
    assert _try_login(browser, "rita", PASSWORDS["rita"]).status_code == 303
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", browser.cookies.get("htr_device", path="/login"))
    browser.cookies.delete("htr_session")
    attacker = site.client(address=shared)
    codes = [_try_login(attacker, "rita", f"guess {i}").status_code for i in range(NAME_ALERT + 5)]
    assert codes[:PAIR_FREE] == [401] * PAIR_FREE and codes[-1] == 429
    assert _try_login(site.client(address=shared), "rita", PASSWORDS["rita"]).status_code == 429  # no device: the address waits
    forged = site.client(address=shared)
    forged.cookies.set("htr_device", "A" * 32, path="/login")  # a device id rita never logged in with
    assert _try_login(forged, "rita", PASSWORDS["rita"]).status_code == 429
    r = _try_login(browser, "rita", PASSWORDS["rita"])
    assert r.status_code == 303 and "htr_session=" in r.headers["set-cookie"]


def test_the_answers_do_not_tell_whether_a_name_exists(site):
    site.freeze_clock()

    def answers(name: str, address: str) -> list[tuple[int, str]]:
        client = site.client(address=address)
        csrf = _login_form(client)
        out = []
        for _ in range(PAIR_FREE + 1):
            r = _try_login(client, name, "not the password", csrf)
            body = re.sub(r'value="[^"]*"', "", r.text)  # the form's own token differs
            out.append((r.status_code, body.replace(name, "NAME")))
        return out

    assert answers("rita", "192.0.2.1") == answers("nosuchperson", "192.0.2.2")
    assert [code for code, _ in answers("rita", "192.0.2.3")] == [401] * PAIR_FREE + [429]


def test_the_throttle_waits_double_and_the_free_tries_do_not_come_back_in_parallel():
    now = [1000.0]
    t = LoginThrottle(clock=lambda: now[0])
    for _ in range(PAIR_FREE):
        assert t.start("10.0.0.1", "rita") == 0
        t.end("10.0.0.1", "rita", False)
    waits = []
    for _ in range(4):
        waits.append(t.start("10.0.0.1", "rita"))
        now[0] += waits[-1]
        assert t.start("10.0.0.1", "rita") == 0
        t.end("10.0.0.1", "rita", False)
    assert waits == [1, 2, 4, 8]
    assert t.start("10.0.0.2", "rita") == 0  # another address is not slowed
    t.end("10.0.0.2", "rita", True)
    # Tries in flight count: a burst gets the free tries, no more.
    burst = [t.start("10.0.0.3", "ana") for _ in range(10)]
    assert burst.count(0) == PAIR_FREE and all(w >= 1 for w in burst[PAIR_FREE:])
    # One address guessing many names: slowed after ADDRESS_FREE tries.
    results = []
    for i in range(ADDRESS_FREE + 1):
        w = t.start("10.0.0.4", f"name{i}")
        results.append(w)
        if w == 0:
            t.end("10.0.0.4", f"name{i}", False)
    assert results[:ADDRESS_FREE] == [0] * ADDRESS_FREE and results[ADDRESS_FREE] >= 1
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"


def test_a_known_device_is_counted_on_its_own():
    now = [0.0]
    t = LoginThrottle(clock=lambda: now[0])
    assert t.start("192.0.2.1", "rita", "dev-rita") == 0
    t.end("192.0.2.1", "rita", True, "dev-rita")
    for i in range(PAIR_FREE + 2):
        if t.start("192.0.2.1", "rita", f"dev-attacker-{i}") == 0:
            t.end("192.0.2.1", "rita", False, f"dev-attacker-{i}")
    assert t.start("192.0.2.1", "rita", "dev-new") > 0  # the shared address waits
    assert t.start("192.0.2.1", "rita", "dev-rita") == 0  # rita's browser does not
    t.end("192.0.2.1", "rita", True, "dev-rita")
    for i in range(PAIR_FREE + 2):
        if t.start("192.0.2.1", "ana", f"dev-attacker-{i}") == 0:
            t.end("192.0.2.1", "ana", False, f"dev-attacker-{i}")
    assert t.start("192.0.2.1", "ana", "dev-rita") > 0  # a device vouches only for the names it logged in as


def test_under_attack_known_and_new_addresses_still_get_in():
    now = [0.0]
    t = LoginThrottle(clock=lambda: now[0])
    assert t.start("192.0.2.10", "rita") == 0
    t.end("192.0.2.10", "rita", True)  # rita's usual address
    for i in range(NAME_ALERT):
        address = f"198.51.100.{i}"
        assert t.start(address, "rita") == 0
        t.end(address, "rita", False)
    assert t.start("198.51.100.0", "rita") >= ALERT_WAIT - 1  # an attacking address: one try per ALERT_WAIT at most
    assert t.start("192.0.2.99", "rita") == 0  # a new address: its first try goes through
    t.end("192.0.2.99", "rita", None)
    t.start("192.0.2.10", "rita")
    t.end("192.0.2.10", "rita", False)  # rita mistypes at her usual address
    assert t.start("192.0.2.10", "rita") == 0  # and may try again at once
    t.end("192.0.2.10", "rita", True)


def test_password_checks_run_off_the_event_loop(site, monkeypatch):
    """While one login's password is being checked, another request is served."""
    hashing, release = threading.Event(), threading.Event()
    where: list[threading.Thread] = []

    class HeldHasher:
        """The real hasher, whose ``verify`` waits for ``release`` once it has begun."""

        def __init__(self, real):
            self.real = real

        def verify(self, hash_, password):
            where.append(threading.current_thread())
            hashing.set()
            release.wait(60)
            return self.real.verify(hash_, password)

        def __getattr__(self, name):
            return getattr(self.real, name)

    monkeypatch.setattr(users_module, "_hasher", HeldHasher(users_module._hasher))
    with TestClient(site.app, follow_redirects=False) as client:
        csrf = _login_form(client)
        logged_in: list[int] = []
        served: list[int] = []
        first = threading.Thread(target=lambda: logged_in.append(_try_login(client, "rita", PASSWORDS["rita"], csrf).status_code))
        first.start()
        try:
            assert hashing.wait(60), "the login never reached the password check"
            other = threading.Thread(target=lambda: served.append(client.get("/login").status_code))
            other.start()
            other.join(60)
            assert served == [200], "no other request was served while a password was being checked"
        finally:
            release.set()
            first.join(60)
    assert logged_in == [303]
    assert where and where[0] is not threading.main_thread() and where[0].name.startswith("AnyIO worker thread")


# -- API tokens -------------------------------------------------------------------


def test_tokens_are_stored_hashed_shown_once_expire_and_record_their_last_use(site):
    rita = site.client("reviewer")
    page = rita.post("/tokens", data={"name": "laptop", "days": "30"})
    assert page.status_code == 201
    token = re.search(r'value="(htr_[^"]+)"', page.text).group(1)
    assert token not in rita.get("/tokens").text  # shown once
    with site.sessions() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == "laptop"))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.last_used_at is None
        stored = s.execute(text("SELECT * FROM api_tokens")).all()
        assert not any(token in str(v) for r in stored for v in r)
    bearer = {"Authorization": f"Bearer {token}"}
    anonymous = site.client()
    assert anonymous.get("/api/me", headers=bearer).json() == {"name": "rita", "role": "reviewer"}
    listed = {t["name"]: t for t in rita.get("/api/tokens").json()["tokens"]}
    assert listed["laptop"]["last_used_at"] is not None and not listed["laptop"]["expired"]
    assert "token" not in listed["laptop"] and "token_hash" not in listed["laptop"]
    with site.sessions() as s:
        s.scalar(select(ApiToken).where(ApiToken.name == "laptop")).expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    assert anonymous.get("/api/me", headers=bearer).status_code == 401
    assert {t["name"]: t for t in rita.get("/api/tokens").json()["tokens"]}["laptop"]["expired"] is True
    fresh = rita.post("/api/tokens", json={"name": "ci"}).json()
    assert fresh["token"].startswith("htr_") and fresh["expires_at"] is not None
    assert rita.delete(f"/api/tokens/{fresh['id']}").status_code == 200
    assert anonymous.get("/api/me", headers={"Authorization": f"Bearer {fresh['token']}"}).status_code == 401
    assert rita.post("/api/tokens", json={"name": "x", "days": 0}).status_code == 400


def _htr(tmp_path, *args, stdin=""):
    env = {
        "HTR_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite'}",
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], input=stdin, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_token_and_user_commands(tmp_path):
    missing = _htr(tmp_path, "user", "add", "--password-stdin", stdin="a long password\n")
    assert missing.returncode == 2 and "which user?" in missing.stderr and "Traceback" not in missing.stderr
    common = _htr(tmp_path, "user", "add", "bob", "--password-stdin", stdin="password1234\n")
    assert common.returncode == 2 and "most common" in common.stderr and "Traceback" not in common.stderr
    assert _htr(tmp_path, "user", "add", "ana", "--role", "admin", "--password-stdin", stdin="a long password\n").returncode == 0
    assert _htr(tmp_path, "user", "role", "--role", "admin").returncode == 2
    assert _htr(tmp_path, "user", "role", "ana").returncode == 2  # a role must be named
    token = _htr(tmp_path, "token", "add", "ana", "--name", "nightly", "--days", "7").stdout.strip()
    assert token.startswith("htr_")
    assert _htr(tmp_path, "token", "add").returncode == 2
    listed = _htr(tmp_path, "token", "list").stdout
    assert "nightly" in listed and "never used" in listed and "expires" in listed and token not in listed
    token_id = listed.split("\t")[0]
    assert _htr(tmp_path, "token", "revoke", token_id).returncode == 0
    assert _htr(tmp_path, "token", "list").stdout == ""
    assert _htr(tmp_path, "token", "revoke", "99999999999999999999999").returncode == 2


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short one", "at least 12"),
        ("password1234", "most common"),
        ("Qwertyuiop!!", "most common"),
        ("  iloveyou  2024", "most common"),
        ("aaaaaaaaaaaaaaaa", "different characters"),
        ("my name is rita!", "user name"),
        ("x" * 2000, "at most"),
        ("correct horse battery", None),
    ],
)
def test_password_policy(password, problem):
    found = password_problem("rita", password)
    assert (found is None) if problem is None else (problem in found)


# -- headers, ids, error pages -------------------------------------------------------


def test_every_response_carries_the_security_headers(site):
    rita, anonymous = site.client("reviewer"), site.client()
    responses = [
        anonymous.get("/login"),
        anonymous.get("/"),
        anonymous.get("/api/documents"),
        rita.get("/"),
        rita.get(f"/documents/{site.doc_id}"),
        rita.get("/review"),
        rita.get("/tokens"),
        rita.get("/api/review"),
        rita.get("/static/style.css"),
        rita.get("/static/review.js"),
        rita.get("/no/such/page"),
        rita.get("/pages/1/image"),
        rita.get(f"/lines/{site.line_ids[0]}/image"),
    ]
    for r in responses:
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, r.url
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    for image in responses[-2:]:
        assert image.status_code == 200 and image.headers["cache-control"] == "private, no-store"
    assert rita.get("/api/me").headers["cache-control"] == "no-store"
    client = site.client()
    r = _try_login(client, "rita", PASSWORDS["rita"])
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("htr_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_pages_have_no_inline_script_or_style(site):
    ana = site.client("admin")
    pages = ["/", f"/documents/{site.doc_id}", "/review", "/search?q=jumps", "/tokens", "/people", "/nowhere"]
    for path in pages + ["/login"]:
        html = (ana if path != "/login" else site.client()).get(path).text
        assert "<script" not in html.replace('<script src="/static/', ""), path  # scripts only from files
        assert not re.search(r"\son[a-z]+=", html) and " style=" not in html, path
    assert 'name="htr-csrf" content="' in ana.get("/review").text


def test_ids_too_large_for_the_database_are_not_found(tmp_path, db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    with sessions() as s:
        add_user(s, "ana", PASSWORDS["ana"], "admin")
        s.commit()
        token = add_token(s, "ana")
        s.commit()
    from worker.web.app import create_app

    app = create_app(Settings(database_url=db_url, store_url=f"file://{tmp_path / 'store'}"))
    client = TestClient(app, follow_redirects=False, headers={"Authorization": f"Bearer {token}"})
    largest = largest_id(engine.dialect.name)  # 2**31 - 1 on PostgreSQL, 2**63 - 1 on SQLite
    for big in (largest + 1, 2**63, 2**63 + 7, -(2**63) - 1, 10**40):
        for path in (
            f"/documents/{big}",
            f"/pages/{big}/image",
            f"/lines/{big}/image",
            f"/api/documents/{big}",
            f"/api/lines/{big}/history",
            f"/api/review?document={big}",
            f"/review?document={big}",
        ):
            assert client.get(path).status_code == 404, path
        assert client.put(f"/api/lines/{big}", json={"text": "x", "version": 1}).status_code == 404
        assert client.post(f"/api/lines/{big}/accept").status_code == 404
        assert client.delete(f"/api/tokens/{big}").status_code == 404
        assert client.delete(f"/api/documents/{big}").status_code == 404
    assert client.get("/documents/abc").status_code == 404
    engine.dispose()


def test_errors_are_pages_for_people_and_json_for_the_api(site, monkeypatch):
    from worker.web.routes import documents as documents_routes

    rita = site.client("reviewer")
    for path, status in (("/documents/999", 404), ("/documents/9223372036854775808", 404), ("/nowhere", 404), ("/people", 403)):
        r = rita.get(path)
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), path
        assert '<link rel="stylesheet" href="/static/style.css">' in r.text and f"<h1>{status} " in r.text
        assert "rita (reviewer)" in r.text  # the app's header, as on every page
    r = rita.get("/search", params={"min_prob": "lots"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    for path, status in (
        ("/api/documents/999", 404),
        ("/api/nowhere", 404),
        ("/api/users", 403),
        ("/api/search?q=a&limit=x", 422),
    ):
        r = rita.get(path)
        assert r.status_code == status and r.headers["content-type"] == "application/json" and "detail" in r.json(), path

    def broken(_session):
        raise RuntimeError("the database went away: SELECT secret FROM somewhere")

    monkeypatch.setattr(documents_routes, "document_rows", broken)
    crashing = TestClient(site.app, follow_redirects=False, raise_server_exceptions=False, cookies=rita.cookies)
    r = crashing.get("/")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html") and "went wrong" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"] and r.headers["x-content-type-options"] == "nosniff"
    assert "Traceback" not in r.text and "secret" not in r.text
    r = crashing.get("/api/documents")
    assert r.status_code == 500 and r.json() == {"detail": "something went wrong on the server"}
