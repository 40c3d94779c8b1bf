"""The document model: what reading a document produces, as plain typed objects.

``Document → Page → Line → Word`` with boxes (page pixels: x0, y0, x1, y1, x1/y1
exclusive), text, calibrated confidences, a word's probable spellings (the
keyword index's alternatives), a register page's fields (``Page.fields``: each
cell's value under its column's key, with its row) and provenance (the model that read it, whether
a person reviewed a line). The pipeline makes these; exports, the keyword
index and the training export read them; the database maps to and from them.
They serialize to JSON-ready dicts (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BoxT = tuple[int, int, int, int]


@dataclass
class Alternative:
    """A probable spelling of a word and its probability."""

    text: str
    probability: float


@dataclass
class Word:
    text: str  # as read
    box: BoxT
    confidence: float
    alternatives: list[Alternative] = field(default_factory=list)
    corrected_text: str | None = None  # a person's correction of it

    @property
    def best_text(self) -> str:
        """The person's correction where there is one, else the reading."""
        return self.corrected_text if self.corrected_text is not None else self.text


@dataclass
class Line:
    text: str
    box: BoxT
    confidence: float
    words: list[Word] = field(default_factory=list)
    reviewed: bool = False  # a person's text (confidence 1)


@dataclass
class Field:
    """A value read into a named field: a register's cell, keyed by its column's printed header,
    in its row of the register (rows and columns from 0, top down and left to right), or a
    registered form's field (``template``), read as its kind allows."""

    key: str
    value: str
    box: BoxT
    confidence: float
    row: int | None = None
    column: int | None = None
    template: str | None = None  # the form template it comes from; None: a table read from the page itself
    label: str = ""  # the key as printed on this page (``key``: one per column for the whole document)
    normalized: str = ""  # the value's search form (a typed field's parsed value's words too)
    reviewed_by: str | None = None  # the person who checked it
    kind: str = "text"  # a form field's type (``field_types.KINDS``)
    parsed: str = ""  # a typed field's value in normal form (ISO date, digits...; ``field_types.parse``)
    valid: bool = True  # False: the reading fits no value of its kind (flagged for review)
    accepted: bool = False  # sure enough to need no review (the template's calibrated threshold)


@dataclass
class Page:
    index: int  # 0-based
    width: int
    height: int
    lines: list[Line] = field(default_factory=list)
    dpi: int | None = None
    skew_degrees: float = 0.0
    image: str | None = None  # where the page image is kept (a store key or a file)
    fields: list[Field] = field(default_factory=list)  # a register's cells

    @property
    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines)


@dataclass
class Document:
    source: str  # the file the document came in as
    pages: list[Page] = field(default_factory=list)
    model: str | None = None  # "name version" of the model that read it
    id: int | None = None  # its database id, when it has one
    status: str = "done"
    content_hash: str | None = None  # sha256 of the file

    @property
    def text(self) -> str:
        """Lines one per row, a form feed before each page after the first."""
        return "\f".join(p.text + "\n" if p.lines else "" for p in self.pages)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        pages = [
            Page(
                **{
                    **p,
                    "lines": [
                        Line(
                            **{
                                **ln,
                                "box": tuple(ln["box"]),
                                "words": [
                                    Word(
                                        **{
                                            **w,
                                            "box": tuple(w["box"]),
                                            "alternatives": [Alternative(**a) for a in w.get("alternatives", [])],
                                        }
                                    )
                                    for w in ln.get("words", [])
                                ],
                            }
                        )
                        for ln in p.get("lines", [])
                    ],
                    "fields": [Field(**{**f, "box": tuple(f["box"])}) for f in p.get("fields", [])],
                }
            )
            for p in data.get("pages", [])
        ]
        return cls(**{**data, "pages": pages})
