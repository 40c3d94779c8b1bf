"""A page's lines changed by a person through the HTTP interface (real SQLite and
PostgreSQL): undo of a save, revert to any version, merge, split and delete of lines,
with the history, the activity list, the exports and the corrections export after each."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures import web_login as _login
from worker.db import Line, PageEvent, Word, WordCandidate


def _client(site) -> tuple[TestClient, dict]:
    app = site[0]
    client = TestClient(app, follow_redirects=False)
    return client, {"X-CSRF-Token": _login(client)}


def _lines(client: TestClient) -> list[dict]:
    return client.get("/api/pages/1/lines").json()["lines"]


def test_undo_takes_a_save_back_and_revert_brings_any_version(site):
    client, csrf = _client(site)
    sessions = site[1]
    quick = _lines(client)[0]
    assert (quick["text"], quick["reviewed_by"]) == ("the quick brown", None)
    put = client.put(f"/api/lines/{quick['id']}", json={"text": "the quick brown fox", "version": quick["version"]}, headers=csrf)
    v = put.json()["version"]
    v = client.put(f"/api/lines/{quick['id']}", json={"text": "the quick brawn fox", "version": v}, headers=csrf).json()[
        "version"
    ]
    # Undo the last save: the text before it comes back, still reviewed (the first save stands).
    undone = client.post(f"/api/lines/{quick['id']}/undo", json={"version": v}, headers=csrf)
    assert undone.status_code == 200
    assert (undone.json()["text"], undone.json()["reviewed_by"]) == ("the quick brown fox", "rita")
    # Undo again: the model's reading, its words' confidences and the unreviewed state come back.
    again = client.post(f"/api/lines/{quick['id']}/undo", json={"version": undone.json()["version"]}, headers=csrf).json()
    assert (again["text"], again["reviewed_by"]) == ("the quick brown", None)
    assert [w["confidence"] for w in again["words"]] == [0.97, 0.31, 0.88]
    assert client.get("/api/review").json()["left"] == 3
    nothing = client.post(f"/api/lines/{quick['id']}/undo", json={"version": again["version"]}, headers=csrf)
    assert nothing.status_code == 400 and "no save to undo" in nothing.json()["detail"]
    stale = client.post(f"/api/lines/{quick['id']}/undo", json={"version": 1}, headers=csrf)
    assert stale.status_code == 409 and stale.json()["line"]["text"] == "the quick brown"
    history = client.get(f"/api/lines/{quick['id']}/history").json()["history"]
    assert [(h["action"], h["new_text"], h["undone"]) for h in history] == [
        ("edit", "the quick brown fox", True),
        ("edit", "the quick brawn fox", True),
        ("undo", "the quick brown fox", False),
        ("undo", "the quick brown", False),
    ]
    # Revert to the second version: saved again as a revert, reviewed, searchable.
    back = client.post(
        f"/api/lines/{quick['id']}/revert", json={"edit_id": history[1]["id"], "version": again["version"]}, headers=csrf
    ).json()
    assert (back["text"], back["reviewed_by"]) == ("the quick brawn fox", "rita")
    assert [h["text"] for h in client.get("/api/search", params={"q": "brawn"}).json()["hits"]] == ["the quick brawn fox"]
    model = client.post(f"/api/lines/{quick['id']}/revert", json={"edit_id": None, "version": back["version"]}, headers=csrf)
    assert model.json()["text"] == "the quick brown"  # the model's reading, now as a person's
    acts = client.get("/api/documents/1/activity").json()["activity"]
    assert [a["action"] for a in acts][:2] == ["revert", "revert"] and all(a["page"] == 1 and a["line"] == 1 for a in acts)
    with sessions() as s:
        assert s.query(Word).filter(Word.line_id == quick["id"]).count() == 3


def test_merge_split_and_delete_keep_words_order_and_exports(site):
    from training.datasets.folder import LabelsFolder
    from worker.export.training import export_corrections

    client, csrf = _client(site)
    _app, sessions, store, doc_id, tmp_path = site
    first, second, third = _lines(client)
    # Merge line 1 with line 2: one line, both boxes, both lines' words in order.
    merged = client.post(
        f"/api/lines/{first['id']}/merge", json={"version": first["version"], "next_version": second["version"]}, headers=csrf
    )
    assert merged.status_code == 200, merged.text
    m = merged.json()
    assert m["text"] == "the quick brown fax jumps" and [w["text"] for w in m["words"]] == "the quick brown fax jumps".split()
    assert m["box"] == [
        min(first["box"][0], second["box"][0]),
        first["box"][1],
        max(first["box"][2], second["box"][2]),
        second["box"][3],
    ]
    now = _lines(client)
    assert [(ln["index"], ln["text"]) for ln in now] == [(0, "the quick brown fax jumps"), (1, "over the dog")]
    assert [h["text"] for h in client.get("/api/search", params={"q": "jumps"}).json()["hits"]] == ["the quick brown fax jumps"]
    last = client.post(f"/api/lines/{third['id']}/merge", json={"version": third["version"], "next_version": 1}, headers=csrf)
    assert last.status_code == 400 and "last of its page" in last.json()["detail"]
    # Split it again after "brown" (the caret inside "brown" goes to the nearest boundary).
    split = client.post(f"/api/lines/{m['id']}/split", json={"at": 14, "version": m["version"]}, headers=csrf)
    assert split.status_code == 200, split.text
    left, right = split.json()["lines"]
    assert (left["text"], right["text"]) == ("the quick brown", "fax jumps")
    # The two parts' words sit on two rows: one box above the other, each holding its words.
    assert left["box"][3] == right["box"][1] and left["words"][0]["box"][3] <= left["box"][3] <= right["words"][0]["box"][1]
    assert (left["box"][1], right["box"][3]) == (first["box"][1], second["box"][3])
    assert [w["confidence"] for w in right["words"]] == [0.12, 0.93]  # the model's confidences move with the words
    assert [(ln["index"], ln["text"]) for ln in _lines(client)] == [(0, "the quick brown"), (1, "fax jumps"), (2, "over the dog")]
    edge = client.post(f"/api/lines/{left['id']}/split", json={"at": 0, "version": left["version"]}, headers=csrf)
    assert edge.status_code == 400 and "both sides" in edge.json()["detail"]
    # Words on one row: side by side, cut between the two words.
    over = _lines(client)[2]
    side = client.post(f"/api/lines/{over['id']}/split", json={"at": 5, "version": over["version"]}, headers=csrf).json()["lines"]
    assert [p["text"] for p in side] == ["over", "the dog"]
    assert (
        side[0]["box"][2] == side[1]["box"][0]
        and side[0]["words"][0]["box"][2] <= side[0]["box"][2] <= side[1]["words"][0]["box"][0]
    )
    assert (side[0]["box"][1], side[0]["box"][3]) == (side[1]["box"][1], side[1]["box"][3]) == (over["box"][1], over["box"][3])
    third = _lines(client)[2]
    merged = client.post(
        f"/api/lines/{third['id']}/merge", json={"version": third["version"], "next_version": side[1]["version"]}, headers=csrf
    )
    assert merged.json()["box"] == over["box"] and merged.json()["text"] == "over the dog"
    third = merged.json()
    # Delete the (false) third line; save the second: exports and corrections hold exactly that.
    gone = client.post(f"/api/lines/{third['id']}/delete", json={"version": third["version"]}, headers=csrf)
    assert gone.status_code == 200
    put = client.put(f"/api/lines/{right['id']}", json={"text": "fox jumps", "version": right["version"]}, headers=csrf)
    assert put.status_code == 200
    assert client.get(f"/api/documents/{doc_id}", params={"format": "txt"}).text.split("\n")[:2] == [
        "the quick brown",
        "fox jumps",
    ]
    assert "over the dog" not in client.get(f"/api/documents/{doc_id}", params={"format": "txt"}).text
    assert client.get("/api/search", params={"q": "dog"}).json()["hits"] == []
    acts = client.get(f"/api/documents/{doc_id}/activity").json()["activity"]
    assert [a["action"] for a in acts] == ["edit", "delete", "merge", "split", "split", "merge"]
    assert (acts[1]["was"], acts[1]["line"]) == ("over the dog", 3)
    assert (acts[4]["was"], acts[4]["text"]) == ("the quick brown fax jumps", "the quick brown | fax jumps")
    with sessions() as s:
        assert [e.action for e in s.query(PageEvent).order_by(PageEvent.id)] == ["merge", "split", "split", "merge", "delete"]
        assert s.query(Line).count() == 2 and s.query(WordCandidate).filter(WordCandidate.norm == "dog").count() == 0
        manifest = export_corrections(s, store, tmp_path / "out")
    assert manifest["line_count"] == 1 and LabelsFolder(tmp_path / "out").texts() == ["fox jumps"]


def test_a_fix_names_versions_and_the_page_lines_need_a_login(site):
    app = site[0]
    assert TestClient(app).get("/api/pages/1/lines").status_code == 401
    client, csrf = _client(site)
    first, second, _ = _lines(client)
    client.put(f"/api/lines/{second['id']}", json={"text": "fox jumps", "version": second["version"]}, headers=csrf)
    stale = client.post(
        f"/api/lines/{first['id']}/merge", json={"version": first["version"], "next_version": second["version"]}, headers=csrf
    )
    assert stale.status_code == 409 and stale.json()["line"]["text"] == "fox jumps"
    assert [ln["text"] for ln in _lines(client)] == ["the quick brown", "fox jumps", "over the dog"]  # nothing changed
    assert client.post(f"/api/lines/{first['id']}/delete", json={"version": first["version"]}).status_code == 403  # no CSRF
    assert client.post("/api/lines/999999/delete", json={"version": 1}, headers=csrf).status_code == 404


def test_a_drawn_line_is_placed_in_reading_order_and_read_by_the_model(site, tmp_path):
    """With HTR_REVIEW_REREAD on, the web app reads a drawn line, and a merge of two unread
    lines, with the bundled model from the stored page image, as ``htr`` would read that crop;
    a line a person typed, and a merge with a line a person read, keep the person's text."""
    import cv2

    from recognition.predictor import Predictor
    from worker.pipeline.relines import MARGIN
    from worker.settings import Settings
    from worker.web.app import create_app

    _app, sessions, _store, _doc, _ = site
    db_url = str(sessions.kw["bind"].url.render_as_string(hide_password=False))
    app = create_app(Settings(database_url=db_url, store_url=f"file://{tmp_path / 'store'}", review_reread="on"))
    client = TestClient(app, follow_redirects=False)
    csrf = {"X-CSRF-Token": _login(client)}
    first, second, third = _lines(client)
    # Drawn over the second line's ink, between the first and the second in reading order.
    box = [second["box"][0], second["box"][1] - 4, second["box"][2], second["box"][3] - 4]
    drawn = client.post("/api/pages/1/lines", json={"box": box}, headers=csrf)
    assert drawn.status_code == 201, drawn.text
    line = drawn.json()
    assert line["reread"] is True and line["reviewed_by"] is None and line["index"] == 1
    page = cv2.imread(str(tmp_path / "page.png"), cv2.IMREAD_GRAYSCALE)
    predictor = Predictor.load(backend="onnx")

    def read(b: list[int]):
        return predictor.predict([page[b[1] - MARGIN : b[3] + MARGIN, b[0] - MARGIN : b[2] + MARGIN]])[0]

    expected = read(box)
    assert line["text"] == expected.text and len(line["words"]) == len(expected.words)
    assert [ln["id"] for ln in _lines(client)] == [first["id"], line["id"], second["id"], third["id"]]
    assert client.get("/api/documents/1/activity").json()["activity"][0]["action"] == "add"
    # Typed: a person's reading, kept; on the page's last place.
    typed = client.post("/api/pages/1/lines", json={"box": [40, 372, 900, 430], "text": "p.s. see over"}, headers=csrf).json()
    assert (typed["text"], typed["reviewed_by"], typed["reread"], typed["index"]) == ("p.s. see over", "rita", False, 4)
    # Merging the two unread lines reads the merged box as one line; a merge with a read line keeps its text.
    now = _lines(client)
    merged = client.post(
        f"/api/lines/{now[0]['id']}/merge", json={"version": now[0]["version"], "next_version": now[1]["version"]}, headers=csrf
    ).json()
    assert merged["reread"] is True and merged["text"] == read(merged["box"]).text and merged["reviewed_by"] is None
    now = _lines(client)
    kept = client.post(
        f"/api/lines/{now[2]['id']}/merge", json={"version": now[2]["version"], "next_version": now[3]["version"]}, headers=csrf
    ).json()
    assert kept["reread"] is False and kept["text"] == f"{now[2]['text']} p.s. see over"
    small = client.post("/api/pages/1/lines", json={"box": [10, 10, 12, 300]}, headers=csrf)
    assert small.status_code == 400 and "at least 8 pixels" in small.json()["detail"]
    assert client.post("/api/pages/99/lines", json={"box": [10, 10, 300, 300]}, headers=csrf).status_code == 404
