"""Test-time adaptation measured: BN statistics re-estimated per document.

    python benchmarks/tta.py [--model DIR] [--alphas 0.3,0.6,1.0] [--groups 8]

Validation sets cut into "documents" of one hand or one scanner: IAM-OnDB
val by text and writer (the id without its line number), Washington cv1
valid and form-names val in runs of 20 consecutive crops, fonts val by font.
For each document the model's BN statistics are moved ``alpha`` of the way
to those of the document's own crops (``recognition.adapt``), the document
is read (greedy), and the statistics put back. Prints JSON: CER per set
without and with adaptation at each alpha, and the seconds adaptation adds
per document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def documents(spec: str, ds, limit: int) -> list[list[int]]:
    n = len(ds)
    if spec.startswith("iam-ondb"):
        by: dict[str, list[int]] = {}
        for i, it in enumerate(ds.items):
            by.setdefault(it.id[:-3], []).append(i)
        groups = [g for g in by.values() if len(g) >= 5]
    elif spec.startswith("fonts"):
        k = len(ds.faces)
        groups = [list(range(f, min(n, 200), k)) for f in range(k)]
    else:
        groups = [list(range(a, min(n, a + 20))) for a in range(0, n, 20)]
    return groups[:limit]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--alphas", default="0.3,0.6,1.0")
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--sets", default="iam-ondb:val,washington:cv1/valid,form-names:val,fonts:val")
    args = ap.parse_args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR

    from recognition.adapt import adapt_batchnorm, batchnorm_state, restore_batchnorm
    from recognition.predictor import Predictor
    from recognition.preprocess import preprocess
    from training.datasets import open_dataset
    from training.metrics import error_counts

    pred = Predictor.load(args.model)
    trained = batchnorm_state(pred.model)
    alphas = [float(a) for a in args.alphas.split(",")]
    out: dict = {}
    for spec in args.sets.split(","):
        ds = open_dataset(spec)
        totals = {a: [0, 0] for a in [0.0] + alphas}
        adapt_s, n_docs = 0.0, 0
        for group in documents(spec, ds, args.groups):
            samples = [ds.load(i) for i in group]
            imgs = [s[0] for s in samples]
            refs = [s[1] for s in samples]
            normed = [preprocess(im, pred.pre) for im in imgs]
            for a in [0.0] + alphas:
                if a > 0:
                    t0 = time.perf_counter()
                    adapt_batchnorm(pred.model, normed, a)
                    adapt_s += time.perf_counter() - t0
                hyps = [r.text for r in pred.predict_normalized(normed)]
                c = error_counts(refs, hyps)
                totals[a][0] += c["char_errors"]
                totals[a][1] += c["chars"]
                restore_batchnorm(pred.model, trained)
            n_docs += 1
        out[spec] = {
            "documents": n_docs,
            **{f"cer_alpha_{a:g}": round(e / max(1, c), 4) for a, (e, c) in totals.items()},
            "adapt_seconds_per_document": round(adapt_s / max(1, n_docs * len(alphas)), 2),
        }
        print(json.dumps({spec: out[spec]}), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
