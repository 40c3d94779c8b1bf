"""The review app's rules through its HTTP interface (FastAPI's test client,
real SQLite and PostgreSQL), corrections as training data, and users."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.fixtures import seed_document
from worker.db import Line, LineEdit, Word, make_engine, session_factory, upgrade
from worker.db.corrections import realign
from worker.db.users import add_token, add_user
from worker.io.store import LocalStore
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LINES = [
    [("the", 0.97), ("quick", 0.31), ("brown", 0.88)],
    [("fax", 0.12), ("jumps", 0.93)],
    [("over", 0.99), ("the", 0.99), ("dog", 0.64)],
]


@pytest.fixture
def site(tmp_path, db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    store = LocalStore(tmp_path / "store")
    doc_id = seed_document(sessions, store, tmp_path / "page.png", LINES)
    with sessions() as s:
        add_user(s, "rita", "correct horse", "reviewer")
        s.commit()
    settings = Settings(database_url=db_url, store_url=f"file://{tmp_path / 'store'}")
    from worker.web.app import create_app

    app = create_app(settings)
    yield app, sessions, store, doc_id, tmp_path
    engine.dispose()


def _login(client: TestClient, name: str = "rita", password: str = "correct horse") -> str:
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": csrf, "next": "/review"})
    assert r.status_code == 303 and r.headers["location"] == "/review", r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    return re.search(r'HTR_CSRF = "([^"]+)"', client.get("/review").text).group(1)


def test_nothing_is_served_without_a_login(site):
    app, *_ = site
    client = TestClient(app, follow_redirects=False)
    checked = 0
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path == "/login":
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.methods:
            r = client.request(method, path, json={"text": "x"})
            assert r.status_code in (401, 303), (method, path, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login?next=")
            else:
                assert path.startswith("/api/") or path.endswith("/image")
            checked += 1
    assert checked >= 14
    assert client.get("/api/documents", headers={"Authorization": "Bearer htr_wrong"}).status_code == 401


def test_login_needs_its_csrf_token_and_locks_after_failures(site):
    app, *_ = site
    client = TestClient(app, follow_redirects=False)
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/login", data={"name": "rita", "password": "correct horse"}).status_code == 403
    for _ in range(5):
        r = client.post("/login", data={"name": "rita", "password": "wrong horse", "csrf_token": csrf})
        assert r.status_code == 401 and "wrong name or password" in r.text
    r = client.post("/login", data={"name": "rita", "password": "correct horse", "csrf_token": csrf})
    assert r.status_code == 401 and "too many failed logins" in r.text  # the right password waits out the lock
    r = client.post("/login", data={"name": "nobody", "password": "correct horse", "csrf_token": csrf})
    assert r.status_code == 401 and "wrong name or password" in r.text


def test_a_save_corrects_the_line_its_words_search_and_every_export(site):
    app, sessions, _store, doc_id, _ = site
    client = TestClient(app, follow_redirects=False)
    csrf = _login(client)
    queue = client.get("/api/review").json()
    assert queue["left"] == 3
    assert [l["text"] for l in queue["lines"]] == ["fax jumps", "the quick brown", "over the dog"]  # least sure first
    fax = queue["lines"][0]["line_id"]
    assert client.put(f"/api/lines/{fax}", json={"text": "fox jumps"}).status_code == 403  # no CSRF token
    r = client.put(f"/api/lines/{fax}", json={"text": "  fox   jumps "}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["text"] == "fox jumps" and r.json()["reviewed_by"] == "rita"
    assert client.get("/api/review").json()["left"] == 2
    hits = client.get("/api/search", params={"q": "fox"}).json()["hits"]
    assert [h["text"] for h in hits] == ["fox jumps"] and hits[0]["words"][0]["text"] == "fox"
    assert hits[0]["words"][0]["confidence"] == 1.0  # reviewed words count as certain
    assert client.get("/api/search", params={"q": "fax"}).json()["hits"] == []
    for fmt, needle in (("txt", "fox jumps"), ("alto", 'CONTENT="fox"'), ("hocr", ">fox<"), ("json", '"fox"')):
        assert needle in client.get(f"/api/documents/{doc_id}", params={"format": fmt}).text, fmt
    pagexml = client.get(f"/api/documents/{doc_id}", params={"format": "pagexml"}).text
    assert "<Unicode>fox</Unicode>" in pagexml and "<Unicode>fox jumps</Unicode>" in pagexml
    history = client.get(f"/api/lines/{fax}/history").json()["history"]
    assert [(h["user"], h["action"], h["old_text"], h["new_text"]) for h in history] == [
        ("rita", "edit", "fax jumps", "fox jumps")
    ]
    with sessions() as s:
        words = s.query(Word).filter(Word.line_id == fax).order_by(Word.index).all()
        assert [(w.text, w.corrected_text) for w in words] == [("fax", "fox"), ("jumps", "jumps")]
        assert s.query(LineEdit).count() == 1


def test_accepting_a_line_and_scripts_with_a_token(site):
    app, sessions, _store, _doc_id, _ = site
    with sessions() as s:
        token = add_token(s, "rita", "nightly")
        s.commit()
    client = TestClient(app, follow_redirects=False)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=auth).json() == {"name": "rita", "role": "reviewer"}
    line = client.get("/api/review", headers=auth).json()["lines"][-1]
    r = client.post(f"/api/lines/{line['line_id']}/accept", headers=auth)  # a bearer token needs no CSRF token
    assert r.status_code == 200 and r.json()["text"] == "over the dog"
    history = client.get(f"/api/lines/{line['line_id']}/history", headers=auth).json()["history"]
    assert [h["action"] for h in history] == ["accept"]
    assert client.put("/api/lines/999999", json={"text": "x"}, headers=auth).status_code == 404
    assert client.put(f"/api/lines/{line['line_id']}", json={"text": "x" * 3000}, headers=auth).status_code == 400
    with sessions() as s:
        assert s.get(Line, line["line_id"]).reviewed_by == "rita"


def test_pages_show_boxes_low_confidence_words_and_search_hits(site):
    app, _sessions, _store, doc_id, _ = site
    client = TestClient(app, follow_redirects=False)
    _login(client)
    page = client.get(f"/documents/{doc_id}").text
    assert page.count('class="line-box"') == 3 and page.count("word-box low") == 2  # quick 0.31, fax 0.12
    assert client.get("/").text.count(f'href="/documents/{doc_id}"') == 1
    assert client.get("/pages/1/image").headers["content-type"] == "image/png"
    assert "document 1, page 1, line 2" in client.get("/search", params={"q": "jumps"}).text
    lines = client.get("/api/review").json()["lines"]
    img = client.get(f"/lines/{lines[0]['line_id']}/image")
    assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_words_realign_to_new_text():
    line = Line(x0=0, y0=10, x1=400, y1=50, text="to gether we go")
    line.words = [
        Word(index=i, x0=x0, y0=10, x1=x1, y1=50, text=t, confidence=0.5)
        for i, (t, x0, x1) in enumerate([("to", 0, 40), ("gether", 50, 150), ("we", 160, 200), ("go", 210, 250)])
    ]
    merged = realign(line, "together we went home")
    assert [(w.text, w.corrected_text, w.x0, w.x1) for w in merged] == [
        ("to gether", "together", 0, 150),
        ("we", "we", 160, 200),
        ("go", "went", 210, 230),  # one read word became two: its span shared out by length
        ("", "home", 230, 250),
    ]
    inserted = realign(line, "to gether we go now")
    assert [(w.corrected_text, w.x0, w.x1) for w in inserted][-1] == ("now", 250, 400)  # a new word takes the gap after
    assert all(w.confidence == 1.0 for w in merged) and [w.index for w in merged] == [0, 1, 2, 3]
    assert [w.corrected_text for w in realign(line, "")] == []


def test_corrections_export_writes_only_reviewed_lines(site):
    from training.datasets.folder import LabelsFolder
    from worker.db.corrections import review_line
    from worker.export.training import export_corrections

    _app, sessions, store, doc_id, tmp_path = site
    with sessions() as s:
        first = s.query(Line).order_by(Line.id).first()
        review_line(s, first.id, "rita", "the quick brown fox")
        s.commit()
        manifest = export_corrections(s, store, tmp_path / "out")
    assert manifest["line_count"] == 1 and manifest["reviewers"] == {"rita": 1} and manifest["documents"] == [doc_id]
    ds = LabelsFolder(tmp_path / "out")
    assert ds.texts() == ["the quick brown fox"]
    img, _ = ds.load(0)
    assert img.shape[0] >= 70 and img.shape[1] > 1000  # the line's crop from the stored page
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["lines"][0]["reviewed_by"] == "rita"


def test_self_training_exports_the_surely_read_words_of_unreviewed_lines(site):
    from training.datasets.folder import LabelsFolder
    from worker.db.corrections import review_line
    from worker.export.training import export_confident

    _app, sessions, store, doc_id, tmp_path = site
    with sessions() as s:
        manifest = export_confident(s, store, tmp_path / "sure", [doc_id])
        assert manifest["word_count"] == 3 and manifest["self_train"]["min_confidence"] == 0.95
        assert LabelsFolder(tmp_path / "sure").texts() == ["the", "over", "the"]  # 0.97, 0.99, 0.99
        assert [(w["line"], w["word"]) for w in manifest["words"]] == [(1, 1), (3, 1), (3, 2)]
        crops = [LabelsFolder(tmp_path / "sure").load(i)[0] for i in range(3)]
        line_crop = LabelsFolder(tmp_path / "sure").items[0].path.parent  # word crops: line height, the word's width
        assert line_crop.name == "words" and all(70 <= c.shape[0] <= 80 and c.shape[1] < 200 for c in crops)
        assert export_confident(s, store, tmp_path / "lower", [doc_id], min_confidence=0.6)["word_count"] == 6
        line = s.query(Line).filter(Line.text == "over the dog").one()
        review_line(s, line.id, "rita", "over the log")
        s.commit()
        after = export_confident(s, store, tmp_path / "after", [doc_id], min_confidence=0.6)
        assert LabelsFolder(tmp_path / "after").texts() == ["the", "brown", "jumps"]  # the reviewed line's words are gone
        assert after["word_count"] == 3


def test_user_commands(tmp_path):
    env = {
        "HTR_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite'}",
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
        "PATH": "/usr/bin:/bin",
    }

    def htr(*args, stdin=""):
        return subprocess.run(
            [sys.executable, "-m", "worker.cli", *args],
            input=stdin,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert htr("user", "add", "ana", "--role", "admin", "--password-stdin", stdin="a long password\n").returncode == 0
    short = htr("user", "add", "bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert htr("user", "add", "ana", "--password-stdin", stdin="another password\n").returncode == 2
    assert htr("user", "list").stdout == "ana\tadmin\n"
    token = htr("token", "add", "ana").stdout.strip()
    assert token.startswith("htr_") and len(token) > 30
    assert htr("user", "remove", "ana").returncode == 0 and htr("user", "list").stdout == ""
