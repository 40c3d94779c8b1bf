"""Search by field (``KEY:VALUE``) over stored fields (register cells, form fields): the query
function on SQLite and PostgreSQL, the JSON API, the search page and ``htr search``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from recognition.text import search_form
from tests.fixtures import web_login
from worker.db import Field, Page
from worker.db.queries import field_query, field_search


def _fields(sessions, doc_id: int) -> None:
    rows = [
        ("Nom des parties", "DUPONT Marie-Anne", 0.91, 0),
        ("Nom des parties", "Durand Pierre", 0.64, 1),
        ("Date de l'acte", "12 mars 1921", 0.88, 0),
        ("Nature de l'acte", "Vente Dupont", 0.77, 1),
    ]
    with sessions() as s:
        page = s.query(Page).filter(Page.document_id == doc_id).one()
        for i, (key, value, conf, row) in enumerate(rows):
            s.add(
                Field(
                    document_id=doc_id, page_id=page.id, row_index=row, column_index=i, field=key, label=key, value=value,
                    normalized=search_form(value), confidence=conf, x0=10 * i, y0=100 * row, x1=10 * i + 90, y1=100 * row + 40,
                )
            )  # fmt: skip
        s.commit()


def test_fields_are_found_by_key_and_value(site):
    app, sessions, _store, doc_id, _ = site
    _fields(sessions, doc_id)
    with sessions() as s:
        assert field_query(s, "nom:dupont") == ("nom", "dupont")
        assert field_query(s, "12:30") is None  # no field's key holds "12": a plain query
        assert field_query(s, "dupont") is None
        hits = field_search(s, "nom", "dupont")
        assert [(h.field, h.value, h.row, h.page) for h in hits] == [("Nom des parties", "DUPONT Marie-Anne", 1, 1)]
        assert [h.value for h in field_search(s, "NATURE", "Dupont")] == ["Vente Dupont"]  # the key decides
        assert [h.value for h in field_search(s, "nom", "marie dup")] == []  # words in order
        assert [h.value for h in field_search(s, "nom", "dup marie")] == ["DUPONT Marie-Anne"]
        assert [h.value for h in field_search(s, "acte", "1921")] == ["12 mars 1921"]
        assert [h.value for h in field_search(s, "date", "éte")] == []
    client = TestClient(app, follow_redirects=False)
    web_login(client)
    api = client.get("/api/search", params={"q": "nom:durand"}).json()
    assert api["kind"] == "fields" and [(h["value"], h["confidence"]) for h in api["hits"]] == [("Durand Pierre", 0.64)]
    assert client.get("/api/search", params={"q": "jumps"}).json()["kind"] == "lines"
    page = client.get("/search", params={"q": "acte:1921"}).text
    body = page[page.index("<main>") :]
    assert "1 field found" in body and "12 mars 1921" in body and f"/documents/{doc_id}?page_no=1&box=20,0,110,40" in body, body


def test_htr_search_by_field(site, monkeypatch, capsys):
    from worker.cli import main

    _app, sessions, _store, doc_id, tmp_path = site
    _fields(sessions, doc_id)
    monkeypatch.setenv("HTR_DATABASE_URL", str(sessions.kw["bind"].url.render_as_string(hide_password=False)))
    monkeypatch.setenv("HTR_STORE_URL", f"file://{tmp_path / 'store'}")
    assert main(["search", "nom:dupont"]) == 0
    assert capsys.readouterr().out.strip() == f"doc {doc_id} page 1 row 1\tNom des parties\tDUPONT Marie-Anne\t0.91"
    assert main(["search", "nom:nobody"]) == 1


def test_fields_are_reviewed_the_least_sure_first(site):
    app, sessions, _store, doc_id, _ = site
    _fields(sessions, doc_id)
    client = TestClient(app, follow_redirects=False)
    csrf = {"X-CSRF-Token": web_login(client)}
    queue = client.get(f"/api/documents/{doc_id}/fields").json()
    assert queue["left"] == 4 and [f["value"] for f in queue["fields"]][:2] == ["Durand Pierre", "Vente Dupont"]
    durand = queue["fields"][0]
    assert client.put(f"/api/fields/{durand['id']}", json={"value": "Durant Pierre"}).status_code == 403  # no CSRF token
    saved = client.put(f"/api/fields/{durand['id']}", json={"value": "  Durant\tPierre "}, headers=csrf).json()
    assert (saved["value"], saved["confidence"], saved["reviewed_by"]) == ("Durant Pierre", 1.0, "rita")
    assert client.get(f"/api/documents/{doc_id}/fields").json()["left"] == 3
    with sessions() as s:
        assert [h.value for h in field_search(s, "nom", "durant")] == ["Durant Pierre"]  # searched by its new value
    crop = client.get(f"/fields/{durand['id']}/image")
    assert crop.status_code == 200 and crop.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.put("/api/fields/99999", json={"value": "x"}, headers=csrf).status_code == 404
    assert client.get("/api/documents/999/fields").status_code == 404
    assert "fields.js" in client.get(f"/documents/{doc_id}/fields").text
    assert f'href="/documents/{doc_id}/fields"' in client.get(f"/documents/{doc_id}").text
