"""Installed font files: where they are, what they cover, whether they have lowercase.

A catalogue entry (``catalogue.py``) becomes a :class:`Face` once its files are
found in the fonts folder: the ``latin`` subset files of its normal styles
(different weights are different pens of one hand). Two checks make the labels
honest:

- **coverage**: a character counts only when its glyph is inked and differs
  from the font's ``.notdef`` box; a face must cover every character the
  model reads (letters, digits, the punctuation of the charset), or it is
  left out with the reason;
- **caps only**: some handwriting fonts draw capitals (or small capitals) for
  lowercase letters. Told by glyph shape: a lowercase letter whose glyph,
  scaled to its capital's box, traces the capital (:func:`shape_match`) is a
  capital; when 7 of the 10 shape-distinct letters (``a b d e g h n q r t``)
  are, the face gets text in capitals only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import ImageFont

from recognition.charset import IAM_CHARS

from .. import paths
from .catalogue import CATALOGUE, FontEntry

_DISTINCT = "abdeghnqrt"  # lowercase letters whose capital has another shape
_NOTDEF_PROBE = "\ue000"  # a private-use code point: no handwriting font has it


class FontError(Exception):
    """The fonts are not installed, or none fits."""


def fonts_dir() -> Path:
    """The fonts folder ``htr`` configured (``HTR_FONTS_DIR``), else ``.fonts/`` (training/paths.py)."""
    return paths.fonts_dir()


@dataclass(frozen=True)
class Face:
    entry: FontEntry
    files: tuple[Path, ...]  # one per weight
    caps_only: bool
    license_file: Path | None

    @property
    def name(self) -> str:
        return self.entry.package


@lru_cache(maxsize=512)
def truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def glyph_mask(path: str, ch: str, size: int = 64) -> np.ndarray:
    """The glyph's coverage (uint8), cropped to its ink; empty for no ink."""
    font = truetype(path, size)
    mask = font.getmask(ch, mode="L")
    arr = (
        np.asarray(mask, np.uint8).reshape(mask.size[1], mask.size[0])
        if mask.size[0] * mask.size[1]
        else np.zeros((0, 0), np.uint8)
    )
    ys, xs = np.nonzero(arr > 64)
    if len(ys) == 0:
        return np.zeros((0, 0), np.uint8)
    return arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b)


def missing_chars(path: str | Path, chars: str = IAM_CHARS) -> str:
    """Characters of ``chars`` (space aside) the font does not draw."""
    notdef = glyph_mask(str(path), _NOTDEF_PROBE)
    out = []
    for ch in chars:
        if ch == " ":
            continue
        g = glyph_mask(str(path), ch)
        if g.size == 0 or (notdef.size and _same(g, notdef)):
            out.append(ch)
    return "".join(out)


def shape_match(lower: np.ndarray, upper: np.ndarray) -> float:
    """How closely one glyph traces another once scaled to its box: the
    smaller of the two shares of ink lying within a few pixels of the other's
    (1.0: the same shape; thin strokes make a plain IoU too strict)."""
    h = 64
    w = max(8, int(round(h * upper.shape[1] / upper.shape[0])))
    a = cv2.resize(lower, (w, h), interpolation=cv2.INTER_AREA) > 64
    b = cv2.resize(upper, (w, h), interpolation=cv2.INTER_AREA) > 64
    k = np.ones((7, 7), np.uint8)
    near_a = cv2.dilate(a.astype(np.uint8), k) > 0
    near_b = cv2.dilate(b.astype(np.uint8), k) > 0
    return float(min((a & near_b).sum() / max(a.sum(), 1), (b & near_a).sum() / max(b.sum(), 1)))


def is_caps_only(path: str | Path, threshold: float = 0.95) -> bool:
    """True when most shape-distinct lowercase letters are drawn as capitals
    (measured: Amatic SC 9 of 10 at >= 0.95; lowercase fonts none, at most 0.9)."""
    same = 0
    for ch in _DISTINCT:
        lower, upper = glyph_mask(str(path), ch, 96), glyph_mask(str(path), ch.upper(), 96)
        if lower.size and upper.size and shape_match(lower, upper) >= threshold:
            same += 1
    return same >= 7


_FILE = re.compile(r"-latin-(\d+)-normal\.woff$")


def _weight(p: Path) -> int:
    m = _FILE.search(p.name)
    return int(m.group(1)) if m else 0


def find_faces(split: str | None = None, root: Path | None = None) -> tuple[list[Face], dict[str, str]]:
    """The usable installed faces of a split, and the left-out ones with why."""
    base = (root or fonts_dir()) / "node_modules" / "@fontsource"
    if not base.is_dir():
        raise FontError(f"no fonts in {base.parent.parent}: run scripts/install-fonts.sh")
    return _scan(str(base), split)


@lru_cache(maxsize=8)
def _scan(base: str, split: str | None):
    faces, skipped = [], {}
    for entry in CATALOGUE:
        if split is not None and entry.split != split:
            continue
        pkg = Path(base) / entry.package
        files = sorted((p for p in (pkg / "files").glob("*-latin-*-normal.woff") if _FILE.search(p.name)), key=_weight)
        if not files:
            skipped[entry.package] = "not installed"
            continue
        # Hairline and black weights are no pen's: keep 300-700.
        files = [f for f in files if 300 <= _weight(f) <= 700] or files[:1]
        gaps = missing_chars(files[0])
        if gaps:
            skipped[entry.package] = f"no glyph for {gaps!r}"
            continue
        lic = next((p for p in (pkg / "LICENSE", pkg / "LICENSE.md") if p.is_file()), None)
        faces.append(Face(entry, tuple(files), is_caps_only(files[0]), lic))
    return faces, skipped
