"""Serializations of a stored document: txt, json, ALTO v4, PAGE XML (2019), hOCR, CSV.

Each function takes a document in the document model (``recognition.document``: what
``htr process --no-db`` reads, or a stored document through ``stored.document_model``) and
returns text; a word is written as a person corrected it, where one did. PAGE XML has one file per page, so :func:`export`
returns a list of (file name, content). In txt, a form feed starts each page
after the first. The XML formats are valid whatever is stored: characters
XML 1.0 forbids (control characters, U+FFFE...) are left out, confidences are
kept within 0..1 and PAGE points are not negative. PAGE XML names the file
the document came in as (``imageFilename``). JSON carries each page's fields
(a register's cells: key, row, value); CSV has one row per register row and
one column per field.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

from recognition.document import Document

FORMATS = ("txt", "json", "alto", "pagexml", "hocr", "csv")
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
# Characters XML 1.0 cannot carry, even as references.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
PAGE_BREAK = "\f"


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids."""
    return NOT_XML.sub("", text)


def escape(text: str) -> str:
    return _escape(xml_text(text))


def quoteattr(text: str) -> str:
    return _quoteattr(xml_text(text))


def _conf(value: float | None) -> float:
    """A confidence as the schemas take it: a number from 0 to 1."""
    return 0.0 if value is None or math.isnan(value) else min(max(float(value), 0.0), 1.0)


def original_name(doc: Document) -> str:
    """The file name the document came in as (its source's last path part: a local path or a URL)."""
    name = PurePosixPath(doc.source.replace("\\", "/").split("?", 1)[0].rstrip("/")).name
    return name or doc.source


def to_txt(doc: Document) -> str:
    """One line of text per line; each page after the first starts with a form feed."""
    return PAGE_BREAK.join("".join(ln.text + "\n" for ln in page.lines) for page in doc.pages)


def to_json(doc: Document) -> str:
    data = {
        "id": doc.id,
        "source": doc.source,
        "status": doc.status,
        "content_hash": doc.content_hash,
        "model": doc.model,
        "pages": [
            {
                "index": p.index,
                "width": p.width,
                "height": p.height,
                "lines": [
                    {
                        "box": list(ln.box),
                        "text": ln.text,
                        "confidence": round(ln.confidence, 4),
                        "reviewed": ln.reviewed,
                        "words": [
                            {
                                "box": list(w.box),
                                "text": w.text,
                                "confidence": round(w.confidence, 4),
                                "corrected_text": w.corrected_text,
                            }
                            for w in ln.words
                        ],
                    }
                    for ln in p.lines
                ],
                "fields": [
                    {
                        "row": f.row,
                        "column": f.column,
                        "field": f.key,
                        "label": f.label,
                        "value": f.value,
                        "normalized": f.normalized,
                        "confidence": round(f.confidence, 4),
                        "box": list(f.box),
                        "template": f.template,
                        "reviewed_by": f.reviewed_by,
                        **({"kind": f.kind, "parsed": f.parsed, "valid": f.valid, "accepted": f.accepted} if f.template else {}),
                    }
                    for f in p.fields
                ],
            }
            for p in doc.pages
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def field_names(doc: Document) -> list[str]:
    """A document's field keys in table order: by the leftmost column each stands over."""
    first: dict[str, tuple[int, int]] = {}
    for p in doc.pages:
        for f in p.fields:
            place = (f.column if f.column is not None else 1 << 30, p.index)
            first[f.key] = min(first.get(f.key, place), place)
    return sorted(first, key=lambda k: first[k])


def to_csv(doc: Document) -> str:
    """One row per register row or per form (``page`` and ``row`` from 1, in page order), one
    column per field: ``document,page,row,<key>,<key>,...``; with forms among the pages a
    ``template`` column after ``row`` names each row's form, and a typed field gives its value
    in normal form (an ISO date, digits) where it parsed. A document without fields has the
    header only."""
    names = field_names(doc)
    forms = any(f.template for p in doc.pages for f in p.fields)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["document", "page", "row", *(["template"] if forms else []), *names])
    for p in doc.pages:
        rows: dict[int, dict[str, str]] = {}
        templates: dict[int, str] = {}
        for f in p.fields:
            r = f.row if f.row is not None else -1
            cells = rows.setdefault(r, {})
            value = f.parsed if f.template and f.parsed and f.kind != "name" else f.value
            cells[f.key] = f"{cells[f.key]} {value}" if f.key in cells else value
            templates.setdefault(r, f.template or "")
        for r in sorted(rows):
            form = [templates[r]] if forms else []
            writer.writerow([doc.id, p.index + 1, r + 1 if r >= 0 else "", *form, *(rows[r].get(k, "") for k in names)])
    return out.getvalue()


def _lines_box(lines) -> tuple[int, int, int, int]:
    """Union box of a page's lines (the text region)."""
    boxes = [ln.box for ln in lines]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _points(x0, y0, x1, y1) -> str:
    x0, y0 = max(x0, 0), max(y0, 0)  # the schema's points are non-negative
    x1, y1 = max(x1 - 1, x0), max(y1 - 1, y0)
    return f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"


def to_pagexml(doc: Document, page) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<PcGts xmlns="{PAGE_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{PAGE_NS} {PAGE_NS}/pagecontent.xsd">',
        f"  <Metadata><Creator>htr</Creator><Created>{now}</Created><LastChange>{now}</LastChange></Metadata>",
        f'  <Page imageFilename={quoteattr(original_name(doc))} imageWidth="{page.width}" imageHeight="{page.height}">',
    ]
    if page.lines:
        x0, y0, x1, y1 = _lines_box(page.lines)
        out.append(f'    <TextRegion id="r{page.index}" type="paragraph"><Coords points="{_points(x0, y0, x1, y1)}"/>')
        for li, ln in enumerate(page.lines):
            out.append(f'      <TextLine id="r{page.index}_l{li}"><Coords points="{_points(*ln.box)}"/>')
            for wi, w in enumerate(ln.words):
                out.append(
                    f'        <Word id="r{page.index}_l{li}_w{wi}"><Coords points="{_points(*w.box)}"/>'
                    f'<TextEquiv conf="{_conf(w.confidence):.4f}"><Unicode>{escape(w.best_text)}</Unicode></TextEquiv></Word>'
                )
            out.append(f'        <TextEquiv conf="{_conf(ln.confidence):.4f}"><Unicode>{escape(ln.text)}</Unicode></TextEquiv>')
            out.append("      </TextLine>")
        text = "\n".join(ln.text for ln in page.lines)
        out.append(f"      <TextEquiv><Unicode>{escape(text)}</Unicode></TextEquiv>")
        out.append("    </TextRegion>")
    out += ["  </Page>", "</PcGts>", ""]
    return "\n".join(out)


def to_alto(doc: Document) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<alto xmlns="{ALTO_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{ALTO_NS} http://www.loc.gov/alto/v4/alto-4-2.xsd">',
        "  <Description>",
        "    <MeasurementUnit>pixel</MeasurementUnit>",
        f"    <sourceImageInformation><fileName>{escape(doc.source)}</fileName></sourceImageInformation>",
        "  </Description>",
        "  <Layout>",
    ]
    for p in doc.pages:
        out.append(f'    <Page ID="p{p.index}" PHYSICAL_IMG_NR="{p.index + 1}" WIDTH="{p.width}" HEIGHT="{p.height}">')
        out.append(f'      <PrintSpace HPOS="0" VPOS="0" WIDTH="{p.width}" HEIGHT="{p.height}">')
        if p.lines:
            x0, y0, x1, y1 = _lines_box(p.lines)
            out.append(f'        <TextBlock ID="p{p.index}_b0" HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}">')
            for li, ln in enumerate(p.lines):
                lx0, ly0, lx1, ly1 = ln.box
                out.append(
                    f'          <TextLine ID="p{p.index}_l{li}" HPOS="{lx0}" VPOS="{ly0}" WIDTH="{lx1 - lx0}" HEIGHT="{ly1 - ly0}">'
                )
                for wi, w in enumerate(ln.words):
                    if wi:
                        out.append("            <SP/>")
                    wx0, wy0, wx1, wy1 = w.box
                    out.append(
                        f'            <String ID="p{p.index}_l{li}_w{wi}" CONTENT={quoteattr(w.best_text)} WC="{_conf(w.confidence):.4f}" '
                        f'HPOS="{wx0}" VPOS="{wy0}" WIDTH="{wx1 - wx0}" HEIGHT="{wy1 - wy0}"/>'
                    )
                out.append("          </TextLine>")
            out.append("        </TextBlock>")
        out += ["      </PrintSpace>", "    </Page>"]
    out += ["  </Layout>", "</alto>", ""]
    return "\n".join(out)


def to_hocr(doc: Document) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
        "<head>",
        f"  <title>{escape(doc.source)}</title>",
        '  <meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>',
        '  <meta name="ocr-system" content="htr"/>',
        '  <meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word"/>',
        "</head>",
        "<body>",
    ]
    for p in doc.pages:
        title = quoteattr(f"image {p.image or doc.source}; bbox 0 0 {p.width} {p.height}; ppageno {p.index}")
        out.append(f'  <div class="ocr_page" id="page_{p.index + 1}" title={title}>')
        for li, ln in enumerate(p.lines):
            out.append(f'    <span class="ocr_line" id="line_{p.index + 1}_{li + 1}" title="bbox {" ".join(map(str, ln.box))}">')
            for wi, w in enumerate(ln.words):
                out.append(
                    f'      <span class="ocrx_word" id="word_{p.index + 1}_{li + 1}_{wi + 1}" '
                    f'title="bbox {" ".join(map(str, w.box))}; x_wconf {int(round(100 * _conf(w.confidence)))}">{escape(w.best_text)}</span>'
                )
            out.append("    </span>")
        out.append("  </div>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def serialize(doc: Document, fmt: str) -> list[tuple[str, str]]:
    """(file name, content) pairs: one for every format but PAGE XML (one per page)."""
    stem = f"doc{doc.id}" if doc.id is not None else (PurePosixPath(original_name(doc)).stem or "document")
    if fmt == "txt":
        return [(f"{stem}.txt", to_txt(doc))]
    if fmt == "json":
        return [(f"{stem}.json", to_json(doc))]
    if fmt == "alto":
        return [(f"{stem}.alto.xml", to_alto(doc))]
    if fmt == "hocr":
        return [(f"{stem}.hocr", to_hocr(doc))]
    if fmt == "pagexml":
        return [(f"{stem}.page{p.index + 1:04d}.xml", to_pagexml(doc, p)) for p in doc.pages]
    if fmt == "csv":
        return [(f"{stem}.csv", to_csv(doc))]
    raise ValueError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
