"""Where things live in the object store: the one place its key layout is spelled.

originals/ab/abcd….pdf          a registered document's bytes (by sha256)
pages/<sha256>/00000.png        a rendered page, kept for review
work/<sha256>/00000.npz         a segmented page waiting for recognition (queue only)
templates/<sha256>.png          a registered form template's blank image (by sha256)
"""

from __future__ import annotations

from pathlib import PurePath


def original(content_hash: str, filename: str | PurePath) -> str:
    return f"originals/{content_hash[:2]}/{content_hash}{PurePath(filename).suffix.lower()}"


def page_image(content_hash: str, index: int) -> str:
    return f"pages/{content_hash}/{index:05d}.png"


def page_work(content_hash: str, index: int) -> str:
    return f"work/{content_hash}/{index:05d}.npz"


def template_image(content_hash: str) -> str:
    return f"templates/{content_hash}.png"
