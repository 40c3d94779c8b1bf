"""End to end on embedded defaults (SQLite, folder store) and on PostgreSQL."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from benchmarks.synth import compose_page
from recognition.bundle import load_bundle
from recognition.predictor import Predictor
from tests.fixtures import text_image
from worker.db import Document, Line, Page, Status, Word, make_engine, session_factory, upgrade
from worker.db.queries import document_text, load_document, search
from worker.io.store import LocalStore
from worker.pipeline import process_document, register_document

pytestmark = [pytest.mark.services]

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["the quick brown fox", "jumps over the lazy dog", "pack my box with five", "dozen liquor jugs"]


def make_pdf(path: Path, pages: int = 2, seed: int = 0) -> Path:
    imgs = []
    for k in range(pages):
        rng = np.random.default_rng(seed + k)
        sp = compose_page([text_image(t, scale=1.6) for t in TEXTS], TEXTS, rng, size=(1240, 1754))
        imgs.append(Image.fromarray(sp.image))
    imgs[0].save(path, save_all=True, append_images=imgs[1:], resolution=150)
    return path


@pytest.fixture(scope="module")
def predictor():
    b = load_bundle()
    return b, Predictor.from_bundle(b)


def counts(S):
    with S() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Document, Page, Line, Word))


def test_process_documents_idempotently(db_url, tmp_path, predictor):
    bundle, pred = predictor
    upgrade(db_url)
    S = session_factory(make_engine(db_url))
    store = LocalStore(tmp_path / "store")
    pdf = make_pdf(tmp_path / "doc.pdf")
    with S() as s:
        doc, created = register_document(s, store, pdf)
        assert created
    done = process_document(doc.id, S, store, pred, bundle=bundle)
    assert done.status == Status.DONE and done.page_count == 2 and done.error is None
    assert set(done.timings) == {"render", "segment", "recognize", "persist"}
    with S() as s:
        d = load_document(s, doc.id)
        assert [len(p.lines) for p in d.pages] == [4, 4]  # every written line found
        assert all(p.image_key and store.exists(p.image_key) for p in d.pages)
        line = d.pages[0].lines[0]
        assert line.words and all(line.x0 <= w.x0 <= w.x1 <= line.x1 for w in line.words)
        assert all(0.0 <= w.confidence <= 1.0 for w in line.words)
        text = document_text(d)
        assert text.count("\n") == 2 * 4 - 1 + 1  # 4 lines a page, blank line between pages
        assert d.model_version.name == bundle.name
        word = max((w.text for p in d.pages for ln in p.lines for w in ln.words if w.text.isalpha()), key=len)
        hits = search(s, word)
        assert hits and hits[0].document_id == doc.id and word in hits[0].text
        # Word-level: the hit points at the word itself, with its box on the page.
        w = next(w for w in hits[0].words if w.text == word)
        row = s.scalar(select(Word).join(Line).where(Line.id == hits[0].line_id, Word.index == w.index - 1))
        assert row.text == word and w.box == [row.x0, row.y0, row.x1, row.y1]
        assert all(word.lower() in x.text.lower() for x in hits[0].words)
    before = counts(S)
    # Same bytes again: the same document, nothing new stored.
    with S() as s:
        copy = tmp_path / "copy.pdf"
        copy.write_bytes(pdf.read_bytes())
        again, created = register_document(s, store, copy)
        assert not created and again.id == doc.id
    rerun = process_document(doc.id, S, store, pred, bundle=bundle)  # a done document is left as it is
    assert rerun.status == Status.DONE and rerun.attempts == 1 and counts(S) == before
    # A crashed run that is retried rewrites its pages instead of adding rows.
    with S() as s:
        s.get(Document, doc.id).status = Status.PROCESSING
        s.commit()
    retried = process_document(doc.id, S, store, pred, bundle=bundle)
    assert retried.status == Status.DONE and retried.attempts == 2 and retried.page_count == 2
    assert counts(S) == before


def test_bad_documents_fail_alone(tmp_path, predictor):
    bundle, pred = predictor
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    upgrade(url)
    S = session_factory(make_engine(url))
    store = LocalStore(tmp_path / "store")
    good = make_pdf(tmp_path / "good.pdf", pages=1)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot really\n%%EOF")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    results = {}
    for p in (bad, good, empty):
        with S() as s:
            d, _ = register_document(s, store, p)
        results[p.name] = process_document(d.id, S, store, pred, bundle=bundle)
    assert results["good.pdf"].status == Status.DONE
    assert results["bad.pdf"].status == Status.FAILED and "corrupt PDF" in results["bad.pdf"].error
    assert results["empty.png"].status == Status.FAILED and "empty file" in results["empty.png"].error


def test_rejected_files_leave_only_their_error_row(tmp_path, predictor):
    import os

    bundle, pred = predictor
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    upgrade(url)
    S = session_factory(make_engine(url))
    store = LocalStore(tmp_path / "store")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    (tmp_path / "link.pdf").symlink_to(secret)
    os.mkfifo(tmp_path / "pipe.pdf")
    (tmp_path / "dir.png").mkdir()
    make_pdf(tmp_path / "good.pdf", pages=1)
    rows = {}
    for name in ("link.pdf", "pipe.pdf", "dir.png", "good.pdf"):
        with S() as s:
            d, created = register_document(s, store, tmp_path / name)
            assert created
        rows[name] = process_document(d.id, S, store, pred, bundle=bundle)
    assert rows["good.pdf"].status == Status.DONE
    for name, message in (("link.pdf", "symbolic link"), ("pipe.pdf", "not a regular file"), ("dir.png", "a folder")):
        assert rows[name].status == Status.FAILED and message in rows[name].error, (name, rows[name].error)
        assert rows[name].store_key is None
    stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and "originals" in p.parts]
    assert len(stored) == 1  # the good PDF only: nothing of the rejected files was copied
    with S() as s:  # registering the same rejected path again adds no row
        again, created = register_document(s, store, tmp_path / "link.pdf")
        assert not created and again.id == rows["link.pdf"].id


def test_an_unexpected_error_fails_that_document_only(tmp_path, predictor, monkeypatch):
    bundle, pred = predictor
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    upgrade(url)
    S = session_factory(make_engine(url))
    store = LocalStore(tmp_path / "store")
    docs = []
    for k in range(2):
        with S() as s:
            docs.append(register_document(s, store, make_pdf(tmp_path / f"{k}.pdf", pages=1, seed=k))[0].id)

    class Broken:
        def predict(self, crops):
            raise RuntimeError("model exploded")

    broken = process_document(docs[0], S, store, Broken(), bundle=bundle)
    assert broken.status == Status.FAILED and broken.error == "internal error: RuntimeError: model exploded"
    assert process_document(docs[1], S, store, pred, bundle=bundle).status == Status.DONE


def test_htr_process_prints_names_safely_and_fails_when_any_failed(tmp_path):
    import os

    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    evil = tmp_path / "\x1b[2J\x1b[31mred.png"
    evil.write_bytes(b"not an image")
    env = {
        **os.environ,
        "HTR_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite'}",
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
    }
    res = subprocess.run(
        [sys.executable, "-m", "worker.cli", "process", str(evil), str(pdf)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    assert "\x1b" not in res.stdout and "\\x1b[2J\\x1b[31mred.png: document 1 failed" in res.stdout
    assert "a.pdf: document 2 done" in res.stdout
    assert "2 files: 1 done, 1 failed" in res.stderr


def test_htr_process_cli_json(db_url, tmp_path):
    import os

    pdf = make_pdf(tmp_path / "a.pdf", pages=1)
    (tmp_path / "notes.txt").write_text("hello")
    env = {**os.environ, "HTR_DATABASE_URL": db_url, "HTR_STORE_URL": f"file://{tmp_path / 'store'}"}
    res = subprocess.run(
        [sys.executable, "-m", "worker.cli", "process", str(pdf), str(tmp_path / "notes.txt"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    rows = [json.loads(r) for r in res.stdout.splitlines()]
    assert res.returncode == 1  # one document failed
    assert [r["status"] for r in rows] == ["done", "failed"]
    assert rows[0]["pages"] == 1 and rows[0]["error"] is None and rows[0]["id"] == 1
    assert "unsupported file type" in rows[1]["error"]
    show = subprocess.run(
        [sys.executable, "-m", "worker.cli", "show", "1"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )
    assert show.returncode == 0 and show.stdout.startswith("# document 1:") and len(show.stdout.splitlines()) == 5
    assert "lazy dog" in show.stdout  # line 2 (the model reads line 1's tight Hershey spacing as "thequickbrown")
    found = subprocess.run(
        [sys.executable, "-m", "worker.cli", "search", "lazy", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    hits = [json.loads(r) for r in found.stdout.splitlines()]
    assert found.returncode == 0 and len(hits) == 1
    assert (hits[0]["document_id"], hits[0]["page"], hits[0]["line"]) == (1, 1, 2)
    assert [w["text"] for w in hits[0]["words"]] == ["lazy"]
