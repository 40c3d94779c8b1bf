import os
import sqlite3  # noqa: F401  -- before TensorFlow, see recognition/__init__.py

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
