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
    env = {k: v for k, v in os.environ.items() if k != "HTR_DECODER"}  # the default decoder (beam), as users read
    env |= {"HTR_DATABASE_URL": db_url, "HTR_STORE_URL": f"file://{tmp_path / 'store'}"}
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


class Reader:
    """A stand-in for the model (the pipeline's steps around it are real): reads every crop as
    ``text``, one word spanning nothing (a one-frame word); ``stop_at``: the call that raises
    ``error`` instead (a failure, or Ctrl-C, half-way through a document)."""

    def __init__(self, text: str = "read", stop_at: int | None = None, error: type[BaseException] = RuntimeError):
        self.text, self.stop_at, self.error = text, stop_at, error
        self.calls = self.crops = 0

    def predict(self, crops):
        from recognition.keywords import Alternative
        from recognition.predictor import Recognition, WordReading

        self.calls += 1
        if self.calls == self.stop_at:
            raise self.error("stopped half-way")
        self.crops += len(crops)
        return [
            Recognition(self.text, 0.5, [], [WordReading(self.text, 0.5, 40.0, 40.0, [Alternative(self.text, 0.5)])])
            for _ in crops
        ]


def _pages(S, doc_id):
    with S() as s:
        return {p.index: p.id for p in s.scalars(select(Page).where(Page.document_id == doc_id))}


def test_a_rerun_resumes_at_the_first_unread_page_and_keeps_reviewed_lines(db_url, tmp_path, monkeypatch):
    from worker.db import LineEdit
    from worker.db.corrections import history, review_line
    from worker.pipeline import inprocess

    monkeypatch.setattr(inprocess, "LINE_BATCH", 1)  # each page is stored as soon as it is read
    upgrade(db_url)
    S = session_factory(make_engine(db_url))
    store = LocalStore(tmp_path / "store")
    with S() as s:
        doc, _ = register_document(s, store, make_pdf(tmp_path / "doc.pdf", pages=3))
    failed = process_document(doc.id, S, store, Reader(stop_at=3))  # page 3 fails
    assert failed.status == Status.FAILED and failed.error == "internal error: RuntimeError: stopped half-way"
    kept = _pages(S, doc.id)
    assert sorted(kept) == [0, 1]
    with S() as s:  # a person reviews a line of page 1 meanwhile
        line = s.scalars(select(Line).join(Page).where(Page.document_id == doc.id, Page.index == 0).order_by(Line.index)).first()
        review_line(s, line.id, "rita", "the quick brown fox", line.version)
        s.commit()
        line_id = line.id
    images = {i: (store.root / f"pages/{failed.content_hash}/{i:05d}.png").stat().st_mtime_ns for i in kept}
    reader = Reader(text="again")
    done = process_document(doc.id, S, store, reader)
    assert done.status == Status.DONE and done.page_count == 3 and done.error is None
    assert reader.crops == 4  # page 3's lines only: pages 1 and 2 were not read again
    assert {i: (store.root / f"pages/{done.content_hash}/{i:05d}.png").stat().st_mtime_ns for i in kept} == images
    assert {i: p for i, p in _pages(S, doc.id).items() if i in kept} == kept  # the same rows
    with S() as s:
        line = s.get(Line, line_id)
        assert (line.text, line.reviewed_by) == ("the quick brown fox", "rita")
        assert [(h["user"], h["action"], h["new_text"]) for h in history(s, line_id)] == [("rita", "edit", "the quick brown fox")]
        assert s.scalar(select(func.count()).select_from(LineEdit)) == 1
        texts = [ln.text for p in load_document(s, doc.id).pages for ln in p.lines]
        assert texts == ["the quick brown fox"] + ["read"] * 7 + ["again"] * 4
        # The reader's words span no pixel of the crop; their boxes are still a quarter of the line's height wide.
        words = [(w, ln) for p in load_document(s, doc.id).pages for ln in p.lines for w in ln.words if ln.reviewed_at is None]
        assert words and all(ln.x0 <= w.x0 and w.x1 - w.x0 >= max(3, (ln.y1 - ln.y0) // 4) > 1 for w, ln in words)
    with S() as s:  # a stored page handed in again (a redelivered queue task) is kept as it is
        from worker.pipeline import PageWork, store_page

        page = s.get(Page, kept[0])
        work = PageWork(0, 150, page.width, page.height, 0.0, [], [], [], None)
        assert store_page(s, doc.id, work, [], None) is True
        s.commit()
        assert s.get(Line, line_id) is not None and len(s.get(Page, kept[0]).lines) == 4


def test_ctrl_c_keeps_the_pages_read_and_the_next_run_continues(tmp_path, monkeypatch):
    from worker.pipeline import inprocess

    monkeypatch.setattr(inprocess, "LINE_BATCH", 1)
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    upgrade(url)
    S = session_factory(make_engine(url))
    store = LocalStore(tmp_path / "store")
    with S() as s:
        doc, _ = register_document(s, store, make_pdf(tmp_path / "doc.pdf", pages=3))
    with pytest.raises(KeyboardInterrupt) as stop:
        process_document(doc.id, S, store, Reader(stop_at=2, error=KeyboardInterrupt))  # Ctrl-C while page 2 is read
    assert isinstance(stop.value, inprocess.Interrupted) and (stop.value.kept, stop.value.total) == (1, 3)
    with S() as s:
        d = s.get(Document, doc.id)
        assert d.status == Status.QUEUED and "interrupted with 1 of 3 pages read" in d.error
    assert sorted(_pages(S, doc.id)) == [0]
    reader, seen = Reader(), []
    done = process_document(doc.id, S, store, reader, on_page=lambda n, total: seen.append((n, total)))
    assert done.status == Status.DONE and reader.crops == 8  # pages 2 and 3
    assert seen == [(1, 3), (2, 3), (3, 3)]  # progress starts at the page kept


def test_reprocess_replaces_machine_lines_and_keeps_reviewed_ones(tmp_path):
    from worker.db import LineEdit
    from worker.db.corrections import history, review_line
    from worker.pipeline.reprocess import reprocess_document

    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    upgrade(url)
    S = session_factory(make_engine(url))
    store = LocalStore(tmp_path / "store")
    with S() as s:
        doc, _ = register_document(s, store, make_pdf(tmp_path / "doc.pdf", pages=1))
    assert process_document(doc.id, S, store, Reader(text="first")).status == Status.DONE
    with S() as s:
        lines = s.scalars(select(Line).order_by(Line.index)).all()
        review_line(s, lines[0].id, "rita", "the quick brown fox")
        review_line(s, lines[3].id, "ana", "dozen liquor jugs")
        lines[3].y0, lines[3].y1 = 5, 9  # a reviewed box that no line read again overlaps
        s.commit()
        reviewed = [lines[0].id, lines[3].id]
        machine = {ln.id for ln in lines[1:3]}
    result = reprocess_document(doc.id, S, store, Reader(text="second"))
    assert result.status == "done" and result.corrections_kept == 2
    assert result.corrections_unmatched == ["page 1: dozen liquor jugs"]
    with S() as s:
        d = load_document(s, doc.id)
        rows = [(ln.id, ln.text) for ln in d.pages[0].lines]
        assert [t for _, t in rows] == ["dozen liquor jugs", "the quick brown fox", "second", "second", "second"]
        assert rows[0][0] == reviewed[1] and rows[1][0] == reviewed[0]  # the same rows, in reading order
        assert not machine & {i for i, _ in rows}  # unreviewed lines were replaced
        steps = [(h["action"], h["old_text"], h["new_text"]) for h in history(s, reviewed[0])]
        assert steps == [("edit", "first", "the quick brown fox"), ("reprocess", "second", "the quick brown fox")]
        assert [h["action"] for h in history(s, reviewed[1])] == ["edit"]
        assert s.scalar(select(func.count()).select_from(LineEdit)) == 3


def test_htr_process_stops_cleanly_on_ctrl_c(tmp_path):
    import os
    import signal
    import time

    pdf = make_pdf(tmp_path / "a.pdf", pages=10)  # nine pages still to read when the first is stored
    db = tmp_path / "h.sqlite"
    env = {**os.environ, "HTR_DATABASE_URL": f"sqlite:///{db}", "HTR_STORE_URL": f"file://{tmp_path / 'store'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "process", str(pdf)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    pages = tmp_path / "store" / "pages"  # a page image is stored as soon as its page is segmented
    while time.time() < deadline and proc.poll() is None and not any(pages.glob("*/*.png")):
        time.sleep(0.05)  # watched on disk, not in the database: a reader there could wait on the writer's lock
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"htr process: interrupted: {pdf}: document 1 keeps the ")
    assert "of 10 pages read; run htr process again to continue from the first unread page" in err
    with session_factory(make_engine(f"sqlite:///{db}"))() as s:
        assert s.get(Document, 1).status == Status.QUEUED  # resumable, not left "processing"
    again = subprocess.run(
        [sys.executable, "-m", "worker.cli", "process", str(pdf)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0 and "document 1 done, 10 pages" in again.stdout, again.stdout + again.stderr
