"""The ``htr`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _quiet_backend() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _predictor(args):
    from recognition.predictor import DecoderOptions, Predictor

    opts = DecoderOptions(name=args.decoder, use_lexicon=getattr(args, "lexicon", False))
    return Predictor.load(args.model, decoder=opts)


def cmd_recognize(args) -> int:
    import cv2

    pred = _predictor(args)
    images, ok = [], []
    failed = 0
    for path in args.files:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None or img.size == 0:
            print(f"htr recognize: {path}: not a readable image", file=sys.stderr)
            failed += 1
        ok.append(img is not None and img.size > 0)
        images.append(img)
    results = iter(pred.predict([im for im, good in zip(images, ok) if good]))
    out = sys.stdout
    for path, good in zip(args.files, ok):
        if good:
            rec = next(results)
            out.write(f"{path}\t{rec.text}\t{rec.confidence:.4f}\n")
        else:
            out.write(f"{path}\t\t0.0000\n")
    out.flush()
    return 1 if failed else 0


def cmd_evaluate(args) -> int:
    from training.evaluate import evaluate

    pred = _predictor(args)
    res = evaluate(pred, args.datasets, args.data_root, args.limit)
    print(json.dumps(res, indent=2))
    return 0


def cmd_train(args) -> int:
    from training.train import TrainConfig, export, train

    cfg = TrainConfig.load(args.config)
    if args.data_root:
        cfg.data_root = args.data_root
    if args.export_only:
        export(cfg)
    else:
        train(cfg, resume=args.resume, epochs=args.epochs)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="htr", description="Handwritten text recognition")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp):
        sp.add_argument("--model", help="model folder (default: $HTR_MODEL or the bundled model)")
        sp.add_argument("--decoder", choices=["greedy", "beam"], default="greedy")
        sp.add_argument("--lexicon", action="store_true", help="beam search: keep words in the training lexicon")

    r = sub.add_parser("recognize", help="read cropped words or lines; prints path<TAB>text<TAB>confidence")
    r.add_argument("files", nargs="+")
    model_args(r)
    r.set_defaults(func=cmd_recognize)

    e = sub.add_parser("evaluate", help="CER/WER/exact match as JSON per dataset")
    e.add_argument("datasets", nargs="+", help="iam-ondb:test, washington:cv1/test, iam-lines:ROOT, a labels.tsv folder ...")
    e.add_argument("--data-root", help="folder with iam-ondb/ and washington/ (default $HTR_DATA_DIR or ../shared/data)")
    e.add_argument("--limit", type=int, help="evaluate the first N samples of each dataset")
    model_args(e)
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("--config", required=True)
    t.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    t.add_argument("--epochs", type=int, help="override the config's epoch count")
    t.add_argument("--export-only", action="store_true", help="export the run's best weights as a model bundle")
    t.add_argument("--data-root")
    t.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_backend()
    from recognition.bundle import ModelLoadError
    from training.datasets import DatasetError

    try:
        return args.func(args)
    except (ModelLoadError, DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"htr {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
