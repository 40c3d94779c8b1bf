"""The document model and whole pages read without a database."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from recognition.document import Alternative, Document, Line, Page, Word
from tests.fixtures import write_page_set

ROOT = Path(__file__).resolve().parents[1]


def test_document_round_trips_through_dicts():
    word = Word("Noël", (10, 5, 60, 30), 0.91, [Alternative("Noël", 0.91), Alternative("Nöel", 0.05)])
    doc = Document(
        "scan.pdf", [Page(0, 800, 600, [Line("Noël est là", (8, 4, 300, 32), 0.8, [word])], dpi=300), Page(1, 800, 600)]
    )
    again = Document.from_dict(doc.to_dict())
    assert again == doc
    assert again.pages[0].lines[0].words[0].box == (10, 5, 60, 30)
    assert doc.text == "Noël est là\n\f"


def test_read_page_without_a_database(tmp_path):
    from recognition import read_page

    texts = ["first line here", "the second one", "and a third"]
    root = write_page_set(tmp_path, texts)
    page = read_page(root / "images" / "page_0001.png")
    assert isinstance(page, Page) and len(page.lines) == 3
    tops = [ln.box[1] for ln in page.lines]
    assert tops == sorted(tops)  # reading order
    for ln in page.lines:
        assert ln.text and 0.0 <= ln.confidence <= 1.0 and ln.words
        x0, y0, x1, y1 = ln.box
        for w in ln.words:  # words lie in their line
            assert x0 - 2 <= w.box[0] < w.box[2] <= x1 + 2 and y0 - 2 <= w.box[1] < w.box[3] <= y1 + 2
    assert read_page(np.full((50, 50), 255, np.uint8)).lines == []


def test_read_page_reads_as_htr_process_without_tensorflow(tmp_path):
    write_page_set(tmp_path, ["first line here"])
    code = (
        "import sys\n"
        "from recognition import read_page\n"
        f"page = read_page({str(tmp_path / 'images' / 'page_0001.png')!r})\n"
        "print(len(page.lines), 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=120)
    assert out.stdout.split() == ["1", "False"]
