"""Commands that read crops or train: ``recognize``, ``evaluate``, ``train``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..settings import BACKENDS, DECODERS, Settings


def decoder(args, default: str | None = None) -> str:
    """--decoder, else $HTR_DECODER, else the command's default (``htr evaluate``: greedy, as the
    model card measures; everything else the Settings default, beam)."""
    settings = getattr(args, "settings", None) or Settings.from_env()
    if args.decoder:
        return args.decoder
    if default and "HTR_DECODER" not in settings.given:
        return default
    return settings.decoder


def backend(args) -> str:
    """--backend, else $HTR_BACKEND (default onnx: the same texts as tf, faster, no TensorFlow)."""
    return getattr(args, "backend", None) or args.settings.backend


def needs_keras(args) -> bool:
    """Whether the command loads the Keras model (``htr recognize`` and ``htr evaluate`` with
    an ONNX backend do not, and start without importing TensorFlow)."""
    return not hasattr(args, "backend") or backend(args) == "tf"


def model_dir(args) -> str | None:
    """--model, else $HTR_MODEL, else None (the bundled model)."""
    return args.model or args.settings.model


def predictor(args, default_decoder: str | None = None):
    from recognition.predictor import DecoderOptions, Predictor

    opts = DecoderOptions(name=decoder(args, default_decoder), use_lexicon=getattr(args, "lexicon", False))
    return Predictor.load(model_dir(args), backend=backend(args), decoder=opts)


def data_root(args) -> str | None:
    return args.data_root or args.settings.data_dir


def cmd_recognize(args) -> int:
    import cv2

    pred = predictor(args)
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
    from training.metrics import SLICES

    slices = [x for s in (args.slice or []) for x in s.split(",") if x]
    unknown = [s for s in slices if s not in SLICES]
    if unknown:
        raise SystemExit(f"htr evaluate: unknown slice {', '.join(unknown)} (choose from {', '.join(SLICES)})")
    pred = predictor(args, default_decoder="greedy")  # the model card's figures are greedy
    res = evaluate(pred, args.datasets, data_root(args), args.limit, slices=slices)
    print(json.dumps(res, indent=2))
    return 0


def cmd_evaluate_pages(args) -> int:
    from ..pipeline.evaluate import evaluate_pages

    predict = None if args.detection_only else predictor(args).predict

    def progress(name: str, counts: dict, _text: str) -> None:
        if args.verbose:
            line = f"{name}: {counts['matched']}/{counts['truth']} lines found ({counts['found']} boxes)"
            if "page_chars" in counts:
                line += f", page CER {counts['page_char_errors'] / max(1, counts['page_chars']):.3f}"
            print(line, file=sys.stderr)

    res = {spec: evaluate_pages(predict, spec, data_root(args), args.limit, progress) for spec in args.datasets}
    print(json.dumps(res, indent=2))
    return 0


def cmd_train(args) -> int:
    from training.train import TrainConfig, export, train

    cfg = TrainConfig.load(args.config)
    root = data_root(args)
    if root:
        cfg.data_root = root
    if args.augment is not None:
        cfg.augment = args.augment
    if args.output:
        cfg.output = args.output
    if args.export_only:
        export(cfg, Path(args.weights) if args.weights else None)
    else:
        train(
            cfg,
            resume=args.resume,
            epochs=args.epochs,
            init_from=args.init_from,
            time_limit=args.time_limit,
            lr=args.lr,
            export_bundle=not args.no_export,
        )
    return 0


def model_args(sp, decoder_default: str = "beam") -> None:
    sp.add_argument("--model", help="model folder (default: $HTR_MODEL or the bundled model)")
    sp.add_argument(
        "--decoder",
        choices=DECODERS,
        help=f"greedy (fast) or beam with the character n-gram (default: $HTR_DECODER or {decoder_default})",
    )
    sp.add_argument("--lexicon", action="store_true", help="beam search: keep words in the training lexicon")


def backend_arg(sp) -> None:
    sp.add_argument(
        "--backend",
        choices=BACKENDS,
        help="what runs the network: onnx (ONNX Runtime: the same texts as tf, without TensorFlow), tf (the Keras "
        "model) or onnx-int8 (int8 weights: faster, CER within 0.2 points) (default: $HTR_BACKEND or onnx)",
    )


def register(sub) -> None:
    _register_recognize(sub)
    _register_evaluate(sub)
    _register_evaluate_pages(sub)
    _register_train(sub)


def _register_recognize(sub) -> None:
    r = sub.add_parser("recognize", help="read cropped words or lines; prints path<TAB>text<TAB>confidence")
    r.add_argument("files", nargs="+")
    model_args(r)
    backend_arg(r)
    r.set_defaults(func=cmd_recognize)


def _register_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="CER/WER/exact match as JSON per dataset")
    e.add_argument(
        "datasets",
        nargs="+",
        help="iam-ondb:test, washington:cv1/test, fonts:test, form-names:test, iam-lines:ROOT, punctuation:test, a labels.tsv folder ...; SPEC+neighbours adds ink of neighbouring lines to every crop",
    )
    e.add_argument("--data-root", help="folder with iam-ondb/ and washington/ (default $HTR_DATA_DIR or ../shared/data)")
    e.add_argument("--limit", type=int, help="evaluate the first N samples of each dataset")
    e.add_argument(
        "--slice",
        action="append",
        metavar="caps,allcaps,punct",
        help="also report the words that start with a capital (caps), ALL-CAPS words (allcaps), words with punctuation (punct)",
    )
    model_args(e, decoder_default="greedy")
    backend_arg(e)
    e.set_defaults(func=cmd_evaluate)


def _register_evaluate_pages(sub) -> None:
    ep = sub.add_parser(
        "evaluate-pages",
        help="whole pages through segmentation and reading against ALTO / PAGE XML ground truth: line detection, page and line CER",
    )
    ep.add_argument(
        "datasets",
        nargs="+",
        help="copiste:test, poilus:test, stanford:test, peraire:test, alto:DIR[:SPLIT], pagexml:DIR[:SPLIT]",
    )
    ep.add_argument("--data-root", help="folder with real-pages/ (default $HTR_DATA_DIR or ../shared/data)")
    ep.add_argument("--limit", type=int, help="the first N pages of each set")
    ep.add_argument("-v", "--verbose", action="store_true", help="a line per page on stderr")
    ep.add_argument(
        "--detection-only", action="store_true", help="line detection precision and recall only: no model, no reading"
    )
    model_args(ep)
    ep.set_defaults(func=cmd_evaluate_pages)


def _register_train(sub) -> None:
    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("--config", required=True)
    t.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    t.add_argument("--epochs", type=int, help="override the config's epoch count")
    t.add_argument(
        "--init-from",
        help="start from a model bundle's weights, layer by layer where name and shapes match (e.g. recognition/models/htr-base)",
    )
    t.add_argument(
        "--lr",
        type=float,
        help="the learning rate to start from: of a fresh run instead of the config's, of a --resume'd run instead of the checkpoint's",
    )
    t.add_argument("--output", metavar="MODEL_DIR", help="export the bundle here instead of the config's output folder")
    t.add_argument(
        "--augment", type=float, metavar="STRENGTH", help="override the config's augmentation strength (1.0 full, 0 none)"
    )
    t.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="stop after the last epoch that fits in this time (then export; --resume goes on)",
    )
    t.add_argument("--export-only", action="store_true", help="export the run's best weights as a model bundle")
    t.add_argument("--weights", metavar="FILE", help="--export-only: these weights instead of the run's best")
    t.add_argument("--no-export", action="store_true", help="train only (export later, e.g. where the lexicon's word lists are)")
    t.add_argument("--data-root", help="default $HTR_DATA_DIR, else the config's data_root")
    t.set_defaults(func=cmd_train)
