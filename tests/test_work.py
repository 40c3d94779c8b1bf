"""Shared review work through the HTTP interface (real SQLite and PostgreSQL): admins assign
documents or pages, a reviewer's "my work" and review queue hold theirs with their progress,
progress per reviewer, and who else has a page open."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures import REVIEW_LINES, seed_document, web_login
from worker.db.users import add_token, add_user


def _people(site) -> tuple[TestClient, dict, dict, int]:
    """rita (a browser session), ana (an admin's token), the id of a second document."""
    app, sessions, store, _doc, tmp_path = site
    other = seed_document(sessions, store, tmp_path / "second.png", REVIEW_LINES[:2])
    with sessions() as s:
        add_user(s, "ana", "battery staple horse", "admin")
        token = add_token(s, "ana", "script")
        s.commit()
    rita = TestClient(app, follow_redirects=False)
    csrf = {"X-CSRF-Token": web_login(rita)}
    return rita, csrf, {"Authorization": f"Bearer {token}"}, other


def test_assigned_work_is_a_reviewers_queue_with_its_progress(site):
    rita, csrf, ana, other = _people(site)
    doc_id = site[3]
    assert rita.get("/api/my-work").json() == {"assignments": [], "left": 0}
    refused = rita.post("/api/assignments", json={"document_id": doc_id, "user": "rita"}, headers=csrf)
    assert refused.status_code == 403  # only admins assign
    made = rita.post("/api/assignments", json={"document_id": other, "user": "rita", "page": 1}, headers=ana)
    assert made.status_code == 201 and made.json()["page"] == 1
    bad = [
        rita.post("/api/assignments", json={"document_id": other, "user": "nobody"}, headers=ana),
        rita.post("/api/assignments", json={"document_id": other, "user": "rita", "page": 2}, headers=ana),
        rita.post("/api/assignments", json={"document_id": 999, "user": "rita"}, headers=ana),
    ]
    assert [r.status_code for r in bad] == [400, 400, 404] and "no page 2" in bad[1].json()["detail"]
    mine = rita.get("/api/my-work").json()
    assert mine["left"] == 2 and [(a["document_id"], a["page"], a["lines"], a["reviewed"]) for a in mine["assignments"]] == [
        (other, 1, 2, 0)
    ]
    queue = rita.get("/api/review", params={"mine": True}).json()
    assert queue["left"] == 2 and {ln["document_id"] for ln in queue["lines"]} == {other}
    assert rita.get("/api/review").json()["left"] == 5  # the whole queue still holds both documents
    line = queue["lines"][0]
    assert (
        rita.put(
            f"/api/lines/{line['line_id']}", json={"text": "fox jumps", "version": line["version"]}, headers=csrf
        ).status_code
        == 200
    )
    mine = rita.get("/api/my-work").json()
    assert mine["left"] == 1 and mine["assignments"][0]["reviewed"] == 1 and mine["assignments"][0]["next_page"] == 1
    # Given to ana instead: gone from rita's work; the whole document to rita as well.
    assert rita.post("/api/assignments", json={"document_id": other, "user": "ana", "page": 1}, headers=ana).status_code == 201
    assert rita.get("/api/my-work").json()["assignments"] == []
    whole = rita.post("/api/assignments", json={"document_id": doc_id, "user": "rita"}, headers=ana).json()
    assert rita.get("/api/review", params={"mine": True}).json()["left"] == 3
    page = rita.get("/my-work").text
    assert f'href="/documents/{doc_id}?page_no=1"' in page and "0 / 3" in page
    progress = rita.get("/api/progress").json()
    assert {d["id"]: (d["lines"], d["reviewed"]) for d in progress["documents"]} == {doc_id: (3, 0), other: (2, 1)}
    assert progress["reviewers"] == [{"user": "rita", "lines": 1, "saves": 1, "last": progress["reviewers"][0]["last"]}]
    assert len(rita.get("/api/assignments", headers=ana).json()["assignments"]) == 2
    assert rita.delete(f"/api/assignments/{whole['id']}", headers=ana).status_code == 200
    assert rita.delete(f"/api/assignments/{whole['id']}", headers=ana).status_code == 404
    assert rita.get("/api/my-work").json() == {"assignments": [], "left": 0}


def test_admins_assign_from_the_documents_page(site):
    app, sessions, *_ = site
    with sessions() as s:
        add_user(s, "ana", "battery staple horse", "admin")
        s.commit()
    admin = TestClient(app, follow_redirects=False)
    csrf = web_login(admin, "ana", "battery staple horse")
    listing = admin.get("/").text
    assert 'action="/documents/1/assign"' in listing and "<option>rita</option>" in listing
    r = admin.post("/documents/1/assign", data={"user": "rita", "page": "", "csrf_token": csrf})
    assert r.status_code == 303
    assert "<div>rita</div>" in admin.get("/").text
    rita = TestClient(app, follow_redirects=False)
    web_login(rita)
    assert 'action="/documents/1/assign"' not in rita.get("/").text  # reviewers see, admins assign
    assert rita.get("/api/my-work").json()["left"] == 3


def test_two_people_on_one_page_see_each_other(site):
    rita, csrf, ana, _other = _people(site)
    assert rita.post("/api/pages/1/presence", headers=csrf).json() == {"others": []}
    seen = rita.post("/api/pages/1/presence", headers=ana).json()["others"]
    assert [o["user"] for o in seen] == ["rita"]
    assert [o["user"] for o in rita.post("/api/pages/1/presence", headers=csrf).json()["others"]] == ["ana"]
    assert rita.post("/api/pages/1/presence", params={"leaving": True}, headers=ana).json() == {"others": []}
    assert rita.post("/api/pages/1/presence", headers=csrf).json() == {"others": []}
    assert rita.post("/api/pages/999/presence", headers=csrf).status_code == 404


def test_special_character_keys_by_language_or_spelled_out(site):
    import dataclasses

    import pytest

    from worker.settings import REVIEW_CHARS, Settings, SettingsError

    assert Settings.from_env({}).review_chars == REVIEW_CHARS and REVIEW_CHARS[:2] == ("é", "è")
    keys = Settings.from_env({"HTR_REVIEW_CHARS": "DE old ŉ ß"}).review_chars
    assert keys[:4] == ("ä", "ö", "ü", "ß") and "ſ" in keys and keys[-1] == "ŉ" and keys.count("ß") == 1
    with pytest.raises(SettingsError, match="'german' is neither a set"):
        Settings.from_env({"HTR_REVIEW_CHARS": "german"})
    # The pages show the keys they are given.
    app = site[0]
    app.state.web = dataclasses.replace(app.state.web, review_chars=("ſ", "ꝑ"))
    client = TestClient(app, follow_redirects=False)
    web_login(client)
    page = client.get("/documents/1").text
    assert 'data-char="ſ"' in page and 'data-char="ꝑ"' in page and 'data-char="é"' not in page
    assert 'data-char="ſ"' in client.get("/review").text
