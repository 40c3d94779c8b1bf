"""Serializations of a stored document: txt, JSON, ALTO v4, PAGE XML (2019), hOCR, CSV (a register's fields)."""

from .formats import ALTO_NS, FORMATS, PAGE_NS, serialize

__all__ = ["ALTO_NS", "FORMATS", "PAGE_NS", "serialize"]
