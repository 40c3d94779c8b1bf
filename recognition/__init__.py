"""Recognition core: charset, preprocessing, CRNN-CTC model, decoding, batch predictor, the
document model, and whole pages read without a database (``read_page``)."""

# TensorFlow carries its own SQLite build without FTS5; whichever is loaded
# first wins. Load Python's (the system library, with FTS5) before any Keras
# import so full-text search works in processes that also recognize.
import sqlite3 as _sqlite3  # noqa: F401
from typing import Any

__all__ = ["read_page"]


def __getattr__(name: str) -> Any:
    # ``from recognition import read_page`` without importing segmentation and Keras on ``import recognition``.
    if name == "read_page":
        from .pages import read_page

        return read_page
    raise AttributeError(name)
