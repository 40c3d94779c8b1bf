"""Exports of a processed document: txt order, PAGE XML against the official schema,
ALTO and hOCR well-formed and structurally complete."""

import importlib.util
import json
from pathlib import Path

import pytest
from lxml import etree

from worker.db import Document, Line, Page, Status, Word
from worker.export import ALTO_NS, PAGE_NS, serialize


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


def test_txt_is_one_line_per_line_pages_in_order(doc):
    ((name, content),) = serialize(doc, "txt")
    assert name == "doc7.txt"
    assert content.splitlines() == ["Dear Sir & Madam ,", "yours truly"] * 2


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
