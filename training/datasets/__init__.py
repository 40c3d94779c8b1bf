"""Dataset readers and the spec strings that name them.

Specs (``DATA`` is the data root: ``htr``'s ``HTR_DATA_DIR``, or ``../shared/data``; training/paths.py):

- ``iam-ondb:SPLIT`` / ``iam-ondb-words:SPLIT``    rendered IAM On-Line lines / words
- ``washington:cv1/test`` / ``washington-words:cv1/test``
- ``iam-lines:ROOT[:SPLITFILE]`` / ``iam-words:ROOT[:SPLITFILE]``  offline IAM layout
- ``punctuation:SPLIT``                           synthetic lone punctuation marks
- ``fonts:SPLIT`` / ``fonts-words:SPLIT`` / ``fonts-fields:SPLIT``  handwriting fonts (split by family):
  lines, words, a form field's values
- ``form-names:SPLIT``                            real scanned name fields in capitals
- ``alto:DIR[:SPLIT]`` / ``pagexml:DIR[:SPLIT]``   lines of real pages (ALTO or PAGE XML)
- ``copiste|poilus|peraire|stanford|riant:SPLIT`` the real-pages and registers sets by name
- a folder holding ``labels.tsv``                  (``file<TAB>text``)
- any of them followed by ``+neighbours``          with ink of neighbouring lines
  cut into each crop, as in real line boxes (``context.WithNeighbours``)
"""

from __future__ import annotations

from pathlib import Path

from .. import paths
from .base import Dataset, DatasetError, Item
from .context import WithNeighbours
from .folder import LabelsFolder
from .fonts import Fonts
from .form_names import FormNames
from .iam import IamOffline
from .iam_ondb import IamOnDB
from .punctuation import Punctuation
from .real_pages import NAMED as REAL_PAGE_SETS
from .real_pages import RealPages, open_real_pages
from .washington import Washington

__all__ = [
    "Dataset",
    "DatasetError",
    "Fonts",
    "FormNames",
    "IamOffline",
    "IamOnDB",
    "Item",
    "LabelsFolder",
    "Punctuation",
    "RealPages",
    "Washington",
    "WithNeighbours",
    "default_data_root",
    "open_dataset",
]


def default_data_root() -> Path:
    """The data root ``htr`` configured (``HTR_DATA_DIR``), else ``../shared/data`` (training/paths.py)."""
    return paths.data_root()


def open_dataset(spec: str, data_root: str | Path | None = None) -> Dataset:
    if spec.endswith("+neighbours"):
        return WithNeighbours(open_dataset(spec[: -len("+neighbours")], data_root))
    root = Path(data_root) if data_root else default_data_root()
    if Path(spec).is_dir() and (Path(spec) / "labels.tsv").is_file():
        return LabelsFolder(spec)
    kind, _, arg = spec.partition(":")
    if kind in ("iam-ondb", "iam-ondb-words"):
        return IamOnDB(root / "iam-ondb" / "iam-ondb.npz", arg or "test", "words" if kind.endswith("words") else "lines")
    if kind in ("washington", "washington-words"):
        return Washington(root / "washington", arg or "cv1/test", "words" if kind.endswith("words") else "lines")
    if kind in ("iam-lines", "iam-words"):
        if not arg:
            raise DatasetError(f"{spec}: give the IAM root, e.g. iam-lines:/data/iam")
        iam_root, _, split = arg.partition(":")
        return IamOffline(iam_root, kind.split("-")[1], split or None)
    if kind in ("fonts", "fonts-words", "fonts-fields"):
        return Fonts(arg or "test", root, {"fonts": "lines", "fonts-words": "words", "fonts-fields": "fields"}[kind])
    if kind == "form-names":
        return FormNames(root / "form-names", arg or "test")
    if kind == "punctuation":
        return Punctuation(arg or "test")
    if kind in REAL_PAGE_SETS or kind in ("alto", "pagexml"):
        return open_real_pages(kind, arg, root)
    if kind == "folder":
        return LabelsFolder(arg)
    raise DatasetError(
        f"unknown dataset {spec!r}: use iam-ondb:SPLIT, washington:cv1/test, iam-lines:ROOT, "
        "iam-words:ROOT, punctuation:SPLIT, fonts:SPLIT, fonts-words:SPLIT, fonts-fields:SPLIT, form-names:SPLIT "
        "alto:DIR[:SPLIT], pagexml:DIR[:SPLIT], copiste|poilus|peraire|stanford|riant:SPLIT "
        "or a folder with labels.tsv"
    )
