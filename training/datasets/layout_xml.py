"""Readers for the standard page formats: ALTO (v2-v4) and PAGE XML (2013, 2019).

One reader each, both yielding a :class:`PageTruth`: the page image's path
and size, and its text lines in reading order, each with polygon, baseline,
text and the tags of its block (``TAGREFS`` labels in ALTO, ``@custom``
structure types in PAGE). Namespaces are matched by local name, so every
version of either schema reads the same way.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .base import DatasetError

Point = tuple[float, float]


@dataclass(frozen=True)
class LineTruth:
    id: str
    text: str
    polygon: tuple[Point, ...]
    baseline: tuple[Point, ...] = ()
    tags: tuple[str, ...] = ()  # labels of the line's and its block's tags (ALTO TAGREFS, PAGE structure)
    block: str = ""


@dataclass(frozen=True)
class PageTruth:
    xml: Path
    image: Path
    width: int
    height: int
    lines: tuple[LineTruth, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.xml.stem


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _descendants(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def _points(text: str | None) -> tuple[Point, ...]:
    """``"x y x y"`` (ALTO) or ``"x,y x,y"`` (PAGE) → points."""
    nums = [float(n) for n in _NUM.findall(text or "")]
    return tuple(zip(nums[0::2], nums[1::2]))


def _box_polygon(el: ET.Element) -> tuple[Point, ...]:
    try:
        x, y = float(el.get("HPOS", "")), float(el.get("VPOS", ""))
        w, h = float(el.get("WIDTH", "")), float(el.get("HEIGHT", ""))
    except ValueError:
        return ()
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def _image_for(xml: Path, name: str | None) -> Path:
    """The page image a file names, looked for beside it and in ``../images``."""
    if not name:
        raise DatasetError(f"{xml}: no image file name")
    base = Path(name).name
    for folder in (xml.parent, xml.parent.parent / "images"):
        for cand in (folder / base, *(folder.glob(Path(base).stem + ".*") if folder.is_dir() else ())):
            if cand.is_file() and cand.suffix.lower() != ".xml":
                return cand
    raise DatasetError(f"{xml}: page image {name!r} not found")


def _parse(xml: Path) -> ET.Element:
    try:
        return ET.parse(xml).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DatasetError(f"{xml}: {exc}") from exc


def read_alto(xml: str | Path) -> PageTruth:
    """An ALTO file (v2, v3 or v4) → its page and lines in document order."""
    xml = Path(xml)
    root = _parse(xml)
    if _local(root.tag) != "alto":
        raise DatasetError(f"{xml}: not ALTO (root element {_local(root.tag)!r})")
    labels = {t.get("ID", ""): t.get("LABEL", "") for t in _descendants(root, "OtherTag")}
    names = [e.text for e in _descendants(root, "fileName")]
    pages = _descendants(root, "Page")
    if not pages:
        raise DatasetError(f"{xml}: no Page element")
    page = pages[0]
    width, height = int(float(page.get("WIDTH", 0))), int(float(page.get("HEIGHT", 0)))
    lines: list[LineTruth] = []
    for block in _descendants(page, "TextBlock"):
        block_tags = tuple(labels.get(r, r) for r in (block.get("TAGREFS") or "").split())
        for line in _children(block, "TextLine"):
            shape = _children(line, "Shape")
            polys = _descendants(shape[0], "Polygon") if shape else []
            polygon = _points(polys[0].get("POINTS")) if polys else _box_polygon(line)
            words = [s.get("CONTENT", "") for s in _children(line, "String")]
            tags = tuple(labels.get(r, r) for r in (line.get("TAGREFS") or "").split()) + block_tags
            lines.append(
                LineTruth(
                    line.get("ID", f"l{len(lines)}"),
                    " ".join(w for w in words if w),
                    polygon,
                    _points(line.get("BASELINE")),
                    tags,
                    block.get("ID", ""),
                )
            )
    return PageTruth(xml, _image_for(xml, names[0] if names else None), width, height, tuple(lines))


def read_pagexml(xml: str | Path) -> PageTruth:
    """A PAGE XML file (2013 or 2019 schema) → its page and lines in reading order
    (``ReadingOrder`` of the regions where given, else document order)."""
    xml = Path(xml)
    root = _parse(xml)
    if _local(root.tag) != "PcGts":
        raise DatasetError(f"{xml}: not PAGE XML (root element {_local(root.tag)!r})")
    pages = _descendants(root, "Page")
    if not pages:
        raise DatasetError(f"{xml}: no Page element")
    page = pages[0]
    regions = _descendants(page, "TextRegion")
    order = {r.get("regionRef"): int(r.get("index", 0)) for r in _descendants(page, "RegionRefIndexed")}
    if order:
        regions.sort(key=lambda r: order.get(r.get("id"), len(order)))
    lines: list[LineTruth] = []
    for region in regions:
        kind = region.get("type") or ""
        custom = re.findall(r"structure\s*\{[^}]*type:([^;}]+)", region.get("custom") or "")
        block_tags = tuple(t for t in (kind, *custom) if t)
        for line in _children(region, "TextLine"):
            coords = _children(line, "Coords")
            base = _children(line, "Baseline")
            equiv = _children(line, "TextEquiv")
            text = ""
            if equiv:
                uni = _children(equiv[0], "Unicode")
                text = (uni[0].text or "") if uni else ""
            if not text:  # line text missing: the words' texts
                text = " ".join(
                    (u.text or "")
                    for w in _children(line, "Word")
                    for e in _children(w, "TextEquiv")[:1]
                    for u in _children(e, "Unicode")
                )
            line_custom = tuple(re.findall(r"structure\s*\{[^}]*type:([^;}]+)", line.get("custom") or ""))
            lines.append(
                LineTruth(
                    line.get("id", f"l{len(lines)}"),
                    " ".join(text.split()),
                    _points(coords[0].get("points")) if coords else (),
                    _points(base[0].get("points")) if base else (),
                    line_custom + block_tags,
                    region.get("id", ""),
                )
            )
    return PageTruth(
        xml,
        _image_for(xml, page.get("imageFilename")),
        int(page.get("imageWidth", 0)),
        int(page.get("imageHeight", 0)),
        tuple(lines),
    )


def read_page_file(xml: str | Path) -> PageTruth:
    """ALTO or PAGE XML, told apart by the root element."""
    xml = Path(xml)
    root = _local(_parse(xml).tag)
    if root == "alto":
        return read_alto(xml)
    if root == "PcGts":
        return read_pagexml(xml)
    raise DatasetError(f"{xml}: neither ALTO nor PAGE XML (root element {root!r})")


def page_files(folder: str | Path) -> list[Path]:
    """The XML files of a folder of pages (``DIR/xml/*.xml`` or ``DIR/*.xml``), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    sub = folder / "xml"
    files = sorted((sub if sub.is_dir() else folder).glob("*.xml"))
    if not files:
        raise DatasetError(f"{folder}: no ALTO or PAGE XML files")
    return files
