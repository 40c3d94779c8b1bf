"""Write the sample crops in examples/ (rendered IAM-OnDB *test* strokes, never trained on).

    python scripts/make_examples.py [--line ID] [--word ID]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.datasets import open_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--line", default="0", help="index into iam-ondb:test")
    ap.add_argument("--word", default="0", help="index into iam-ondb-words:test")
    args = ap.parse_args()
    out = ROOT / "examples"
    out.mkdir(exist_ok=True)
    rows = []
    for name, spec, idx in (("line.png", "iam-ondb:test", int(args.line)), ("word.png", "iam-ondb-words:test", int(args.word))):
        img, text = open_dataset(spec).load(idx, None)
        cv2.imwrite(str(out / name), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        rows.append(f"{name}\t{text}")
    (out / "labels.tsv").write_text("\n".join(rows) + "\n")
    print((out / "labels.tsv").read_text(), end="")


if __name__ == "__main__":
    main()
