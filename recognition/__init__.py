"""Recognition core: charset, preprocessing, CRNN-CTC model, decoding, batch predictor."""

# TensorFlow carries its own SQLite build without FTS5; whichever is loaded
# first wins. Load Python's (the system library, with FTS5) before any Keras
# import so full-text search works in processes that also recognize.
import sqlite3 as _sqlite3  # noqa: F401
