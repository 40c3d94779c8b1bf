"""Keyword spotting: the probabilistic index against exact search over the best reading.

    python benchmarks/keywords.py [--pages 4] [--washington-pages 2] [--form-names 60] [--min-prob 0.1] [--split val]

Generated pages of ``iam-ondb:test`` and ``washington:cv1/test`` lines and the
``form-names:test`` crops (none trained on; ``--split val`` reads the
validation lines instead, the material constants are chosen on) are processed in-process with the
bundled model. Every word of 4 or more letters in the ground truth is a query;
a line is relevant when its ground-truth text holds the word (page lines are
matched to ground-truth lines by box overlap). Prints precision and recall at
the threshold (micro-averaged over queries; for the index also at other
thresholds) and mean average precision, for
``htr search`` (keyword index) and ``htr search --exact`` (full-text search).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _words(text: str) -> set[str]:
    from recognition.text import normalize_term

    return {w for w in (normalize_term(t) for t in text.split()) if len(w) >= 4 and w.isalpha()}


THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def average_precision(ranked_relevance: list[bool], n_relevant: int) -> float:
    if n_relevant == 0:
        return 0.0
    hits, total = 0, 0.0
    for k, rel in enumerate(ranked_relevance, 1):
        if rel:
            hits += 1
            total += hits / k
    return total / n_relevant


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=4, help="IAM-OnDB pages")
    ap.add_argument("--washington-pages", type=int, default=2)
    ap.add_argument("--form-names", type=int, default=60)
    ap.add_argument("--min-prob", type=float, default=None, help="default: htr search's")
    ap.add_argument("--split", choices=["test", "val"], default="test")
    ap.add_argument("--misses", action="store_true", help="also classify the relevant lines not found")
    ap.add_argument(
        "--fuzzy",
        nargs="*",
        default=[],
        metavar="MIN:LETTERS[:PENALTY]",
        help="also measure these error-tolerant matching settings (worker.db.queries.Fuzzy)",
    )
    return ap.parse_args()


def _documents(args: argparse.Namespace, tmp: Path) -> list[tuple[Path, list, list[str]]]:
    """The generated pages and name fields, written as files: (image, ground-truth boxes, texts)."""
    import cv2

    from benchmarks.segmentation import build_pages, build_washington_pages
    from segmentation import Box
    from training.datasets import open_dataset

    docs: list[tuple[Path, list, list[str]]] = []
    val = args.split == "val"
    pages = build_pages(args.pages, lines_per_page=14, split=args.split)[0] if args.pages else []
    wsplit = "valid" if val else "test"
    pages += build_washington_pages(args.washington_pages, split=wsplit)[0] if args.washington_pages else []
    for i, sp in enumerate(pages):
        path = tmp / f"page{i:03d}.png"
        cv2.imwrite(str(path), sp.image)
        docs.append((path, sp.boxes, sp.texts))
    if args.form_names:
        ds = open_dataset(f"form-names:{args.split}")
        for i in range(min(args.form_names, len(ds))):
            img, text = ds.load(i, None)
            path = tmp / f"name{i:03d}.png"
            cv2.imwrite(str(path), img)
            docs.append((path, [Box(0, 0, img.shape[1], img.shape[0])], [text]))
    return docs


@dataclass
class _Truth:
    """What the processed documents should be found by: each found line's ground-truth text, each
    ground-truth line's found lines, and how many lines hold each query word."""

    min_prob: float
    truth: dict[int, str] = field(default_factory=dict)
    gt_lines: list[tuple[str, list[int]]] = field(default_factory=list)
    relevant_total: dict[str, int] = field(default_factory=dict)

    @property
    def queries(self) -> list[str]:
        return sorted(self.relevant_total)


def _process(docs, sessions, store, models, min_prob: float) -> _Truth:
    """Each document through the pipeline, its found lines matched to the ground truth."""
    from benchmarks.synth import match_lines
    from segmentation import Box
    from worker.db import Line, Page
    from worker.pipeline import process_document, register_document

    t = _Truth(min_prob)
    for path, boxes, texts in docs:
        with sessions() as s:
            doc, _ = register_document(s, store, path)
        process_document(doc.id, sessions, store, models)
        for text in texts:
            for w in _words(text):
                t.relevant_total[w] = t.relevant_total.get(w, 0) + 1
        with sessions() as s:
            lines = s.query(Line).join(Page).filter(Page.document_id == doc.id).order_by(Line.id).all()
            found = [Box(ln.x0, ln.y0, ln.x1, ln.y1) for ln in lines]
            single = len(boxes) == 1 and len(texts) == 1 and len(lines) >= 1 and path.name.startswith("name")
            matches = [(i, 0) for i in range(len(lines))] if single else match_lines(found, boxes, 0.3)["matches"]
            for i, j in matches:
                t.truth[lines[i].id] = texts[j]
            t.gt_lines += [(text, [lines[i].id for i, j in matches if j == k]) for k, text in enumerate(texts)]
    return t


def _evaluate(t: _Truth, run, thresholds=()) -> dict:
    """Precision and recall at the threshold (and at ``thresholds``), and mean average precision."""
    n_rel = sum(t.relevant_total.values())
    aps = []
    counts = {th: [0, 0] for th in (t.min_prob, *thresholds)}  # threshold -> [relevant retrieved, retrieved]
    for q in t.queries:
        ranked = run(q)
        rel = [q in _words(t.truth.get(h.line_id, "")) for h in ranked]
        aps.append(average_precision(rel, t.relevant_total[q]))
        for th, c in counts.items():
            kept = [r for h, r in zip(ranked, rel) if h.probability is None or h.probability >= th]
            c[0] += sum(kept)
            c[1] += len(kept)

    def pr(c):
        return {"precision": round(c[0] / max(1, c[1]), 3), "recall": round(c[0] / max(1, n_rel), 3)}

    out = {**pr(counts[t.min_prob]), "mean_average_precision": round(sum(aps) / max(1, len(aps)), 3)}
    if thresholds:
        out["by_threshold"] = {str(th): pr(counts[th]) for th in thresholds}
    return out


def _misses(t: _Truth, s) -> dict:
    """Why relevant lines were not found at the threshold (a misread word: whether the bundled
    model's lexicon, its training words, holds it)."""
    from recognition.bundle import default_model_path
    from recognition.lm import Lexicon
    from recognition.text import normalize_term
    from worker.db import Line
    from worker.db.queries import keyword_search

    lexicon = Lexicon.load(default_model_path() / "lexicon.txt").words
    readings = {ln.id: ln.text for ln in s.query(Line)}
    kinds: dict[str, int] = {}
    examples: list[dict] = []
    for q in t.queries:
        hits = {h.line_id: h.probability for h in keyword_search(s, q, min_prob=0.0, limit=10000)}
        for text, ids in t.gt_lines:
            if q not in _words(text):
                continue
            probs = [hits[i] for i in ids if i in hits]
            if not ids:
                kind = "line not segmented"
            elif any(p is None or p >= t.min_prob for p in probs):
                kind = "found"
            elif probs:
                kind = "below threshold"
            elif any(q in normalize_term(readings[i]) for i in ids):
                kind = "word boundary misread"
            else:
                kind = "misread, word in the lexicon" if q in lexicon else "misread, word not in the lexicon"
                examples.append({"query": q, "kind": kind, "read": [readings[i] for i in ids]})
            kinds[kind] = kinds.get(kind, 0) + 1
    return {**kinds, "misread examples": examples}


def _false_hits(t: _Truth, s) -> dict:
    """The hits at the threshold on lines whose ground truth lacks the word, by cause."""
    from recognition.text import normalize_term
    from worker.db import Line
    from worker.db.queries import keyword_search

    readings = {ln.id: ln.text for ln in s.query(Line)}
    kinds: dict[str, int] = {}
    examples: list[dict] = []
    for q in t.queries:
        for h in keyword_search(s, q, min_prob=t.min_prob, limit=10000):
            if q in _words(t.truth.get(h.line_id, "")):
                continue
            if h.line_id not in t.truth:
                kind = "line matched to no ground-truth line"
            elif q in {normalize_term(w) for w in readings[h.line_id].split()}:
                kind = "the best reading holds the word"
            else:
                kind = "an alternative spelling"
                examples.append({"query": q, "read": readings[h.line_id], "probability": h.probability})
            kinds[kind] = kinds.get(kind, 0) + 1
    return {**kinds, "alternative examples": examples[:60]}


def main() -> None:
    args = _args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR
    from recognition.keywords import DEFAULT_MIN_PROB
    from worker.db import Line, WordCandidate, make_engine, session_factory, upgrade
    from worker.db.queries import FUZZY, Fuzzy, keyword_search, search
    from worker.io.store import LocalStore
    from worker.registry import CACHE, ModelSource

    min_prob = DEFAULT_MIN_PROB if args.min_prob is None else args.min_prob
    tmp = Path(tempfile.mkdtemp(prefix="htr-kws-"))
    url = f"sqlite:///{tmp / 'k.sqlite'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    store = LocalStore(tmp / "store")
    models = ModelSource(sessions, store, None, "greedy", CACHE)
    docs = _documents(args, tmp)
    t0 = time.perf_counter()
    t = _process(docs, sessions, store, models, min_prob)
    seconds = time.perf_counter() - t0
    with sessions() as s:
        why = _misses(t, s) if args.misses else None
        wrong = _false_hits(t, s) if args.misses else None
        prob = _evaluate(t, lambda q: keyword_search(s, q, min_prob=0.0, limit=10000), THRESHOLDS)
        exact = _evaluate(t, lambda q: search(s, q, limit=10000))
        settings = {}
        for spec in args.fuzzy:
            m, letters, *pen = spec.split(":")
            f = Fuzzy(int(m), int(letters), float(pen[0]) if pen else FUZZY.penalty)
            settings[spec] = _evaluate(t, lambda q, f=f: keyword_search(s, q, min_prob=0.0, limit=10000, fuzzy=f), THRESHOLDS)
        entries = s.query(WordCandidate).count()
        n_lines = s.query(Line).count()
    out = {
        "documents": len(docs),
        "lines": n_lines,
        "queries": len(t.queries),
        "relevant_lines": sum(t.relevant_total.values()),
        "min_prob": min_prob,
        "keyword_index": prob,
        **({"fuzzy_settings": settings} if settings else {}),
        "exact_search": exact,
        "index_entries_per_line": round(entries / max(1, n_lines), 1),
        **({"relevant_lines_by_outcome": why, "false_hits_by_cause": wrong} if why else {}),
        "processing_seconds": round(seconds, 1),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
