"""Confidence calibration per validation set: of the words read at a confidence
of at least 0.9, the share read exactly.

    python benchmarks/calibration.py [--model PATH] [--limit 300] [--decoder greedy|beam] [SPEC ...]

Each reading's words are paired with the reference words by a word-level
alignment (``training.metrics.align_words``); a word counts as read exactly when
it is the reference word it is paired with. The first ``--limit`` crops of each
set (the calibration map was fitted on validation words, these among them).
Prints one JSON object per set and for all sets together.
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


def confident_words(readings, refs, threshold: float) -> tuple[int, int]:
    """(words read at >= threshold, those read exactly)."""
    from training.metrics import align_words

    sure = exact = 0
    for rec, ref in zip(readings, refs):
        words = ref.split()
        paired = align_words(words, [w.text for w in rec.words])
        for w in rec.words:
            if w.confidence >= threshold:
                sure += 1
                exact += any(r == p == w.text for r, p in zip(words, paired))
    return sure, exact


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="*", default=VAL_SETS)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--decoder", choices=["greedy", "beam"], default="greedy")
    ap.add_argument("--data-root", default=os.environ.get("HTR_DATA_DIR", "../shared/data"))
    args = ap.parse_args(argv)

    from recognition.predictor import DecoderOptions, Predictor
    from training.datasets import DatasetError, open_dataset

    pred = Predictor.load(args.model, decoder=DecoderOptions(name=args.decoder))
    out, total_sure, total_exact = {}, 0, 0
    for spec in args.specs:
        ds = open_dataset(spec, args.data_root)
        images: list = []
        refs: list[str] = []
        for i in range(len(ds)):
            if len(images) == args.limit:
                break
            try:
                image, text = ds.load(i)
            except DatasetError:  # an item the set cannot cut (as htr evaluate skips it)
                continue
            images.append(image)
            refs.append(text)
        sure, exact = confident_words(pred.predict(images), refs, args.threshold)
        out[spec] = {"crops": len(images), "confident_words": sure, "share_exact": round(exact / sure, 4) if sure else None}
        total_sure, total_exact = total_sure + sure, total_exact + exact
    out["all"] = {"confident_words": total_sure, "share_exact": round(total_exact / total_sure, 4) if total_sure else None}
    print(json.dumps({"decoder": args.decoder, "threshold": args.threshold, "sets": out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
