"""Exports of a processed document: txt order, PAGE XML against the official schema,
ALTO and hOCR well-formed and structurally complete."""

import importlib.util
import json
from pathlib import Path

import pytest
from lxml import etree

from worker.db import Document, Line, Page, Status, Word
from worker.export import ALTO_NS, PAGE_NS
from worker.export import serialize as serialize_model
from worker.export.stored import document_model


def serialize(doc, fmt):
    """A stored document's export: mapped to the document model, then written."""
    return serialize_model(document_model(doc), fmt)


def page_xsd() -> Path:
    # Located without importing ocrd_validators (its __init__ needs the whole OCR-D stack).
    spec = importlib.util.find_spec("ocrd_validators")
    assert spec is not None, "ocrd-validators is installed by scripts/setup.sh"
    return Path(list(spec.submodule_search_locations)[0]) / "page.xsd"


@pytest.fixture
def doc():
    d = Document(id=7, source="scans/form <1>.pdf", content_hash="0" * 64, status=Status.DONE, attempts=1)
    for pi in range(2):
        p = Page(index=pi, width=1000, height=1400, image_key=f"pages/x/{pi:05d}.png")
        for li, text in enumerate(["Dear Sir & Madam ,", "yours truly"]):
            ln = Line(index=li, x0=50, y0=100 + 80 * li, x1=900, y1=160 + 80 * li, text=text, confidence=0.8)
            x = 50
            for wi, w in enumerate(text.split()):
                ln.words.append(Word(index=wi, x0=x, y0=ln.y0, x1=x + 60, y1=ln.y1, text=w, confidence=0.9, corrected_text=None))
                x += 80
            p.lines.append(ln)
        d.pages.append(p)
    d.pages[0].lines[1].words[0].corrected_text = "Yours"
    return d


def test_txt_is_one_line_per_line_pages_in_order_with_page_breaks(doc):
    ((name, content),) = serialize(doc, "txt")
    assert name == "doc7.txt"
    assert content == "Dear Sir & Madam ,\nyours truly\n\fDear Sir & Madam ,\nyours truly\n"  # a form feed starts page 2
    assert [p.splitlines() for p in content.split("\f")] == [["Dear Sir & Madam ,", "yours truly"]] * 2


def test_json_round_trips(doc):
    data = json.loads(serialize(doc, "json")[0][1])
    assert len(data["pages"]) == 2 and data["pages"][0]["lines"][1]["words"][0]["corrected_text"] == "Yours"


def test_pagexml_is_valid_against_the_official_schema(doc):
    schema = etree.XMLSchema(etree.parse(str(page_xsd())))
    files = serialize(doc, "pagexml")
    assert [n for n, _ in files] == ["doc7.page0001.xml", "doc7.page0002.xml"]
    for _, content in files:
        tree = etree.fromstring(content.encode())
        assert schema.validate(tree), schema.error_log
        ns = {"pc": PAGE_NS}
        assert len(tree.findall(".//pc:TextLine", ns)) == 2
        assert tree.find(".//pc:Word/pc:TextEquiv/pc:Unicode", ns).text == "Dear"


def test_pagexml_names_the_original_file(doc):
    for _, content in serialize(doc, "pagexml"):
        page = etree.fromstring(content.encode()).find(f"{{{PAGE_NS}}}Page")
        assert page.get("imageFilename") == "form <1>.pdf"  # not the store's key of the rendered page
    doc.source = "s3://inbox/2026/letters/parish%20book.tif"
    assert etree.fromstring(serialize(doc, "pagexml")[0][1].encode()).find(f"{{{PAGE_NS}}}Page").get("imageFilename") == (
        "parish%20book.tif"
    )


def test_every_export_is_valid_whatever_is_stored(doc):
    """Control characters and the other characters XML 1.0 forbids, a confidence out of range
    and a box off the page's edge, as a database could hold them: every XML export stays valid."""
    bad = "Dear\x00 \x1b[31mSir\x07\ufffe\x7f"
    doc.source = "scans/\x01form\x1f.pdf"
    line = doc.pages[0].lines[0]
    line.text, line.confidence = bad, float("nan")
    line.words[0].corrected_text = "De\x0bar\x0c"
    line.words[1].confidence, line.words[1].x0 = 1.7, -4
    line.words[2].text = "\x08&"
    schema = etree.XMLSchema(etree.parse(str(page_xsd())))
    for _, content in serialize(doc, "pagexml"):
        tree = etree.fromstring(content.encode())
        assert schema.validate(tree), schema.error_log
    first = etree.fromstring(serialize(doc, "pagexml")[0][1].encode())
    texts = [u.text for u in first.findall(".//pc:TextLine/pc:TextEquiv/pc:Unicode", {"pc": PAGE_NS})]
    assert texts[0] == "Dear [31mSir\x7f"  # DEL is an XML character; the C0 controls and U+FFFE are not
    assert first.find(f"{{{PAGE_NS}}}Page").get("imageFilename") == "form.pdf"
    alto = etree.fromstring(serialize(doc, "alto")[0][1].encode())
    strings = alto.findall(".//a:String", {"a": ALTO_NS})
    assert [s.get("CONTENT") for s in strings[:3]] == ["Dear", "Sir", "&"]
    assert all(0 <= float(s.get("WC")) <= 1 for s in strings)
    hocr = etree.fromstring(serialize(doc, "hocr")[0][1].encode())
    assert hocr.find(".//h:span[@class='ocrx_word']", {"h": "http://www.w3.org/1999/xhtml"}).text == "Dear"
    assert json.loads(serialize(doc, "json")[0][1])["pages"][0]["lines"][0]["text"] == bad  # JSON carries any text


def test_pagexml_schema_rejects_broken_documents(doc):
    schema = etree.XMLSchema(etree.parse(str(page_xsd())))
    content = serialize(doc, "pagexml")[0][1].replace("<Metadata>", "<Metadata><Bogus/>")
    assert not schema.validate(etree.fromstring(content.encode()))


def test_alto_is_well_formed_and_complete(doc):
    tree = etree.fromstring(serialize(doc, "alto")[0][1].encode())
    ns = {"a": ALTO_NS}
    pages = tree.findall(".//a:Page", ns)
    assert len(pages) == 2 and pages[0].get("WIDTH") == "1000"
    strings = tree.findall(".//a:String", ns)
    assert len(strings) == 2 * (5 + 2)
    assert [s.get("CONTENT") for s in strings[:6]] == ["Dear", "Sir", "&", "Madam", ",", "Yours"]
    for s in strings:
        assert 0 <= float(s.get("WC")) <= 1 and int(s.get("WIDTH")) > 0


def test_hocr_is_well_formed_and_complete(doc):
    tree = etree.fromstring(serialize(doc, "hocr")[0][1].encode())
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    pages = tree.findall(".//h:div[@class='ocr_page']", ns)
    assert len(pages) == 2 and "bbox 0 0 1000 1400" in pages[0].get("title")
    words = tree.findall(".//h:span[@class='ocrx_word']", ns)
    assert len(words) == 14 and words[0].text == "Dear" and "x_wconf 90" in words[0].get("title")
    assert len(tree.findall(".//h:span[@class='ocr_line']", ns)) == 4


def test_htr_process_no_db_writes_exports_and_stores_nothing(tmp_path):
    """``htr process --no-db --export``: files read straight to exports, a bad file reported
    while the others go on; the same texts as a stored document's export (``--export`` beside
    the database)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image")
    env = {
        **os.environ,
        "HTR_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite'}",
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }

    def htr(*args):
        return subprocess.run([sys.executable, "-m", "worker.cli", *args], cwd=root, capture_output=True, text=True, env=env)

    out = tmp_path / "out"
    res = htr(
        "process", "--no-db", "--export", "alto", "--output", str(out), "examples/letter.pdf", str(bad), "examples/line.png"
    )
    assert res.returncode == 1, res.stderr  # one file failed
    assert res.stdout.splitlines() == [
        f"examples/letter.pdf: 2 pages -> {out / 'letter.alto.xml'}",
        f"{bad}: failed: unsupported file type: not a PDF, PNG, JPEG or TIFF",
        f"examples/line.png: 1 page -> {out / 'line.alto.xml'}",
    ], res.stdout
    assert not (tmp_path / "h.sqlite").exists() and not (tmp_path / "store").exists()  # nothing stored
    alto = etree.parse(str(out / "line.alto.xml"))
    assert [s.get("CONTENT") for s in alto.findall(".//a:String", {"a": ALTO_NS})] == "There are two basic points".split()
    assert len(etree.parse(str(out / "letter.alto.xml")).findall(".//a:Page", {"a": ALTO_NS})) == 2
    res = htr("process", "--no-db", "--export", "txt", "--output", str(out), "examples/letter.pdf")
    assert res.returncode == 0, res.stderr
    stored = tmp_path / "stored"
    res = htr("process", "--export", "txt", "--output", str(stored), "examples/letter.pdf")
    assert res.returncode == 0 and (tmp_path / "h.sqlite").exists(), res.stderr
    assert (stored / "doc1.txt").read_text() == (out / "letter.txt").read_text()
    assert htr("process", "--no-db", "examples/line.png").returncode == 2  # nothing would be written
