"""``htr evaluate-pages``: the real page path (render → segment → read) measured on pages with
line ground truth (ALTO or PAGE XML), so a user sees whether finding or reading lines fails.

Per set (and per kind of page, e.g. ``copiste``'s printed ruled ``imp_`` forms apart from plain
paper):

- line detection precision and recall: a found line and a ground-truth line match when the
  intersection over union of the found line (its box on the deskewed page, turned back onto
  the scan) and the true polygon, measured over the true
  lines' area (``region_ious``), is at least ``IOU``; one to one, best overlaps first;
- page CER / WER: the whole transcript in reading order against the ground truth's, lines
  joined by spaces (a merged or split line costs one character);
- line CER: the ground-truth lines cut from their polygons (``segmentation.crop``) and read
  alone, as ``htr evaluate`` does;
- each CER also with accents folded (``recognition.text.fold_accents``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import cv2
import editdistance
import numpy as np

from recognition.pages import cut_polygon
from recognition.text import fold_accents
from segmentation.page import page_polygon
from training.datasets import RealPages, open_dataset
from training.datasets.real_pages import clean_transcription, reference_text

from ..io.documents import read_page
from .pages import segment

IOU = 0.5


def region_ious(found: list, polygons: list, width: int, height: int, scale: float = 0.25) -> np.ndarray:
    """IoU of every found line (a box ``(x0, y0, x1, y1)``, or a polygon: a line of a page
    segmentation deskewed is a turned rectangle) with every true line polygon, measured over the
    ground truth's text: the paper a line also covers (margins, the gaps between lines) is not
    counted, only the true lines' area it takes in. A box holding one whole line and the tips
    of its neighbours scores near 1; a box straddling two lines, at most one half."""
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    label = np.zeros((h, w), np.int32)
    for j, poly in enumerate(polygons, 1):
        cv2.fillPoly(label, [np.round(np.asarray(poly, np.float64) * scale).astype(np.int32)], j)
    area = np.bincount(label.ravel(), minlength=len(polygons) + 1)
    out = np.zeros((len(found), len(polygons)))
    for i, shape in enumerate(found):
        if len(shape) == 4 and np.ndim(shape[0]) == 0:
            x0, y0, x1, y1 = shape
            inside = label[int(y0 * scale) : int(np.ceil(y1 * scale)), int(x0 * scale) : int(np.ceil(x1 * scale))].ravel()
        else:
            pts = np.round(np.asarray(shape, np.float64) * scale).astype(np.int32)
            x0, y0 = np.maximum(pts.min(axis=0), 0)
            x1, y1 = pts.max(axis=0) + 1
            region = label[y0:y1, x0:x1]
            m = np.zeros(region.shape, np.uint8)
            cv2.fillPoly(m, [pts - [x0, y0]], 1)
            inside = region[m.astype(bool)]
        inter = np.bincount(inside, minlength=len(polygons) + 1)
        text = inter[1:].sum()
        out[i] = inter[1:] / np.maximum(1, area[1:] + text - inter[1:])
    return out


def match_pairs(ious: np.ndarray, threshold: float = IOU) -> list[tuple[int, int]]:
    """(found, true) line pairs matched one to one at ``threshold`` or more, best overlaps first."""
    used_f: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for flat in np.argsort(-ious, axis=None):
        i, j = (int(k) for k in np.unravel_index(flat, ious.shape))
        if ious[i, j] < threshold:
            break
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            pairs.append((i, j))
    return pairs


def match_lines(ious: np.ndarray, threshold: float = IOU) -> int:
    """How many found lines match true lines one to one (``match_pairs``)."""
    return len(match_pairs(ious, threshold))


class Tally:
    """Counts that add up over pages."""

    def __init__(self) -> None:
        self.n: defaultdict[str, float] = defaultdict(float)

    def add(self, **counts: float) -> None:
        for k, v in counts.items():
            self.n[k] += v

    def report(self) -> dict:
        n = self.n

        def rate(a: str, b: str) -> float | None:
            return round(n[a] / n[b], 4) if n[b] else None

        return {
            "pages": int(n["pages"]),
            "lines_true": int(n["truth"]),
            "lines_found": int(n["found"]),
            "detection_precision": rate("matched", "found"),
            "detection_recall": rate("matched", "truth"),
            "page_cer": rate("page_char_errors", "page_chars"),
            "page_cer_accents_folded": rate("page_char_errors_folded", "page_chars"),
            "page_wer": rate("page_word_errors", "page_words"),
            "line_cer": rate("line_char_errors", "line_chars"),
            "line_cer_accents_folded": rate("line_char_errors_folded", "line_chars"),
            "seconds": round(n["seconds"], 1),
        }


def page_kind(set_name: str, page_name: str) -> str:
    """``copiste`` pages on the printed ruled form (``imp_``) are reported apart."""
    return "ruled form" if page_name.startswith("imp_") else "plain"


def evaluate_pages(
    predict: Callable[[list[np.ndarray]], list] | None, spec: str, data_root=None, limit: int | None = None, on_page=None
) -> dict:
    """Figures of the page path for one data set spec (``copiste:test``, ``alto:DIR``, ...).
    With ``predict`` None, line detection only (no model, no CER)."""
    ds = open_dataset(spec, data_root)
    if not isinstance(ds, RealPages):
        raise ValueError(f"{spec}: not a set of pages with line ground truth (alto:DIR, pagexml:DIR, copiste:test, ...)")
    total = Tally()
    kinds: defaultdict[str, Tally] = defaultdict(Tally)
    for page in ds.pages[:limit]:
        t0 = time.perf_counter()
        work = segment(read_page(page.image, 0))
        found = [page_polygon(b, work.angle, work.width, work.height) for b in work.boxes]
        image = ds.page_image(page.image)
        polygons = [ln.polygon for ln in page.lines if len(ln.polygon) >= 3]
        counts: dict[str, float] = {
            "pages": 1,
            "truth": len(polygons),
            "found": len(found),
            "matched": match_lines(region_ious(found, polygons, image.shape[1], image.shape[0])) if found and polygons else 0,
        }
        hyp = ""
        if predict is not None:
            hyp = _read_counts(predict, work.crops, page, image, counts)
        counts["seconds"] = time.perf_counter() - t0
        total.add(**counts)
        kinds[page_kind(ds.name, page.name)].add(**counts)
        if on_page is not None:
            on_page(page.name, counts, hyp)
    out = total.report()
    if len(kinds) > 1:
        out["by_kind"] = {k: t.report() for k, t in sorted(kinds.items())}
    return out


def _read_counts(predict: Callable[[list[np.ndarray]], list], crops: list, page, image: np.ndarray, counts: dict) -> str:
    """Page and line error counts into ``counts``; -> the page's transcript as read."""
    texts = [r.text for r in predict(crops)] if crops else []
    ref = " ".join(t for t in (reference_text(ln.text) for ln in page.lines) if t)
    hyp = " ".join(t for t in texts if t)
    cleaned = [(ln, clean_transcription(ln.text)) for ln in page.lines if len(ln.polygon) >= 3]
    kept = [(ln, t) for ln, t in cleaned if t]
    line_hyps = [r.text for r in predict([cut_polygon(image, ln.polygon) for ln, _ in kept])] if kept else []
    line_refs = [t for _, t in kept]
    counts.update(
        {
            "page_chars": len(ref),
            "page_char_errors": editdistance.eval(ref, hyp),
            "page_char_errors_folded": editdistance.eval(fold_accents(ref), fold_accents(hyp)),
            "page_words": len(ref.split()),
            "page_word_errors": editdistance.eval(ref.split(), hyp.split()),
            "line_chars": sum(len(r) for r in line_refs),
            "line_char_errors": sum(editdistance.eval(r, h) for r, h in zip(line_refs, line_hyps)),
            "line_char_errors_folded": sum(
                editdistance.eval(fold_accents(r), fold_accents(h)) for r, h in zip(line_refs, line_hyps)
            ),
        }
    )
    return hyp
