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

from training.datasets import IamOnDB, open_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--line", default="60", help="index into iam-ondb:test")
    ap.add_argument("--word", default="62", help="index into iam-ondb-words:test")
    args = ap.parse_args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR
    out = ROOT / "examples"
    out.mkdir(exist_ok=True)
    rows = []
    for name, spec, idx in (("line.png", "iam-ondb:test", int(args.line)), ("word.png", "iam-ondb-words:test", int(args.word))):
        img, text = open_dataset(spec).load(idx, None)
        cv2.imwrite(str(out / name), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        rows.append(f"{name}\t{text}")
    (out / "labels.tsv").write_text("\n".join(rows) + "\n")
    print((out / "labels.tsv").read_text(), end="")
    write_pdf(out / "letter.pdf")


def write_pdf(path: Path, starts=(40, 52), lines_per_page: int = 10) -> None:
    """A two-page handwritten "letter": consecutive IAM-OnDB test lines, one
    rendering style and one pen scale per page (as one writer, relative sizes
    as written), stacked on A4 at 150 dpi."""
    from PIL import Image

    from benchmarks.synth import compose_page
    from training.render import render_strokes

    ds = open_dataset("iam-ondb:test")
    assert isinstance(ds, IamOnDB)
    pages, texts = [], []
    for k, start in enumerate(starts):
        idx = range(start, start + lines_per_page)
        # A line of ~600 whiteboard units becomes ~60 px at 150 dpi (about 1 cm).
        imgs = [
            render_strokes(ds.strokes(i), np.random.default_rng(11 + k), height_px=65.0, px_per_unit=60.0 / 600.0).image
            for i in idx
        ]
        sp = compose_page(imgs, [ds.items[i].text for i in idx], np.random.default_rng(k), size=(1240, 1754), skew_deg=0.4)
        pages.append(Image.fromarray(sp.image))
        texts.append("\n".join(sp.texts))
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=150, quality=70)
    (path.with_suffix(".txt")).write_text("\n\n".join(texts) + "\n")
    print(f"{path}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
