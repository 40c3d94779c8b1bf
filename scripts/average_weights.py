"""Weight averages of two models of one architecture, chosen on validation sets.

    python scripts/average_weights.py --a recognition/models/htr-base --b runs/htr-base-v5/best.weights.h5 \
        --alphas 0,0.5,0.75,1 [--limit 300] [--write 0.75 runs/htr-base-v5/avg.weights.h5]

Prints greedy CER per validation set for ``(1 - alpha) * A + alpha * B`` (A: a
bundle, B: a weights file or bundle of the same architecture); ``--write``
saves one average as a weights file, which ``htr train --export-only`` (or
``training.train.export(cfg, weights=...)``) turns into a bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VAL = ["iam-ondb:val", "iam-ondb-words:val", "washington:cv1/valid", "fonts:val", "fonts-words:val", "form-names:val"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="bundle folder")
    ap.add_argument("--b", required=True, help="weights file (.weights.h5) or bundle folder")
    ap.add_argument("--alphas", default="0,0.5,0.75,1")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--sets", default=",".join(VAL))
    ap.add_argument("--write", nargs=2, metavar=("ALPHA", "OUT"))
    args = ap.parse_args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR

    from recognition.bundle import load_bundle
    from recognition.predictor import Predictor
    from training.evaluate import evaluate

    bundle = load_bundle(args.a)
    model = bundle.model
    assert model is not None
    wa = [w.copy() for w in model.get_weights()]
    b_path = Path(args.b)
    if b_path.is_dir():
        other = load_bundle(b_path).model
        assert other is not None
        wb = other.get_weights()
    else:
        model.load_weights(b_path)
        wb = [w.copy() for w in model.get_weights()]

    def mix(alpha: float) -> None:
        model.set_weights([(1 - alpha) * a + alpha * b for a, b in zip(wa, wb)])

    if args.write:
        alpha, out = float(args.write[0]), args.write[1]
        mix(alpha)
        model.save_weights(out)
        print(f"wrote {out} (alpha {alpha})")
        return
    sets = [s for s in args.sets.split(",") if s]
    rows = []
    for alpha in (float(a) for a in args.alphas.split(",")):
        mix(alpha)
        res = evaluate(Predictor.from_bundle(bundle), sets, limit=args.limit)
        row = {"alpha": alpha, **{s: res[s]["cer"] for s in sets}}
        row["mean"] = round(sum(res[s]["cer"] for s in sets) / len(sets), 4)
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
