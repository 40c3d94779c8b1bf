"""Registers: a table found on a generated register page (columns, header band, rows, each cell's
lines), its printed header read by Tesseract, and its cells stored as fields and exported as CSV
and JSON (through ``htr process``, and through the pipeline on SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from segmentation import Box, printed_ocr, segment_page
from segmentation.printed_ocr import consensus_keys, key_form, read_header

ROOT = Path(__file__).resolve().parents[1]
PRINT = cv2.FONT_HERSHEY_DUPLEX
HAND = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX
# (header over the column, its x-span); PAID stands over FEES and TOTAL, a rule under it
COLUMNS = [("NUMBER", (100, 280)), ("DATE", (280, 500)), ("NAME", (500, 1080)), ("FEES", (1080, 1290)), ("TOTAL", (1290, 1500))]
KEYS = ["NUMBER", "DATE", "NAME", "PAID / FEES", "PAID / TOTAL"]
TOP, SUB, HEADER, BOTTOM = 150, 232, 310, 1900
ENTRIES = [
    ("17", "3 May", ["Martin Paul", "baker in Lyon"], "12", "2.20"),
    ("18", "4 May", ["Dupont Anne"], "5", "1.10"),
    ("19", "9 May", ["Leroux Jean", "merchant", "rue Neuve 7"], "30", "6.50"),
    ("20", "12 May", ["Girard Louis", "notary"], "8", "2.20"),
    ("21", "15 May", ["Bernard Marie"], "4", "0.80"),
]


@dataclass
class Register:
    image: np.ndarray
    rules: list[int]  # x of each vertical ruling, left to right
    cells: list[tuple[Box, int, int]] = field(default_factory=list)  # (box of a handwritten line, entry, column)


def _put(img: np.ndarray, text: str, x: int, y: int, font: int, scale: float, thick: int) -> Box:
    (w, h), base = cv2.getTextSize(text, font, scale, thick)
    cv2.putText(img, text, (x, y), font, scale, 25, thick, cv2.LINE_AA)
    return Box(x, y - h, x + w, y + base)


def register_page(row_rules: bool = False, skew: float = 0.0, seed: int = 0, vertical: bool = True) -> Register:
    """A pre-printed register page: a ruled frame, a printed header row (with a super-header
    over the last two columns), entries of varying height written in a script font, the fees
    and total on each entry's last line as registers have them. ``vertical=False``: no vertical
    rulings, the columns only told by the gaps in the writing and the header."""
    rng = np.random.default_rng(seed)
    W, H = 1600, 2000
    img = np.full((H, W), 238, np.uint8)
    x0, x1 = COLUMNS[0][1][0], COLUMNS[-1][1][1]
    cv2.line(img, (x0, TOP), (x1, TOP), 20, 4)
    cv2.line(img, (x0, HEADER), (x1, HEADER), 20, 3)
    cv2.line(img, (x0, BOTTOM), (x1, BOTTOM), 20, 4)
    cv2.line(img, (COLUMNS[3][1][0], SUB), (x1, SUB), 20, 2)
    rules = [x0] + [b for _n, (_a, b) in COLUMNS]
    for k, x in enumerate(rules if vertical else []):
        cv2.line(img, (x, SUB if k == 4 else TOP), (x, BOTTOM), 20, 4 if k in (0, len(rules) - 1) else 2)
    for name, (a, b) in COLUMNS:
        (w, _h), _ = cv2.getTextSize(name, PRINT, 1.0, 2)
        _put(img, name, (a + b - w) // 2, 285, PRINT, 1.0, 2)
    (w, _h), _ = cv2.getTextSize("PAID", PRINT, 1.0, 2)
    _put(img, "PAID", (COLUMNS[3][1][0] + x1 - w) // 2, 205, PRINT, 1.0, 2)
    reg = Register(img, rules)
    y = HEADER + 70
    for e, (number, date, names, fees, total) in enumerate(ENTRIES):
        pitch = 62
        for c, text in ((0, number), (1, date)):
            reg.cells.append((_put(img, text, COLUMNS[c][1][0] + 25, y, HAND, 1.3, 2), e, c))
        for k, text in enumerate(names):
            reg.cells.append(
                (_put(img, text, COLUMNS[2][1][0] + 25 + int(rng.integers(0, 30)), y + k * pitch, HAND, 1.3, 2), e, 2)
            )
        last = y + (len(names) - 1) * pitch
        for c, text in ((3, fees), (4, total)):
            reg.cells.append((_put(img, text, COLUMNS[c][1][0] + 40, last, HAND, 1.3, 2), e, c))
        y = last + pitch + 50
        if row_rules:
            cv2.line(img, (x0, y - 70), (x1, y - 70), 20, 2)
    noise = rng.normal(0, 6, img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if skew:
        m = cv2.getRotationMatrix2D((W / 2.0, H / 2.0), skew, 1.0)
        img = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=238)
        reg.cells = [(_rotate_box(b, m), e, c) for b, e, c in reg.cells]
    reg.image = img
    return reg


def _rotate_box(b: Box, m: np.ndarray) -> Box:
    pts = np.array([[b.x0, b.y0, 1], [b.x1, b.y0, 1], [b.x0, b.y1, 1], [b.x1, b.y1, 1]], np.float64) @ m.T
    return Box(int(pts[:, 0].min()), int(pts[:, 1].min()), int(np.ceil(pts[:, 0].max())), int(np.ceil(pts[:, 1].max())))


def _cell_of_lines(layout) -> dict[int, tuple[int, int]]:
    return {i: (c.row, c.column) for c in layout.table.cells for i in c.lines}


def _overlap(a: Box, b: Box) -> int:
    return max(0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0, min(a.y1, b.y1) - max(a.y0, b.y0))


@pytest.mark.parametrize(
    "row_rules,skew,vertical", [(False, 0.0, True), (True, 0.0, True), (False, 0.8, True), (False, 0.0, False)]
)
def test_a_register_page_gives_its_columns_header_rows_and_cells(row_rules, skew, vertical):
    reg = register_page(row_rules, skew, vertical=vertical)
    layout = segment_page(reg.image)
    t = layout.table
    assert t is not None
    assert len(t.columns) == len(COLUMNS)
    mid = (t.header.y1 + t.box.y1) / 2.0
    if not vertical:  # each boundary in the gap between the writing of the columns either side
        for k, col in enumerate(t.columns[:-1]):
            x = col.right.x(mid)
            assert max(b.x1 for b, _e, c in reg.cells if c <= k) <= x <= min(b.x0 for b, _e, c in reg.cells if c > k), (k, x)
        assert t.columns[4].left.top > t.header.y0 + 40  # the PAID header stands over the FEES | TOTAL gap
    elif not skew:
        bounds = [t.columns[0].left.x(mid)] + [c.right.x(mid) for c in t.columns]
        assert np.allclose(bounds, reg.rules, atol=4), bounds
        assert abs(t.header.y1 - HEADER) <= 4 and abs(t.header.y0 - TOP) <= 4
        assert t.columns[4].left.top > t.header.y0 + 40  # FEES | TOTAL starts under the PAID rule
        assert t.columns[2].left.top <= t.header.y0 + 4
    assert len(t.rows) == len(ENTRIES)
    assert bool(t.row_rules) == row_rules
    # Every handwritten line is found, in its own column and its entry's row; no line of the header.
    cells = _cell_of_lines(layout)
    for box, entry, column in reg.cells:
        found = [i for i, ln in enumerate(layout.lines) if _overlap(ln.page_box, box) >= 0.5 * box.area]
        assert len(found) == 1, (box, found)
        assert cells.get(found[0]) == (entry, column), (box, entry, column, cells.get(found[0]))
    assert len(cells) == len(reg.cells) == len(layout.lines)
    assert all(c.box.y0 >= t.header.y1 for c in t.cells)


def test_pages_that_are_not_registers_have_no_table():
    from benchmarks.synth import compose_page
    from tests.fixtures import text_image

    texts = ["the quick brown fox", "jumps over the lazy dog", "pack my box with five dozen"]
    rng = np.random.default_rng(0)
    for artefacts in ((), ("boxes",), ("border", "holes")):
        page = compose_page([text_image(t, scale=1.6) for t in texts], texts, rng, size=(1240, 1754), artefacts=artefacts)
        assert segment_page(page.image).table is None, artefacts
    ruled = np.full((1754, 1240), 240, np.uint8)  # ruled paper with a margin line, written on
    for y in range(200, 1700, 60):
        cv2.line(ruled, (60, y), (1180, y), 150, 1)
    cv2.line(ruled, (150, 100), (150, 1700), 120, 2)
    for k, t in enumerate(texts):
        _put(ruled, t, 170, 255 + 60 * k, HAND, 1.3, 2)
    assert segment_page(ruled).table is None


def test_tesseract_is_installed_and_reads_a_printed_header():
    assert printed_ocr.tesseract() is not None, "tesseract with fra/eng data is missing: scripts/setup.sh installs it"
    reg = register_page()
    layout = segment_page(reg.image)
    keys = read_header(layout.deskewed, layout.table)
    assert [key_form(k) for k in keys] == [key_form(k) for k in KEYS], keys
    assert keys[3].startswith("PAID / ") and keys[4].startswith("PAID / ")  # the super-header first, then the column's own


def test_without_tesseract_columns_are_numbered_and_it_is_said(monkeypatch, caplog):
    monkeypatch.setattr(printed_ocr.shutil, "which", lambda _name: None)
    printed_ocr.tesseract.cache_clear()
    try:
        layout = segment_page(register_page().image)
        with caplog.at_level(logging.WARNING, logger="segmentation.printed_ocr"):
            keys = read_header(layout.deskewed, layout.table)
        assert keys == [f"column {i + 1}" for i in range(len(COLUMNS))]
        assert "tesseract is not installed" in caplog.text
    finally:
        printed_ocr.tesseract.cache_clear()


def test_setup_and_the_image_install_tesseract_with_french_and_english():
    for path in ("scripts/setup.sh", "Dockerfile"):
        text = (ROOT / path).read_text()
        assert all(p in text for p in ("tesseract-ocr", "tesseract-ocr-fra", "tesseract-ocr-eng")), path


def test_a_documents_keys_are_voted_column_by_column():
    pages = [
        ["Ne du Rep.", "Dates des Actes.", "RELATION / Dates."],
        ["du", "Dates Actes,", "RELATION / Dates."],
        ["Ne du Rep.", "Dates des Actes.", "RELATION / Dutes"],
        ["Dates des Actes.", "RELATION / Dates."],  # its first column cut off by the page's edge
        ["column 1", "Dates des Actes.", "column 3"],  # nothing read there
    ]
    out = consensus_keys(pages)
    assert out[0] == out[1] == out[2] == out[4] == ["Ne du Rep.", "Dates des Actes.", "RELATION / Dates."]
    assert out[3] == ["Dates des Actes.", "RELATION / Dates."]
    assert consensus_keys([]) == []


# --- stored as fields, exported ------------------------------------------------------------------


def _write_page(path: Path, seed: int = 0) -> Path:
    cv2.imwrite(str(path), register_page(seed=seed).image)
    return path


def test_htr_process_stores_a_registers_cells_as_fields_and_exports_them(tmp_path):
    page = _write_page(tmp_path / "register.png")
    env = {
        **os.environ,
        "HTR_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite'}",
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
    }

    def htr(*args):
        return subprocess.run(
            [sys.executable, "-m", "worker.cli", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600
        )

    res = htr("process", str(page))
    assert res.returncode == 0 and "document 1 done" in res.stdout, res.stdout + res.stderr
    res = htr("export", "1", "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0][:3] == ["document", "page", "row"]
    assert [key_form(k) for k in rows[0][3:]] == [key_form(k) for k in KEYS], rows[0]
    assert len(rows) == 1 + len(ENTRIES)  # one row per register row
    assert [r[:3] for r in rows[1:]] == [["1", "1", str(k + 1)] for k in range(len(ENTRIES))]
    assert all(all(v.strip() for v in r[3:]) for r in rows[1:])  # every cell read
    res = htr("export", "1", "--format", "json")
    fields = json.loads(res.stdout)["pages"][0]["fields"]
    assert len(fields) == len(ENTRIES) * len(COLUMNS)
    assert {f["row"] for f in fields} == set(range(len(ENTRIES)))
    assert {f["field"] for f in fields} == set(rows[0][3:])
    name = next(f for f in fields if f["row"] == 2 and f["column"] == 2)  # a cell of three lines: one value
    assert name["box"][3] - name["box"][1] > 2 * 60 and 0.0 <= name["confidence"] <= 1.0
    assert all(f["template"] is None and f["reviewed_by"] is None for f in fields)


@dataclass
class _Reading:
    text: str
    confidence: float = 0.5
    words: list = field(default_factory=list)


class _Reader:
    """Reads every crop as its place in the call: what recognition returns, without a model."""

    def __init__(self, word: str = "line"):
        self.n, self.word = 0, word

    def predict(self, crops):
        out = []
        for _c in crops:
            self.n += 1
            out.append(_Reading(f"{self.word}{self.n}"))
        return out


def test_fields_are_stored_on_sqlite_and_postgresql_with_one_key_per_column(db_url, tmp_path):
    from PIL import Image

    from worker.db import Field, Status, make_engine, session_factory, upgrade
    from worker.db.queries import load_document
    from worker.export import serialize
    from worker.export.stored import document_model
    from worker.io.store import LocalStore
    from worker.pipeline import process_document, register_document
    from worker.pipeline.reprocess import reprocess_document

    upgrade(db_url)
    S = session_factory(make_engine(db_url))
    store = LocalStore(tmp_path / "store")
    pages = [Image.fromarray(register_page(seed=s).image) for s in (0, 1)]
    pages[0].save(tmp_path / "register.tif", save_all=True, append_images=pages[1:])
    with S() as s:
        doc, _ = register_document(s, store, tmp_path / "register.tif")
    done = process_document(doc.id, S, store, _Reader())
    assert done.status == Status.DONE, done.error
    with S() as s:
        d = load_document(s, doc.id)
        assert [len(p.fields) for p in d.pages] == [len(ENTRIES) * len(COLUMNS)] * 2
        assert all(p.table_layout and len(p.table_layout["columns"]) == len(COLUMNS) for p in d.pages)
        f = next(f for f in d.pages[0].fields if f.row_index == 2 and f.column_index == 2)
        lines = [ln for ln in d.pages[0].lines if _overlap(Box(ln.x0, ln.y0, ln.x1, ln.y1), Box(f.x0, f.y0, f.x1, f.y1))]
        assert (
            f.value == " ".join(ln.text for ln in lines if ln.x0 >= f.x0 - 1 and ln.x1 <= f.x1 + 1) and len(f.value.split()) == 3
        )
        assert f.normalized == f.value.lower()
        keys = {p.index: sorted({(f.column_index, f.field) for f in p.fields}) for p in d.pages}
        assert keys[0] == keys[1] and [key_form(k) for _c, k in keys[0]] == [key_form(k) for k in KEYS]
        rows = list(csv.reader(io.StringIO(serialize(document_model(d), "csv")[0][1])))
        assert len(rows) == 1 + 2 * len(ENTRIES) and [r[1] for r in rows[1:]] == ["1"] * len(ENTRIES) + ["2"] * len(ENTRIES)
        before = {(p.index, f.row_index, f.column_index): f.value for p in d.pages for f in p.fields}
    # Read again (htr reprocess): the fields are the new reading's, none doubled.
    assert reprocess_document(doc.id, S, store, _Reader("again")).status == Status.DONE
    with S() as s:
        d = load_document(s, doc.id)
        after = {(p.index, f.row_index, f.column_index): f.value for p in d.pages for f in p.fields}
        assert after.keys() == before.keys() and all(v.startswith("again") for v in after.values())
        assert sum(len(p.fields) for p in d.pages) == len(before)
        s.delete(s.get(type(d), doc.id))
        s.commit()
        assert s.scalars(select(Field)).all() == []  # fields go with their document


def test_a_register_pages_table_travels_with_its_page_work():
    from worker.io.documents import PageImage
    from worker.pipeline import PageWork, segment

    work = segment(PageImage(0, register_page().image, 200))
    assert work.table is not None and [key_form(c["key"]) for c in work.table["columns"]] == [key_form(k) for k in KEYS]
    again = PageWork.from_bytes(work.to_bytes())  # what the queue's segment task hands to its recognize task
    assert again.table == work.table and len(again.crops) == len(work.crops) == len(again.boxes)


def test_read_page_gives_a_registers_fields_without_a_database():
    from recognition import read_page
    from recognition.document import Document

    page = read_page(register_page().image, predictor=_Reader())
    assert len(page.fields) == len(ENTRIES) * len(COLUMNS)
    assert [key_form(f.key) for f in page.fields if f.row == 0] == [key_form(k) for k in KEYS]
    name = next(f for f in page.fields if f.row == 2 and f.column == 2)
    assert len(name.value.split()) == 3 and name.template is None
    doc = Document("register.png", [page])
    assert Document.from_dict(doc.to_dict()) == doc
