"""Fine-tuning on a hand the model has never seen: CER on that hand's other
lines before and after ``htr finetune`` with 16, 64 and 256 corrected lines,
the time taken, and the standing validation sets; and self-training (the
hand's own lines read at calibrated confidence ≥ 0.95 as labels, no person).

    python benchmarks/finetune.py [--lines 16 64 256] [--seconds 600] [--self-train]

The hand: Debian's DKG Handwriting font (``apt-get install fonts-dkg-handwriting``),
outside every split of the training fonts, drawn by the font renderer with one
writer's style (slant, size, spacing, pen, scanner) for all its lines; texts
are IAM-OnDB test transcriptions (never trained on). The evaluation lines are
a fixed set of 100 others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FONT = Path("/usr/share/fonts/truetype/fifthhorseman/dkg.ttf")
WRITER_SEED = 7


def hand_lines(texts: list[str]):
    """(image, text) of each text in the benchmark's hand."""
    import numpy as np

    from training.fonts.catalogue import FontEntry
    from training.fonts.faces import Face
    from training.fonts.render import render_text

    face = Face(FontEntry("dkg-handwriting", "dkg-handwriting", "none", "cursive"), (FONT,), False, None)
    return [(render_text(t, face, np.random.default_rng(WRITER_SEED), cap_px=26.0).image, t) for t in texts]


def write_folder(folder: Path, samples) -> Path:
    from training.datasets.folder import write_labels_folder

    return write_labels_folder(folder, [(f"h{i:04d}.png", img, t) for i, (img, t) in enumerate(samples)])


def cer_on(bundle_dir, samples) -> float:
    from recognition.predictor import Predictor
    from training.metrics import rates

    pred = Predictor.load(bundle_dir)
    return round(float(rates([t for _, t in samples], [r.text for r in pred.predict([im for im, _ in samples])])["cer"]), 4)


def recipe(args):
    from training.finetune import FinetuneOptions

    return FinetuneOptions(
        time_limit=args.seconds,
        holdout=0.0,
        lr=args.lr,
        new_share=args.new_share,
        freeze=args.freeze,
        blend=tuple(float(x) for x in args.blend.split(",")),
        augment=args.augment,
    )


def self_train(args: argparse.Namespace, base: Path, pool: list, evaluation: list, tmp: Path) -> dict:
    """A candidate from the hand's own words read at confidence 0.95 or more, no person involved."""
    from recognition.predictor import Predictor
    from training.finetune import finetune

    pred = Predictor.load(base)
    unlabeled = pool[: max(args.lines)]
    recs = pred.predict([im for im, _ in unlabeled])
    sure = [
        (im[:, max(0, int(w.x0) - 4) : int(w.x1) + 4], w.text)
        for (im, _), r in zip(unlabeled, recs)
        for w in r.words
        if w.confidence >= 0.95
    ]  # as htr finetune --self-train exports them: the word crops read surely
    truth = [t.split() for _, t in unlabeled]
    entry: dict = {"lines_read": len(unlabeled), "words_read": sum(len(r.words) for r in recs), "words_kept": len(sure)}
    entry["words_kept_right"] = sum(w.text in words for r, words in zip(recs, truth) for w in r.words if w.confidence >= 0.95)
    if sure:
        data = write_folder(tmp / "self", sure)
        report = finetune(base, [data], tmp / "cand-self", recipe(args), args.data_root)
        entry.update(
            cer_after=cer_on(tmp / "cand-self", evaluation),
            standing=report.standing,
            steps=report.steps,
            recipe=report.recipe,
        )
    return entry


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--seconds", type=float, default=240.0, help="training time of each fine-tune")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--new-share", type=float, default=0.6)
    ap.add_argument("--freeze", default="batchnorm", choices=["none", "batchnorm", "convs"])
    ap.add_argument(
        "--blend", default="1,0.7,0.5,0.3", help="comma-separated shares of the fine-tuned weights to try, e.g. 1,0.7,0.5"
    )
    ap.add_argument("--augment", type=float, default=1.0)
    ap.add_argument("--self-train", action="store_true", help="also fine-tune on the hand's own confident readings")
    ap.add_argument("--data-root")
    args = ap.parse_args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR
    if not FONT.is_file():
        raise SystemExit(f"{FONT} missing: apt-get install fonts-dkg-handwriting")

    from recognition.bundle import default_model_path
    from training.datasets import open_dataset
    from training.finetune import finetune

    texts = open_dataset("iam-ondb:test", args.data_root).texts()
    evaluation = hand_lines(texts[:100])
    pool = hand_lines(texts[100 : 100 + max(args.lines)])
    base = default_model_path()
    before = cer_on(base, evaluation)
    out: dict = {"hand": "DKG Handwriting (Debian), one writer style", "evaluation_lines": len(evaluation), "cer_before": before}
    runs = []
    tmp = Path(tempfile.mkdtemp(prefix="htr-ft-bench-"))
    for n in args.lines:
        data = write_folder(tmp / f"n{n}", pool[:n])
        opts = recipe(args)
        t0 = time.perf_counter()
        report = finetune(base, [data], tmp / f"cand{n}", opts, args.data_root)
        after = cer_on(tmp / f"cand{n}", evaluation)
        runs.append(
            {
                "lines": n,
                "cer_after": after,
                "relative_drop": round((before - after) / before, 3) if before else None,
                "seconds": round(time.perf_counter() - t0, 1),
                "steps": report.steps,
                "standing": report.standing,
                "recipe": report.recipe,
                "blends": report.blends,
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    out["runs"] = runs
    if args.self_train:
        out["self_train"] = self_train(args, base, pool, evaluation, tmp)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
