"""Printed labels read with an OCR engine for print: Tesseract.

The handwriting model does not read type well, and a register's column
headers are type. :func:`read_header` reads a table's header band (the
deskewed gray page, its thin rules painted over with paper) in several passes
(``PASSES``: the print enlarged to two sizes, Tesseract's sparse-text modes,
gray and binarized) and keeps the words at least two passes agree on; each
column gets the words standing over it (``Table.header_columns``: a
super-header's words go to every column under it), level by level from the
top, joined by `` / `` (``NATURE ET ESPÈCE DES ACTES / EN BREVETS.``). A column
over which nothing was read, and every column when Tesseract is missing, is
keyed ``column N``. :func:`consensus_keys` gives a document's pages one set of
keys (a register's header is printed alike on every page).

Tesseract is Debian's ``tesseract-ocr`` with its ``fra`` and ``eng`` language
data (``scripts/setup.sh`` installs them), called as a program; when it is
missing, one warning says so and registers are still read, with numbered keys.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from .layout import Box
from .table import Table

log = logging.getLogger(__name__)

LANGUAGES = ("fra", "eng")  # used when installed, in this order
# The header band is read in these passes: letters enlarged to about this height (px), page
# segmentation mode (11: sparse text), and whether the enlarged band is binarized first (Otsu).
PASSES = ((26, 11, False), (26, 12, False), (40, 11, False), (26, 11, True), (40, 11, True))
MIN_CONFIDENCE = 0.3  # words Tesseract reads below this are left out
TIMEOUT = 60  # seconds for one call


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: Box  # in the coordinates of the image read
    confidence: float  # 0..1
    line: tuple[int, int, int]  # Tesseract's block, paragraph and line


@functools.lru_cache(maxsize=1)
def tesseract() -> tuple[str, str] | None:
    """(the tesseract program, the languages to read with as ``-l`` takes them), or None
    (said once in the log) when it or its language data is missing."""
    exe = shutil.which("tesseract")
    hint = "install tesseract-ocr and tesseract-ocr-fra (scripts/setup.sh does on Debian)"
    if exe is None:
        log.warning(
            "tesseract is not installed: printed labels (register column headers) are not read, columns are keyed 'column N'; %s",
            hint,
        )
        return None
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("tesseract does not run (%s): printed labels are not read; %s", exc, hint)
        return None
    have = {ln.strip() for ln in (out.stdout + out.stderr).splitlines()[1:]}
    langs = [lang for lang in LANGUAGES if lang in have]
    if not langs:
        log.warning("tesseract has none of the languages %s: printed labels are not read; %s", ", ".join(LANGUAGES), hint)
        return None
    return exe, "+".join(langs)


def ocr_words(gray: np.ndarray, psm: int = 11) -> list[OcrWord]:
    """The words Tesseract reads in a gray image (page segmentation mode ``psm``: 11 finds
    sparse text, 6 reads one block), or [] when it is missing or fails."""
    engine = tesseract()
    if engine is None or gray.size == 0:
        return []
    exe, langs = engine
    ok, png = cv2.imencode(".png", gray)
    if not ok:
        return []
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # small images: threads only contend
    try:
        res = subprocess.run(
            [exe, "stdin", "stdout", "-l", langs, "--psm", str(psm), "tsv"],
            input=png.tobytes(),
            capture_output=True,
            timeout=TIMEOUT,
            env=env,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("tesseract failed: %s", exc)
        return []
    if res.returncode != 0:
        log.warning("tesseract failed: %s", res.stderr.decode(errors="replace").strip()[-300:])
        return []
    words = []
    for row in res.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
        f = row.split("\t")
        if len(f) < 12 or f[0] != "5" or not f[11].strip():
            continue
        try:
            x, y, w, h, conf = int(f[6]), int(f[7]), int(f[8]), int(f[9]), float(f[10])
        except ValueError:
            continue
        words.append(OcrWord(f[11].strip(), Box(x, y, x + w, y + h), max(0.0, conf) / 100.0, (int(f[2]), int(f[3]), int(f[4]))))
    return words


def _without_rules(gray: np.ndarray) -> np.ndarray:
    """The image with its long thin rules painted over with its paper tone (they confuse the
    engine): runs of ink a fifteenth of its width long (a third of its height, upright) and
    under 5 px thick, so print blurred into solid runs stays."""
    paper = int(np.percentile(gray, 90))
    _t, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    h, w = ink.shape

    def runs(size: tuple[int, int]) -> np.ndarray:
        return cast(np.ndarray, cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, size)))

    horiz = runs((max(25, w // 15), 1)) & ~runs((1, 5))
    vert = runs((1, max(15, h // 3))) & ~runs((5, 1))
    rules = cv2.dilate(horiz | vert, np.ones((3, 3), np.uint8)).astype(bool)
    out = gray.copy()
    out[rules] = paper
    return out


def _print_height(gray: np.ndarray) -> float:
    """The height of the print in an image: the median height of its letter-sized ink
    components (specks and long runs left out); a fifth of the image's height when it has none."""
    _t, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, _labels, stats, _c = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h, w = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
    letters = h[(stats[1:, cv2.CC_STAT_AREA] >= 10) & (h >= 4) & (h <= 0.5 * gray.shape[0]) & (w <= 3 * h)]
    return float(np.median(letters)) if n > 1 and letters.size else max(1.0, gray.shape[0] / 5.0)


def _lines(words: list[OcrWord]) -> list[list[OcrWord]]:
    """Words grouped into printed lines, top to bottom, each left to right: a word joins the
    line whose height range overlaps its own by half the smaller height."""
    lines: list[list[OcrWord]] = []
    spans: list[tuple[int, int]] = []
    for w in sorted(words, key=lambda w: (w.box.y0 + w.box.y1) / 2.0):
        for i, (a, b) in enumerate(spans):
            if min(b, w.box.y1) - max(a, w.box.y0) >= 0.5 * min(b - a, w.box.height):
                lines[i].append(w)
                spans[i] = (min(a, w.box.y0), max(b, w.box.y1))
                break
        else:
            lines.append([w])
            spans.append((w.box.y0, w.box.y1))
    order = sorted(range(len(lines)), key=lambda i: (spans[i][0] + spans[i][1]) / 2.0)
    return [sorted(lines[i], key=lambda w: w.box.x0) for i in order]


def _iou(a: Box, b: Box) -> float:
    return a.iou(b)


def _vote(passes: list[list[OcrWord]], min_votes: int) -> list[OcrWord]:
    """Words read alike by several passes: the words of all passes grouped by place (box IoU ≥
    0.3 with a group's surest word), groups read by at least ``min_votes`` passes kept, each as
    its most frequent spelling (ties: the surer), at its surest word's box."""
    groups: list[list[tuple[int, OcrWord]]] = []
    for k, w in sorted(((k, w) for k, ws in enumerate(passes) for w in ws), key=lambda kw: -kw[1].confidence):
        for g in groups:
            if _iou(g[0][1].box, w.box) >= 0.3:
                g.append((k, w))
                break
        else:
            groups.append([(k, w)])
    out = []
    for g in groups:
        if len({k for k, _w in g}) < min_votes:
            continue
        score: dict[str, float] = {}
        for _k, w in g:
            score[w.text] = score.get(w.text, 0.0) + 1.0 + w.confidence / 10.0
        text = max(score, key=lambda t: score[t])
        best = g[0][1]
        out.append(OcrWord(text, best.box, max(w.confidence for _k, w in g if w.text == text), best.line))
    return out


def header_words(page: np.ndarray, table: Table) -> list[OcrWord]:
    """The words of a table's header band, boxes in the page's (deskewed) coordinates: the band
    read in ``PASSES`` (sizes and page segmentation modes), the words most passes agree on."""
    hb = table.header
    crop = page[hb.y0 : hb.y1, hb.x0 : hb.x1]
    if crop.size == 0 or tesseract() is None:
        return []
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    clean = _without_rules(crop)
    passes = []
    letters = _print_height(clean)
    for height, psm, binary in PASSES:
        scale = min(4.0, max(1.0, height / letters))
        big = cv2.resize(clean, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else clean
        if binary:
            big = cv2.threshold(big, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
        words = []
        for w in ocr_words(big, psm):
            if w.confidence < MIN_CONFIDENCE or not any(ch.isalnum() for ch in w.text):
                continue
            b = w.box
            box = Box(
                hb.x0 + int(b.x0 / scale),
                hb.y0 + int(b.y0 / scale),
                hb.x0 + int(np.ceil(b.x1 / scale)),
                hb.y0 + int(np.ceil(b.y1 / scale)),
            )
            words.append(OcrWord(w.text, box, w.confidence, w.line))
        passes.append(words)
    return _vote(passes, min(2, len(passes)))


def header_keys(table: Table, words: list[OcrWord]) -> list[str]:
    """Each column's key from the header's words: the words over it, a level (the span of
    columns a word stands over) at a time from the top, its lines in reading order."""
    levels: list[dict[tuple[int, int], list[OcrWord]]] = [{} for _ in table.columns]
    for w in words:
        cols = table.header_columns(w.box.x0, w.box.x1, (w.box.y0 + w.box.y1) / 2.0)
        for c in cols:
            levels[c].setdefault((cols[0], cols[-1]), []).append(w)
    keys = []
    for i, lv in enumerate(levels):
        parts = sorted(lv.values(), key=lambda ws: min(w.box.y0 for w in ws))
        text = " / ".join(" ".join(w.text for ln in _lines(ws) for w in ln) for ws in parts)
        keys.append(" ".join(text.split()) or f"column {i + 1}")
    seen: dict[str, int] = {}
    for i, k in enumerate(keys):  # keys name CSV columns: one name each
        seen[k] = seen.get(k, 0) + 1
        if seen[k] > 1:
            keys[i] = f"{k} ({seen[k]})"
    return keys


def read_header(page: np.ndarray, table: Table) -> list[str]:
    """Read a table's header (``page``: the deskewed gray page the table was found on) and
    set each column's key; returns the keys."""
    keys = header_keys(table, header_words(page, table))
    for col, key in zip(table.columns, keys):
        col.key = key
    return keys


# --- one document's keys ------------------------------------------------------------------------


def key_form(text: str) -> str:
    """A key as compared: lower case, accents and punctuation off, spaces collapsed."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", t).split())


def key_distance(a: str, b: str) -> float:
    """Edit distance between two keys' forms over the longer one's length (0: alike, 1: nothing shared)."""
    from rapidfuzz.distance import Levenshtein

    a, b = key_form(a), key_form(b)
    return Levenshtein.distance(a, b) / max(1, len(a), len(b))


def _medoid(keys: list[str]) -> str:
    """The reading closest to all the others (summed distances; ties: the first)."""
    return min(keys, key=lambda k: sum(key_distance(k, o) for o in keys))


def _supported(key: str, readings: list[str]) -> str:
    """``key`` without the words that fewer than a third of the ``readings`` hold (what a rule or
    an ornament made the engine see on some pages); its levels kept, empty ones dropped."""
    held = [set(key_form(r).split()) for r in readings]
    levels = []
    for level in key.split(" / "):
        words = [w for w in level.split() if sum(set(key_form(w).split()) <= h for h in held) * 3 >= len(held)]
        if any(key_form(w) for w in words):
            levels.append(" ".join(words))
    return " / ".join(levels) or key


def align_in_order(sim: Sequence[Sequence[float]]) -> list[int | None]:
    """Items a (rows of ``sim``) matched one to one to items b (its columns), both kept in order,
    by the most summed similarity (a monotone alignment: either side may have items the other
    lacks); for each a, the index of its b, or None."""
    n, m = len(sim), len(sim[0]) if sim else 0
    best = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best[i, j] = max(best[i - 1, j], best[i, j - 1], best[i - 1, j - 1] + sim[i - 1][j - 1])
    out: list[int | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        if best[i, j] == best[i - 1, j]:
            i -= 1
        elif best[i, j] == best[i, j - 1]:
            j -= 1
        else:
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
    return out


def _align(keys: Sequence[str], slots: Sequence[str]) -> list[int | None]:
    """Columns matched to slots in order, one to one, by the most similarity (a page with
    columns the others lack, or lacking some: cut by the page's edge)."""
    return align_in_order([[1.0 - key_distance(k, s) for s in slots] for k in keys])


def consensus_keys(pages: Sequence[Sequence[str]]) -> list[list[str]]:
    """The keys of a document's tables, read page by page (``pages``: each table's column keys
    in order), made one set: a register's header is printed alike on every page, so each
    column takes the reading of its column on every page that is closest to the others (the
    medoid, less the words fewer than a third of them hold), which outvotes a page's misreadings.
    Tables with the most common number of columns line up column for column; others (a page
    cut by the scan) are aligned to those by similarity, in order; a column that matches none
    keeps its own key. Numbered keys (``column N``: nothing read) take no part in the vote."""
    counts: dict[int, int] = {}
    for p in pages:
        counts[len(p)] = counts.get(len(p), 0) + 1
    if not counts:
        return []
    width = max(counts, key=lambda k: (counts[k], k))
    placeholder = re.compile(r"^column \d+$")
    votes: list[list[str]] = [[] for _ in range(width)]
    for p in pages:
        if len(p) == width:
            for j, k in enumerate(p):
                if not placeholder.match(k):
                    votes[j].append(k)
    slots = [_medoid(v) if v else f"column {j + 1}" for j, v in enumerate(votes)]
    names = [_supported(k, v) if v else k for k, v in zip(slots, votes)]
    seen: dict[str, int] = {}
    for j, k in enumerate(names):  # one name per column
        seen[k] = seen.get(k, 0) + 1
        if seen[k] > 1:
            names[j] = f"{k} ({seen[k]})"
    out = []
    for p in pages:
        if len(p) == width:
            out.append(list(names))
        else:
            out.append([names[j] if j is not None else k for k, j in zip(p, _align(p, slots))])
    return out
