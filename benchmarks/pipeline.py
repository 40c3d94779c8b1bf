"""End-to-end pipeline throughput: pages/min, time share per stage, peak memory.

    python benchmarks/pipeline.py [--pages 10 40] [--lines 20] [--backend onnx|tf|onnx-int8]

For each page count a PDF of generated handwritten pages (IAM-OnDB test
strokes, ``--lines`` lines a page at a notebook's line height, 300 dpi) is processed in a fresh subprocess on
embedded defaults (SQLite and a folder store in a temp dir, the bundled
model, its network run by ``--backend``: default ``onnx``, as documents are read). Peak RSS per run shows whether memory stays flat as documents grow.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from worker.settings import DECODERS, Settings  # noqa: E402  (after the path above)


def make_pdf(path: Path, n_pages: int, lines: int) -> float:
    """-> lines per page actually placed (a page stops when it is full)."""
    from PIL import Image

    from benchmarks.segmentation import build_pages

    base, _ = build_pages(min(n_pages, 6), lines_per_page=lines, line_px=(75, 95))
    imgs = [Image.fromarray(base[i % len(base)].image) for i in range(n_pages)]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], resolution=300, quality=75)
    return sum(len(base[i % len(base)].boxes) for i in range(n_pages)) / n_pages


def run_one(pdf: str, backend: str, decoder: str) -> dict:
    """In this (fresh) process: process one PDF, report timings and peak RSS."""
    from recognition.bundle import load_bundle
    from recognition.predictor import DecoderOptions, Predictor
    from worker.db import make_engine, session_factory, upgrade
    from worker.io.store import LocalStore
    from worker.pipeline import process_document, register_document

    tmp = Path(tempfile.mkdtemp(prefix="htr-bench-"))
    url = f"sqlite:///{tmp / 'b.sqlite'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    store = LocalStore(tmp / "store")
    bundle = load_bundle(build=backend == "tf", language=True)
    pred = Predictor.from_bundle(bundle, backend=backend, keywords=True, decoder=DecoderOptions(name=decoder))
    with sessions() as s:
        doc, _ = register_document(s, store, pdf)
    t0 = time.perf_counter()
    doc = process_document(doc.id, sessions, store, pred, bundle=bundle)
    wall = time.perf_counter() - t0
    timings = doc.timings or {}
    pages = doc.page_count or 0
    total = sum(timings.values()) or 1.0
    return {
        "pages": pages,
        "status": doc.status,
        "seconds": round(wall, 1),
        "pages_per_min": round(60.0 * pages / wall, 1),
        "stage_share": {k: round(v / total, 3) for k, v in timings.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, nargs="+", default=[10, 40])
    ap.add_argument("--lines", type=int, default=20, help="lines per page")
    ap.add_argument("--backend", default="onnx", choices=("onnx", "tf", "onnx-int8"))
    ap.add_argument("--decoder", default=Settings.decoder, choices=DECODERS, help="default: htr process's")
    ap.add_argument("--_run", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._run:
        print(json.dumps(run_one(args._run, args.backend, args.decoder)))
        return
    out: dict = {"cores": os.cpu_count(), "backend": args.backend, "decoder": args.decoder, "runs": []}
    with tempfile.TemporaryDirectory() as d:
        for n in args.pages:
            pdf = Path(d) / f"doc{n}.pdf"
            per_page = make_pdf(pdf, n, args.lines)
            res = subprocess.run(
                [sys.executable, __file__, "--_run", str(pdf), "--backend", args.backend, "--decoder", args.decoder],
                capture_output=True,
                text=True,
                check=True,
            )
            out["runs"].append({**json.loads(res.stdout.strip().splitlines()[-1]), "lines_per_page": round(per_page, 1)})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
