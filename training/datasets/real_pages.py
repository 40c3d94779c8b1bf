"""Real scanned pages with line ground truth (ALTO / PAGE XML) as line crops.

Specs: ``alto:DIR[:SPLIT]``, ``pagexml:DIR[:SPLIT]`` (either format is read
by its root element), and the sets under ``DATA/real-pages`` and
``DATA/registers`` by name: ``copiste:SPLIT``, ``poilus:SPLIT``,
``peraire:SPLIT``, ``stanford:SPLIT``, ``riant:SPLIT``.

Splits (``train``, ``val``, ``test``; ``all`` for every page), fixed by name so
they never move when files are added:

- ``copiste``: by text number (``wikitexte_0028`` and ``wikitexte_0028_2`` are
  one writer), so no writer is in two splits;
- ``peraire``: the source's own ``train_`` / ``test_`` file names; ``val`` is
  the ``train_`` pages in the val bucket. This writer is kept out of the
  base model's training (the new-hand benchmark);
- any other folder: by page name.

The bucket of a key is ``crc32(key) % 10``: 0 → test, 1 → val, else train.

Lines are cut with ``recognition.pages.cut_polygon`` (``segmentation.crop``), the crop reading uses.
Transcription markup (:func:`clean_transcription`) is resolved here; lines
whose ink the text does not spell (crossed out, unreadable, formula source,
the hand-written page ids of ``copiste``) are left out.
"""

from __future__ import annotations

import re
import threading
import zlib
from pathlib import Path

import numpy as np

from recognition.charset import WESTERN_CHARS, Charset
from recognition.pages import cut_line, cut_polygon, polygon_box
from recognition.text import normalize_text

from .base import Dataset, DatasetError, Item, read_gray
from .layout_xml import LineTruth, PageTruth, page_files, read_page_file

SPLITS = ("train", "val", "test", "all")
NAMED = {
    "copiste": "real-pages/copiste",
    "poilus": "real-pages/poilus",
    "peraire": "real-pages/peraire",
    "stanford": "real-pages/stanford",
    "riant": "registers/riant",
}

_PAGE_ID = re.compile(r"^(imp_)?wikitexte_\d+(_\d+)?$", re.IGNORECASE)
_CROSSED = re.compile(r">[^<>]*<")
_MARKS = str.maketrans({"^": None, "\u22ce": None})  # superscript mark (M^r), insertion mark
_CHARSET = Charset(WESTERN_CHARS)


def clean_transcription(text: str) -> str | None:
    """A ground-truth line → the text its ink spells, or None to leave the line out.

    Left out: page ids written as file names (``imp_wikitexte_0090``), crossed-out
    or unreadable passages (``>text<``, ``><``), formula source (``{-displaystyle``),
    and characters no Western European hand writes (syllabics, arrows, editorial
    brackets). Superscript marks ``^`` and insertion marks are dropped (``M^r`` → ``Mr``)."""
    text = " ".join(text.split())
    if not text or _PAGE_ID.match(text) or _CROSSED.search(text) or "{" in text or "}" in text:
        return None
    text = text.translate(_MARKS)
    folded = _CHARSET.normalize(text)
    if not folded or len(folded) != len(normalize_text(text)):  # a character the set cannot spell
        return None
    return folded


def reference_text(text: str) -> str:
    """A ground-truth line as it counts in a whole page's transcript: markup marks removed
    (``>po<`` → ``po``, ``><`` → nothing, ``M^r`` → ``Mr``), folded onto the charset; page ids
    written as file names count as nothing (the ink reads otherwise)."""
    text = " ".join(text.split())
    if _PAGE_ID.match(text):
        return ""
    return _CHARSET.normalize(text.translate(_MARKS).replace("<", "").replace(">", ""))


def bucket(key: str) -> str:
    b = zlib.crc32(key.encode("utf-8")) % 10
    return "test" if b == 0 else "val" if b == 1 else "train"


def _copiste_key(name: str) -> str:
    m = re.search(r"wikitexte_(\d+)", name)
    return m.group(1) if m else name


def split_of(set_name: str, page_name: str) -> str:
    if set_name == "copiste":
        return bucket(_copiste_key(page_name))
    if set_name == "peraire":
        if page_name.startswith("test_"):
            return "test"
        return "val" if bucket(page_name) == "val" else "train"
    return bucket(page_name)


class RealPages(Dataset):
    """Line crops of real pages (one item per ground-truth line kept)."""

    level = "lines"
    neighbour_ink = False  # real crops carry their neighbours' ink already
    # Share of training crops cut as the polygon's whole box, neighbours' ink and all (a line
    # image cut by another tool, as IAM's are), not painted out around the polygon.
    box_share = 0.25

    def __init__(self, folder: str | Path, split: str = "test", set_name: str | None = None):
        if split not in SPLITS:
            raise DatasetError(f"no split {split!r}: use one of {', '.join(SPLITS)}")
        self.folder = Path(folder)
        self.name = set_name or self.folder.name
        self.split = split
        self.pages: list[PageTruth] = []
        self.lines: list[tuple[PageTruth, LineTruth]] = []
        items = []
        for xml in page_files(self.folder):
            if split != "all" and split_of(self.name, xml.stem) != split:
                continue
            page = read_page_file(xml)
            self.pages.append(page)
            for line in page.lines:
                text = clean_transcription(line.text)
                if text is None or len(line.polygon) < 3:
                    continue
                self.lines.append((page, line))
                items.append(Item(f"{page.name}/{line.id}", text, page.image))
        self._cache: dict[Path, np.ndarray] = {}
        self._lock = threading.Lock()
        super().__init__(items)

    def page_image(self, path: Path) -> np.ndarray:
        with self._lock:
            img = self._cache.get(path)
        if img is None:
            img = read_gray(path)
            with self._lock:
                self._cache[path] = img
        return img

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
        page, line = self.lines[i]
        image = self.page_image(page.image)
        if rng is not None and rng.random() < self.box_share:
            h, w = image.shape[:2]
            return cut_line(image, polygon_box(line.polygon, w, h)), self.items[i].text
        return cut_polygon(image, line.polygon), self.items[i].text


def open_real_pages(kind: str, arg: str, root: Path) -> RealPages:
    if kind in NAMED:
        return RealPages(root / NAMED[kind], arg or "test", kind)
    folder, _, split = arg.rpartition(":") if ":" in arg else (arg, "", "all")
    if not folder:
        raise DatasetError(f"{kind}:DIR[:SPLIT]: give the folder")
    return RealPages(folder, split or "all")
