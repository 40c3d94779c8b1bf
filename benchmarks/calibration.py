"""Confidence calibration per validation set: of the words read at a confidence
of at least 0.9, the share read exactly.

    python benchmarks/calibration.py [--model PATH] [--limit 300] [--decoder greedy|beam] [SPEC ...]

Crops and exactness as training validates and calibrates (``training.train``:
``ValSet``, ``limit`` crops spread over each set, some of them the words the
calibration map was fitted on; ``word_outcomes``, a word is exact where it matches
the reference in a word-level alignment). Prints one JSON object per set and for
all sets together.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VAL_SETS = ["iam-ondb:val", "iam-ondb-words:val", "washington:cv1/valid", "fonts:val", "fonts-words:val", "form-names:val"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="*", default=VAL_SETS)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--decoder", choices=["greedy", "beam"], default="greedy")
    ap.add_argument("--data-root", default=os.environ.get("HTR_DATA_DIR", "../shared/data"))
    args = ap.parse_args(argv)
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR

    from recognition.predictor import DecoderOptions, Predictor
    from training.datasets import open_dataset
    from training.train import ValSet, word_outcomes

    pred = Predictor.load(args.model, decoder=DecoderOptions(name=args.decoder))
    out, total_sure, total_exact = {}, 0, 0
    for spec in args.specs:
        vs = ValSet(spec, open_dataset(spec, args.data_root), args.limit, pred.pre)
        raw, ok = word_outcomes(pred, vs.images, vs.texts)
        sure = [o for r, o in zip(raw, ok) if r >= args.threshold]
        exact = sum(sure)
        out[spec] = {
            "crops": len(vs.images),
            "confident_words": len(sure),
            "share_exact": round(exact / len(sure), 4) if sure else None,
        }
        total_sure, total_exact = total_sure + len(sure), total_exact + exact
    out["all"] = {"confident_words": total_sure, "share_exact": round(total_exact / total_sure, 4) if total_sure else None}
    print(json.dumps({"decoder": args.decoder, "threshold": args.threshold, "sets": out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
