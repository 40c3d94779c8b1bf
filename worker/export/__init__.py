"""Serializations of a document (the document model): txt, JSON, ALTO v4, PAGE XML (2019), hOCR,
CSV (a register's fields); ``stored.document_model`` maps a stored document to it."""

from .formats import ALTO_NS, FORMATS, PAGE_NS, serialize

__all__ = ["ALTO_NS", "FORMATS", "PAGE_NS", "serialize"]
