"""The review app's rules through its HTTP interface (FastAPI's test client,
real SQLite and PostgreSQL), corrections as training data, and users."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.fixtures import web_login as _login
from worker.db import Line, LineEdit, Word
from worker.db.corrections import realign
from worker.db.users import add_token, add_user
from worker.export import FORMATS
from worker.web.app import api_routes

ROOT = Path(__file__).resolve().parents[1]


def test_nothing_is_served_without_a_login(site):
    app, *_ = site
    client = TestClient(app, follow_redirects=False)
    checked = 0
    for route in api_routes(app):
        if route.path == "/login":
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


def test_login_needs_its_csrf_token_and_failures_are_throttled(site):
    app, *_ = site
    app.state.login_throttle.clock = lambda: 1000.0  # its waits do not run out during the test
    client = TestClient(app, follow_redirects=False)
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/login", data={"name": "rita", "password": "correct horse"}).status_code == 403
    for _ in range(3):
        r = client.post("/login", data={"name": "rita", "password": "wrong horse", "csrf_token": csrf})
        assert r.status_code == 401 and "wrong name or password" in r.text
    r = client.post("/login", data={"name": "rita", "password": "correct horse", "csrf_token": csrf})
    assert r.status_code == 429 and "too many failed logins from here" in r.text  # this address waits a moment
    r = client.post("/login", data={"name": "nobody", "password": "correct horse", "csrf_token": csrf})
    assert r.status_code == 401 and "wrong name or password" in r.text


def test_a_save_corrects_the_line_its_words_search_and_every_export(site):
    app, sessions, _store, doc_id, _ = site
    client = TestClient(app, follow_redirects=False)
    csrf = _login(client)
    queue = client.get("/api/review").json()
    assert queue["left"] == 3
    assert [l["text"] for l in queue["lines"]] == ["fax jumps", "the quick brown", "over the dog"]  # least sure first
    teach = client.get("/api/review", params={"teach": "true"}).json()["lines"]
    assert [l["text"] for l in teach] == ["the quick brown", "fax jumps", "over the dog"]  # most characters expected wrong
    page = client.get("/review", params={"teach": 1}).text
    assert 'data-order="teach"' in page and '<a href="/review?spread=1">' in page and '<a href="/review?">' in page
    fax, version = queue["lines"][0]["line_id"], queue["lines"][0]["version"]
    assert client.put(f"/api/lines/{fax}", json={"text": "fox jumps", "version": version}).status_code == 403  # no CSRF token
    r = client.put(f"/api/lines/{fax}", json={"text": "  fox   jumps ", "version": version}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["text"] == "fox jumps" and r.json()["reviewed_by"] == "rita"
    assert r.json()["version"] == version + 1
    assert client.get("/api/review").json()["left"] == 2
    hits = client.get("/api/search", params={"q": "fox"}).json()["hits"]
    assert [h["text"] for h in hits] == ["fox jumps"] and hits[0]["words"][0]["text"] == "fox"
    assert hits[0]["words"][0]["confidence"] == 1.0  # reviewed words count as certain
    assert client.get("/api/search", params={"q": "fax"}).json()["hits"] == []
    for fmt, needle in (("txt", "fox jumps"), ("alto", 'CONTENT="fox"'), ("hocr", ">fox<"), ("json", '"fox"')):
        assert needle in client.get(f"/api/documents/{doc_id}", params={"format": fmt}).text, fmt
    pagexml = client.get(f"/api/documents/{doc_id}", params={"format": "pagexml"}).text
    media = {f: client.get(f"/api/documents/{doc_id}", params={"format": f}).headers["content-type"] for f in FORMATS}
    assert media == {
        "txt": "text/plain; charset=utf-8",
        "json": "application/json",
        "alto": "application/xml",
        "pagexml": "application/xml",
        "hocr": "text/html; charset=utf-8",
        "csv": "text/csv; charset=utf-8",
    }
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
    assert client.put("/api/lines/999999", json={"text": "x", "version": 1}, headers=auth).status_code == 404
    too_long = {"text": "x" * 3000, "version": line["version"] + 1}
    assert client.put(f"/api/lines/{line['line_id']}", json=too_long, headers=auth).status_code == 400
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


def test_a_stale_save_is_refused_and_the_newer_text_shown(site):
    app, sessions, _store, _doc_id, _ = site
    with sessions() as s:
        add_user(s, "ana", "battery staple", "reviewer")
        token = add_token(s, "ana", "script")
        s.commit()
    client = TestClient(app, follow_redirects=False)
    csrf = {"X-CSRF-Token": _login(client)}
    ana = {"Authorization": f"Bearer {token}"}
    line = client.get("/api/review").json()["lines"][0]  # both open "fax jumps" at the same version
    opened = line["version"]
    first = client.put(f"/api/lines/{line['line_id']}", json={"text": "fox jumps", "version": opened}, headers=ana)
    assert first.status_code == 200 and first.json()["version"] == opened + 1
    late = client.put(f"/api/lines/{line['line_id']}", json={"text": "fix jumps", "version": opened}, headers=csrf)
    assert late.status_code == 409
    body = late.json()
    assert "changed by ana since you opened it" in body["detail"] and "not saved" in body["detail"]
    assert (body["line"]["text"], body["line"]["version"], body["line"]["reviewed_by"]) == ("fox jumps", opened + 1, "ana")
    stale_accept = client.post(f"/api/lines/{line['line_id']}/accept", json={"version": opened}, headers=csrf)
    assert stale_accept.status_code == 409 and stale_accept.json()["line"]["text"] == "fox jumps"
    assert client.put(f"/api/lines/{line['line_id']}", json={"text": "fix jumps"}, headers=csrf).status_code == 422  # no version
    history = client.get(f"/api/lines/{line['line_id']}/history").json()["history"]
    assert [(h["user"], h["new_text"]) for h in history] == [("ana", "fox jumps")]  # the late save changed nothing
    # Saved again from the version now shown, it goes through.
    again = client.put(f"/api/lines/{line['line_id']}", json={"text": "fix jumps", "version": opened + 1}, headers=csrf)
    assert again.status_code == 200 and again.json()["version"] == opened + 2


def test_of_two_saves_of_one_version_the_database_lets_one_through(site):
    from worker.db.corrections import StaleLine, review_line

    _app, sessions, *_ = site
    with sessions() as a, sessions() as b:
        line_a = a.scalars(select(Line).order_by(Line.id)).first()
        line_b = b.get(Line, line_a.id)  # both sessions read the line before either saves
        version = line_b.version
        review_line(a, line_a.id, "ana", "the quick brown fox", version)
        a.commit()
        with pytest.raises(StaleLine) as stale:
            review_line(b, line_b.id, "rita", "the quack brown fox", version)
        b.rollback()
        assert stale.value.line.text == "the quick brown fox" and stale.value.line.version == version + 1
    with sessions() as s:
        assert s.get(Line, line_a.id).text == "the quick brown fox"
        assert s.scalar(select(func.count()).select_from(LineEdit)) == 1


def test_control_characters_are_taken_out_at_save_and_exports_stay_valid(site):
    from lxml import etree

    from tests.test_export import page_xsd

    app, sessions, _store, doc_id, _ = site
    client = TestClient(app, follow_redirects=False)
    csrf = {"X-CSRF-Token": _login(client)}
    line = client.get("/api/review").json()["lines"][0]
    typed = "fox\x00 ju\x1b[2Jmps\x07\ufffe\tover\x0b\x85the\x7f"
    r = client.put(f"/api/lines/{line['line_id']}", json={"text": typed, "version": line["version"]}, headers=csrf)
    assert r.status_code == 200 and r.json()["text"] == "fox ju[2Jmps over the"
    assert [w["text"] for w in r.json()["words"]] == ["fox", "ju[2Jmps", "over", "the"]
    with sessions() as s:
        assert s.get(Line, line["line_id"]).text == "fox ju[2Jmps over the"
    schema = etree.XMLSchema(etree.parse(str(page_xsd())))
    pages = client.get(f"/api/documents/{doc_id}", params={"format": "pagexml"})
    assert schema.validate(etree.fromstring(pages.content)), schema.error_log
    for fmt in ("alto", "hocr"):
        assert b"ju[2Jmps" in etree.tostring(
            etree.fromstring(client.get(f"/api/documents/{doc_id}", params={"format": fmt}).content)
        )


def test_no_word_box_is_a_sliver():
    line = Line(x0=100, y0=10, x1=500, y1=70, text="ab")
    line.words = [Word(index=0, x0=300, y0=10, x1=302, y1=70, text="ab", confidence=0.5)]
    split = realign(line, "a b c d e f")  # six words where one narrow word was read
    assert len(split) == 6 and all(w.x1 - w.x0 >= 15 for w in split)  # a quarter of the line's height, at least
    assert all(line.x0 <= w.x0 < w.x1 <= line.x1 for w in split)
    at_edge = Line(x0=100, y0=10, x1=500, y1=70, text="x")
    at_edge.words = [Word(index=0, x0=499, y0=10, x1=500, y1=70, text="x", confidence=0.5)]
    ((w,),) = [realign(at_edge, "x y")[1:]]
    assert w.x1 - w.x0 >= 15 and w.x1 <= 500


def test_htr_serve_prints_the_url_it_listens_on(tmp_path):
    import os
    import select
    import time

    import httpx

    env = {
        **os.environ,
        "HTR_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite'}",
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, line = time.time() + 120, ""
        while not line and time.time() < deadline and proc.poll() is None:
            if select.select([proc.stdout], [], [], 0.5)[0]:
                line = proc.stdout.readline()
        m = re.fullmatch(r"htr serve: listening on (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C stops\)\n", line)
        assert m and int(m.group(2)) > 0, (line, proc.stderr.read() if proc.poll() is not None else "")
        r = httpx.get(m.group(1) + "login", timeout=30)
        assert r.status_code == 200 and 'name="password"' in r.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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


def test_self_training_exports_the_runs_of_surely_read_words_of_unreviewed_lines(site):
    from training.datasets.folder import LabelsFolder
    from worker.db.corrections import review_line
    from worker.export.training import export_confident

    _app, sessions, store, doc_id, tmp_path = site
    with sessions() as s:
        manifest = export_confident(s, store, tmp_path / "sure", [doc_id])
        assert manifest["word_count"] == 3 and manifest["self_train"]["min_confidence"] == 0.95
        sure = LabelsFolder(tmp_path / "sure")
        assert sure.texts() == ["the", "over the"]  # 0.97; 0.99 and 0.99 side by side, one crop
        assert [(w["line"], w["words"], w["confidence"]) for w in manifest["spans"]] == [(1, [1, 1], 0.97), (3, [1, 2], 0.99)]
        crops = [sure.load(i)[0] for i in range(2)]
        assert sure.items[0].path.parent.name == "spans"  # the line's height, the run's width
        assert all(70 <= c.shape[0] <= 80 for c in crops) and crops[0].shape[1] < 200 < crops[1].shape[1] < 600
        lower = export_confident(s, store, tmp_path / "lower", [doc_id], min_confidence=0.6)
        assert lower["word_count"] == 6 and LabelsFolder(tmp_path / "lower").texts() == ["the", "brown", "jumps", "over the dog"]
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
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    assert htr("user", "add", "ana", "--password-stdin", stdin="another password\n").returncode == 2
    assert htr("user", "list").stdout == "ana\tadmin\n"
    token = htr("token", "add", "ana").stdout.strip()
    assert token.startswith("htr_") and len(token) > 30
    assert htr("user", "remove", "ana").returncode == 0 and htr("user", "list").stdout == ""


def test_the_queue_spread_over_pages_takes_each_pages_least_sure_line_first(site):
    from tests.fixtures import seed_document
    from worker.db.corrections import review_queue

    _app, sessions, store, doc_id, tmp_path = site
    other = seed_document(sessions, store, tmp_path / "other.png", [[("alpha", 0.2)], [("beta", 0.1)], [("gamma", 0.3)]])
    with sessions() as s:
        plain = [(q.document_id, q.text) for q in review_queue(s, limit=4)]
        spread = [(q.document_id, q.text) for q in review_queue(s, limit=4, spread=True)]
        teach = [(q.document_id, q.text) for q in review_queue(s, limit=4, teach=True)]
    assert plain == [(other, "beta"), (doc_id, "fax jumps"), (other, "alpha"), (other, "gamma")]
    assert spread == [(other, "beta"), (doc_id, "fax jumps"), (other, "alpha"), (doc_id, "the quick brown")]
    # Characters expected wrong: "the quick brown" 3 x 0.03 + 5 x 0.69 + 5 x 0.12 = 4.14, "alpha" 4.0,
    # "beta" 3.6, "fax jumps" 2.99; each page's first, then each page's second.
    assert teach == [(doc_id, "the quick brown"), (other, "alpha"), (other, "beta"), (doc_id, "fax jumps")]
