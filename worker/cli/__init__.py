"""The ``htr`` command: one parser, subcommands grouped by concern
(``model``: recognize, evaluate, train; ``documents``: process, show, search,
export, segment, db; ``queue``: submit, scan, status, worker, beat; ``templates``: template)."""

from __future__ import annotations

import argparse
import os
import sys

from . import documents, health, model, people, queue, registry, templates
from .common import configure_logging, configure_training, load_backend
from .model import decoder as _decoder

MODEL_COMMANDS = {
    "recognize",
    "evaluate",
    "train",
    "process",
    "finetune",
    "models",
}  # the worker loads its model itself (prefork pools fork first)

__all__ = ["_decoder", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="htr", description="Handwritten text recognition")
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="warning",
        help="what the command logs to stderr (debug also shows the backend's own start-up lines)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    model.register(sub)
    documents.register(sub)
    queue.register(sub)
    people.register(sub)
    registry.register_commands(sub)
    health.register(sub)
    templates.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command. Output into a closed pipe (``htr ... | head``) ends the
    command quietly (exit 141, as a program killed by SIGPIPE); Ctrl-C ends it
    with one line on stderr (exit 130)."""
    name = "htr"
    try:
        args = build_parser().parse_args(argv)  # --help and usage errors exit here (SystemExit)
        name = f"htr {args.command}"
        code = _run(args)
        sys.stdout.flush()  # now, not at exit: a reader gone by then is the broken pipe handled below
        return code
    except BrokenPipeError:
        # Nothing more can be written: what is still buffered goes to /dev/null instead of
        # raising again while Python shuts down.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr, flush=True)
        return 130


def _run(args) -> int:
    from ..settings import Settings, SettingsError

    configure_logging(args.log_level)
    try:
        args.settings = Settings.from_env()
    except SettingsError as exc:
        print(f"htr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    configure_training(args.settings)
    if args.command in MODEL_COMMANDS and model.needs_keras(args):
        load_backend(args.log_level)
    try:
        return args.func(args)
    except _user_errors() as exc:
        print(f"htr {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "fix your input", reported in one line. Looked up only
    in modules already imported, so commands that never load the model (submit,
    status, search ...) do not pay for importing TensorFlow."""
    errors: list[type[BaseException]] = [FileNotFoundError, ValueError]
    for module, name in (
        ("recognition.bundle", "ModelLoadError"),
        ("training.datasets.base", "DatasetError"),
        ("worker.io.documents", "BadInput"),
    ):
        mod = sys.modules.get(module)
        if mod is not None:
            errors.append(getattr(mod, name))
    return tuple(errors)
