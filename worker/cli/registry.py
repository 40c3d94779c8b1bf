"""Commands that refresh the model: ``finetune`` and ``models list|register|promote|rollback``."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from .common import sessions
from .model import data_root


def _live_default(args) -> tuple[str, Path]:
    from ..registry import default_model

    return default_model(args.settings.model)


def _base_dir(args, factory, store) -> Path:
    """--base, else the promoted model, else $HTR_MODEL or the bundled one."""
    from ..registry import CACHE, fetch, live

    if args.base:
        return Path(args.base)
    with factory() as s:
        mv = live(s)
        if mv is not None:
            return fetch(store, mv, CACHE)
    return _live_default(args)[1]


def cmd_finetune(args) -> int:
    from training.finetune import FinetuneOptions

    from ..io.store import open_store
    from ..registry import register
    from ..registry.candidates import TooFewLines, TrainingSource, finetune_candidate

    settings = args.settings
    factory = sessions(settings)
    store = open_store(settings.store_url)
    source = TrainingSource(
        corrections=args.from_corrections,
        document=args.document,
        self_train=list(args.self_train or []) if not args.from_corrections else [],
        min_confidence=args.min_confidence,
        folders=[Path(d) for d in args.data or []],
        min_lines=args.min_lines,
    )
    if not (source.corrections or source.self_train or source.folders):
        raise ValueError("give --from-corrections, --self-train DOC or --data DIR")
    opts = FinetuneOptions(
        time_limit=args.time_limit,
        steps=args.steps,
        holdout=args.holdout,
        lr=args.lr,
        new_share=args.new_share,
        pull=args.pull,
        freeze=args.freeze,
        blend=tuple(float(x) for x in args.blend.split(",")),
        tolerance=args.tolerance,
        check_every=args.check_every,
        standing_limit=settings.standing_limit,
    )
    try:
        report = finetune_candidate(
            factory, store, _base_dir(args, factory, store), Path(args.output), source, opts, data_root(args)
        )
    except TooFewLines as exc:
        print(f"htr finetune: {exc.count} {exc.what}, fewer than --min-lines {exc.wanted}", file=sys.stderr)
        return 3
    out = report.to_json()
    if args.register:
        with factory() as s:
            mv = register(s, store, args.output)
            out["registered"] = {"id": mv.id, "version": mv.version, "status": mv.status}
    print(json.dumps(out, indent=2))
    return 0


def cmd_models(args) -> int:
    from ..io.store import open_store
    from ..registry import CACHE, listing, promote, register, rollback

    settings = args.settings
    factory = sessions(settings)
    store = open_store(settings.store_url)
    user = args.user or getpass.getuser()
    with factory() as s:
        if args.action == "list":
            for row in listing(s):
                print(
                    json.dumps(row)
                    if args.json
                    else f"{row['id']}\t{row['name']} {row['version']}\t{row['status']}\t{row['parent'] or ''}"
                )
            return 0
        if not args.version and args.action in ("register", "promote"):
            raise ValueError(f"htr models {args.action} needs {'a bundle folder' if args.action == 'register' else 'a version'}")
        if args.action == "register":
            mv = register(s, store, args.version)
            print(f"registered {mv.name} {mv.version} ({mv.status}) at {mv.store_prefix}")
            return 0
        if args.action == "rollback":
            back = rollback(s, user)
            print(f"live: {back.name} {back.version}" if back is not None else "live: the default model")
            return 0
        result = promote(
            s,
            store,
            args.version,
            user,
            CACHE,
            _live_default(args),
            force=args.force,
            data_root=data_root(args),
            standing_limit=args.settings.standing_limit,
        )
    print(json.dumps(result.to_json(), indent=2))
    if not result.passed and not args.force:
        print("htr models promote: refused by the gate (--force overrides, and is recorded)", file=sys.stderr)
        return 1
    return 0


def register_commands(sub) -> None:
    f = sub.add_parser("finetune", help="fine-tune a model on corrected lines; prints CER before and after as JSON")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-corrections", action="store_true", help="the reviewed lines in the database")
    src.add_argument("--data", nargs="+", metavar="DIR", help="labels.tsv folders (htr corrections export)")
    src.add_argument(
        "--self-train",
        nargs="+",
        type=int,
        metavar="DOC",
        help="no person: these documents' words read at confidence >= --min-confidence",
    )
    f.add_argument("--document", type=int, help="with --from-corrections: one document's lines")
    f.add_argument("--min-confidence", type=float, default=0.95, help="with --self-train: the words at least this sure")
    f.add_argument("--base", metavar="MODEL_DIR", help="default: the promoted model, else $HTR_MODEL or the bundled one")
    f.add_argument("--output", required=True, metavar="MODEL_DIR", help="where the candidate bundle goes")
    f.add_argument("--time-limit", type=float, default=600.0, metavar="SECONDS", help="training time (default 600)")
    f.add_argument("--steps", type=int, help="stop after this many steps")
    f.add_argument("--holdout", type=float, default=0.25, help="share of the new lines held out for the check")
    f.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    f.add_argument(
        "--new-share", type=float, default=0.6, help="share of each batch from the new lines; the rest replays standing sets"
    )
    f.add_argument(
        "--pull",
        type=float,
        default=0.0,
        help="after every step, move each trained weight this share of the way back to the base's (default 0: off)",
    )
    f.add_argument(
        "--check-every",
        type=int,
        default=40,
        metavar="STEPS",
        help="read the held-out lines every this many steps and end on the best weights (0: never)",
    )
    f.add_argument(
        "--freeze",
        choices=["none", "batchnorm", "convs"],
        default="batchnorm",
        help="layers left as the base has them (default batchnorm: its statistics)",
    )
    f.add_argument(
        "--blend",
        default="1,0.7,0.5,0.3",
        metavar="SHARES",
        help="shares of the fine-tuned weights to try: the largest that keeps the standing sets where they were wins",
    )
    f.add_argument(
        "--tolerance",
        type=float,
        default=0.005,
        help="a blend is kept when no standing set reads worse than the base by more than this CER (default: the gate's, 0.005)",
    )
    f.add_argument(
        "--min-lines", type=int, default=1, help="do nothing (exit 3) below this many reviewed lines (--self-train: sure words)"
    )
    f.add_argument("--register", action="store_true", help="also register the candidate in the model registry")
    f.add_argument("--data-root", help="standing validation and replay data (default $HTR_DATA_DIR or ../shared/data)")
    f.set_defaults(func=cmd_finetune)

    m = sub.add_parser("models", help="the model registry: list, register BUNDLE_DIR, promote VERSION [--force], rollback")
    m.add_argument("action", choices=["list", "register", "promote", "rollback"])
    m.add_argument("version", nargs="?", help="promote: a version (or id); register: a bundle folder")
    m.add_argument("--force", action="store_true", help="promote past a refusing gate (recorded)")
    m.add_argument("--user", help="who does it (default: the login name)")
    m.add_argument("--json", action="store_true")
    m.add_argument("--data-root", help="standing validation data for the gate (default $HTR_DATA_DIR or ../shared/data)")
    m.set_defaults(func=cmd_models)
