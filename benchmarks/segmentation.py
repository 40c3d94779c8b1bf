"""Page-level measurements of segmentation and the whole pipeline on generated pages.

    python benchmarks/segmentation.py [--pages 12] [--washington-pages 6] [--form-pages 6] [--artefact-pages 4] [--seed 0]
                                      [--methods sauvola,wolf,gaussian,otsu]

Pages are built on demand (nothing is committed) from *test* lines: IAM-OnDB
(consecutive lines of one text rendered in one style) and George Washington
(consecutive cv1 test lines, softened to gray ink), stacked on A4 at 300 dpi
with margins, uneven spacing, skew and scan noise; every third page has form
boxes around its lines. Prints JSON per set: line detection precision/recall
at IoU >= 0.5 per binarization method, page CER/WER of segmentation +
recognition against the same model's CER on the pre-cut lines, seconds per
page by stage. A different ``--seed`` gives different pages (held-out check).

Form pages (``--form-pages``), as the IAM forms are laid out: a typed header
and the text typed as a prompt, then the same text handwritten (IAM-OnDB test
lines). Their printed lines should be left out (``segmentation/printed.py``):
reported are the share of printed lines skipped, handwriting line detection
and page CER against the handwriting alone.

Artefact pages (``--artefact-pages`` per kind): the IAM-OnDB pages with a
dark border strip, an edge shadow, punched holes, a stain, a box round every
line, and all of them at once (``benchmarks.synth.ARTEFACTS``); reported
per kind: line precision/recall and page CER against pre-cut CER.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_pages(
    n_pages: int,
    lines_per_page: int = 14,
    seed: int = 0,
    line_px: tuple[float, float] = (110, 150),
    artefacts: tuple[str, ...] = (),
    split: str = "test",
) -> tuple[list, list]:
    """IAM-OnDB pages of the ``split`` lines: (pages, pre-cut line crops with their texts).
    ``line_px``: range of a page's typical line height in pixels at 300 dpi;
    ``artefacts``: scan artefacts on every page (``benchmarks.synth.ARTEFACTS``)."""
    from benchmarks.synth import compose_page
    from training.datasets import IamOnDB, open_dataset
    from training.render import render_strokes

    ds = open_dataset(f"iam-ondb:{split}")
    assert isinstance(ds, IamOnDB)
    rng = np.random.default_rng(seed)
    pages: list = []
    crops: list = []
    starts = np.linspace(0, len(ds) - lines_per_page, n_pages).astype(int)
    for k, start in enumerate(starts):
        idx = list(range(start, start + lines_per_page))
        # One writer: the same rendering seed (pen, paper) and one scale for
        # every line of the page, so relative sizes stay as written; a line
        # of ~600 whiteboard units becomes ~110-150 px at 300 dpi.
        scale = float(rng.uniform(*line_px)) / 600.0
        imgs = [
            render_strokes(ds.strokes(i), np.random.default_rng(seed * 1000 + k), height_px=130.0, px_per_unit=scale).image
            for i in idx
        ]
        texts = [ds.items[i].text for i in idx]
        sp = compose_page(
            imgs,
            texts,
            rng,
            skew_deg=float(rng.uniform(-2.0, 2.0)),
            boxed=(k % 3 == 2 and not artefacts),
            noise=float(rng.uniform(0.01, 0.04)),
            artefacts=artefacts,
        )
        pages.append(sp)
        crops.extend(zip(imgs[: len(sp.texts)], sp.texts))
    return pages, crops


def measure_artefacts(n_pages: int, seed: int, pred) -> dict:
    """The same IAM-OnDB pages with each scan artefact, and with all of them."""
    from benchmarks.synth import ARTEFACTS

    out = {}
    for kinds in [(a,) for a in ARTEFACTS] + [ARTEFACTS]:
        r = measure(*build_pages(n_pages, seed=seed, artefacts=kinds), pred, ["sauvola"])
        r.pop("boxed_pages", None)
        out["+".join(kinds) if len(kinds) == 1 else "all"] = {
            "precision": r["line_detection_iou_0.5"]["sauvola"]["precision"],
            "recall": r["line_detection_iou_0.5"]["sauvola"]["recall"],
            "cer_precut_lines": r["cer_precut_lines"],
            "cer_pages": r["cer_pages"],
            "segmentation_cost_cer_points": r["segmentation_cost_cer_points"],
        }
    return out


def build_washington_pages(n_pages: int, lines_per_page: int = 16, seed: int = 0, split: str = "test") -> tuple[list, list]:
    """George Washington pages: consecutive cv1 ``split`` lines (``test`` or ``valid``) (binarized scans,
    softened to gray ink) stacked at a page scale, skewed and noised; every
    third page boxed. -> (pages, pre-cut line crops with their texts)."""
    import cv2

    from benchmarks.synth import compose_page
    from training.datasets import open_dataset

    ds = open_dataset(f"washington:cv1/{split}")
    rng = np.random.default_rng(seed + 7)
    pages: list = []
    crops: list = []
    starts = np.linspace(0, len(ds) - lines_per_page, n_pages).astype(int)
    for k, start in enumerate(starts):
        scale = float(rng.uniform(0.9, 1.25))
        ink = float(rng.uniform(30, 90))
        imgs, texts = [], []
        for i in range(start, start + lines_per_page):
            im, text = ds.load(i)
            im = cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            im = cv2.GaussianBlur(im.astype(np.float32), (3, 3), 0.8)
            imgs.append(np.clip(ink + im * (255.0 - ink) / 255.0, 0, 255).astype(np.uint8))
            texts.append(text)
        sp = compose_page(
            imgs, texts, rng, skew_deg=float(rng.uniform(-2.0, 2.0)), boxed=(k % 3 == 2), noise=float(rng.uniform(0.01, 0.04))
        )
        pages.append(sp)
        crops.extend(zip(imgs[: len(sp.texts)], sp.texts))
    return pages, crops


def build_form_pages(n_pages: int, lines_per_page: int = 8, seed: int = 0) -> tuple[list, list, list]:
    """Forms: typed header + typed prompt + the prompt handwritten.
    -> (pages, pre-cut handwriting crops with their texts, typed boxes per page)."""
    import textwrap

    from benchmarks.synth import compose_page, typed_line
    from training.datasets import IamOnDB, open_dataset
    from training.render import render_strokes

    ds = open_dataset("iam-ondb:test")
    assert isinstance(ds, IamOnDB)
    rng = np.random.default_rng(seed + 13)
    pages: list = []
    crops: list = []
    typed: list = []
    starts = np.linspace(0, len(ds) - lines_per_page, n_pages).astype(int)
    for k, start in enumerate(starts):
        idx = list(range(start, start + lines_per_page))
        texts = [ds.items[i].text for i in idx]
        size = int(rng.integers(34, 50))
        prompt = [f"Sentence Database {ds.items[idx[0]].id[:7].upper()}"] + textwrap.wrap(" ".join(texts), 62)
        scale = float(rng.uniform(110, 150)) / 600.0
        hand = [
            render_strokes(ds.strokes(i), np.random.default_rng(seed * 1000 + k), height_px=130.0, px_per_unit=scale).image
            for i in idx
        ]
        imgs = [typed_line(t, size, rng) for t in prompt] + hand
        labels: list = [None] * len(prompt) + texts  # typed lines have no text to read
        sp = compose_page(imgs, labels, rng, skew_deg=float(rng.uniform(-1.5, 1.5)), noise=float(rng.uniform(0.01, 0.03)))
        n_typed = sum(1 for t in sp.texts if t is None)
        typed.append(sp.boxes[:n_typed])
        sp.boxes, sp.texts = sp.boxes[n_typed:], sp.texts[n_typed:]
        pages.append(sp)
        crops.extend(zip(hand[: len(sp.texts)], sp.texts))
    return pages, crops, typed


def measure_forms(pages, crops, typed, pred) -> dict:
    """Printed lines skipped, handwriting found, and page CER against the handwriting."""
    from benchmarks.synth import match_lines
    from segmentation import segment_page

    skipped = sum(len(match_lines(segment_page(sp.image).printed, boxes)["matches"]) for sp, boxes in zip(pages, typed))
    out = measure(pages, crops, pred, ["sauvola"])
    out["boxed_pages"] = 0
    out["printed_lines"] = sum(len(b) for b in typed)
    out["printed_lines_skipped"] = skipped
    return out


def measure(pages, crops, pred, methods: list[str]) -> dict:
    from benchmarks.synth import match_lines
    from segmentation import line_crops, segment_page
    from training.metrics import rates

    out: dict = {
        "pages": len(pages),
        "lines": sum(len(p.boxes) for p in pages),
        "boxed_pages": sum(1 for k in range(len(pages)) if k % 3 == 2),
    }
    seg = {}
    for method in methods:
        tp = n_pred = n_gt = 0
        t0 = time.perf_counter()
        for sp in pages:
            layout = segment_page(sp.image, method=method)
            m = match_lines([ln.page_box for ln in layout.lines], sp.boxes)
            tp += len(m["matches"])
            n_pred += len(layout.lines)
            n_gt += len(sp.boxes)
        seg[method] = {
            "precision": round(tp / max(1, n_pred), 4),
            "recall": round(tp / max(1, n_gt), 4),
            "seconds_per_page": round((time.perf_counter() - t0) / len(pages), 3),
        }
    out["line_detection_iou_0.5"] = seg
    # The same model on the pre-cut lines (the line images before they were
    # put on the page)...
    line_hyps = [r.text for r in pred.predict([c for c, _ in crops])]
    line_rates = rates([t for _, t in crops], line_hyps)
    # ...and on whole pages: segmentation, then recognition, lines joined in reading order.
    refs, hyps = [], []
    t_seg = t_rec = 0.0
    for sp in pages:
        t0 = time.perf_counter()
        layout = segment_page(sp.image)
        lc = line_crops(layout)
        t1 = time.perf_counter()
        recs = pred.predict(lc) if lc else []
        t_rec += time.perf_counter() - t1
        t_seg += t1 - t0
        refs.append(" ".join(sp.texts))
        hyps.append(" ".join(r.text for r in recs))
    page_rates = rates(refs, hyps)
    out["cer_precut_lines"] = round(line_rates["cer"], 4)
    out["cer_pages"] = round(page_rates["cer"], 4)
    out["wer_pages"] = round(page_rates["wer"], 4)
    out["segmentation_cost_cer_points"] = round(100 * (page_rates["cer"] - line_rates["cer"]), 2)
    out["seconds_per_page"] = {"segment": round(t_seg / len(pages), 3), "recognize": round(t_rec / len(pages), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=12, help="IAM-OnDB pages")
    ap.add_argument("--washington-pages", type=int, default=6)
    ap.add_argument("--form-pages", type=int, default=6, help="typed prompt + handwriting, as IAM forms")
    ap.add_argument(
        "--artefact-pages",
        type=int,
        default=4,
        help="IAM-OnDB pages per scan artefact (border, shadow, holes, stain, boxes, all)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default="sauvola,wolf,gaussian,otsu")
    ap.add_argument("--model")
    args = ap.parse_args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR

    from recognition.predictor import Predictor

    pred = Predictor.load(args.model)
    methods = args.methods.split(",")
    out = {"seed": args.seed}
    if args.pages:
        out["iam-ondb"] = measure(*build_pages(args.pages, seed=args.seed), pred, methods)
    if args.washington_pages:
        out["washington"] = measure(*build_washington_pages(args.washington_pages, seed=args.seed), pred, methods)
    if args.form_pages:
        out["forms"] = measure_forms(*build_form_pages(args.form_pages, seed=args.seed), pred)
    if args.artefact_pages:
        out["artefacts"] = measure_artefacts(args.artefact_pages, args.seed, pred)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
