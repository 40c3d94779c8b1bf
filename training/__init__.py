"""Training package: dataset readers, rendering, augmentation, the training loop, evaluation."""

# See recognition/__init__.py: load the system SQLite before TensorFlow's.
import sqlite3 as _sqlite3  # noqa: F401
