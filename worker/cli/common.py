"""What every command shares: logging and the backend's start-up noise, the
settings, the database, argument types and text made safe for a terminal."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..settings import Settings
from .terminal import printable

MAX_ID = 2**63 - 1  # the databases' 64-bit integer keys
MAX_LIMIT = 10_000


def configure_training(settings: Settings | None = None) -> None:
    """Tell the training package where its data and fonts are (``HTR_DATA_DIR``, ``HTR_FONTS_DIR``):
    every program that runs training code calls this once (htr, the benchmarks, the tests)."""
    from training import paths

    settings = settings or Settings.from_env()
    paths.configure(settings.data_dir, settings.fonts_dir)


def configure_logging(level: str = "warning") -> None:
    """Logging for the command, configured once; the backend's native start-up
    lines (oneDNN notices, CUDA probes, ``cuInit`` errors on CPU machines) are
    kept off stderr unless ``--log-level debug``."""
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if level == "debug" else "3")


def load_backend(level: str) -> None:
    """Import Keras and its backend, and touch a device, with the native
    stderr (file descriptor 2) closed unless debugging: absl writes there
    before any Python logging is set up."""
    import sqlite3  # noqa: F401  -- Python's SQLite (with FTS5) before TensorFlow's, see recognition/__init__.py

    if level == "debug" or "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras

            keras.ops.convert_to_numpy(keras.ops.zeros((1,)))
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def sessions(settings: Settings):
    """A session factory on the settings' database, brought to the current schema first."""
    from ..db import make_engine, session_factory, upgrade

    upgrade(settings.database_url)  # idempotent: brings an embedded or new database to the current schema
    return session_factory(make_engine(settings.database_url))


def doc_id(text: str) -> int:
    """A document id: a whole number the database can hold."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a document id (a whole number)") from None
    if not 1 <= v <= MAX_ID:
        raise argparse.ArgumentTypeError(f"document ids run from 1 to {MAX_ID}")
    return v


def limit(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= v <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_LIMIT}")
    return v


def safe(text: object, keep: str = "") -> str:
    """Text for a terminal: control characters (escape sequences in a file
    name, say) are shown escaped, not obeyed; JSON output needs none of this."""
    return printable(str(text), keep)


def settings_of(args) -> Settings:
    return args.settings
