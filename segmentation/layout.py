"""Layout types: boxes in page pixel coordinates, lines with their words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .table import Table


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int  # exclusive

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def to_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass
class TextLine:
    box: Box  # in deskewed page coordinates
    page_box: Box  # in original page coordinates
    words: list[Box] = field(default_factory=list)  # deskewed coordinates, left to right
    page_words: list[Box] = field(default_factory=list)  # original coordinates


@dataclass
class PageLayout:
    width: int
    height: int
    angle: float  # degrees the page was rotated to deskew it
    lines: list[TextLine]
    deskewed: np.ndarray | None = None  # the deskewed gray page, for cropping
    line_masks: list[np.ndarray] = field(default_factory=list)  # per-line ink mask within its box
    printed: list[Box] = field(default_factory=list)  # machine-printed lines left out (page coordinates)
    table: Table | None = None  # a register's table (deskewed coordinates); its cells index ``lines``

    def to_json(self) -> dict[str, Any]:
        out = {
            "width": self.width,
            "height": self.height,
            "skew_degrees": round(self.angle, 3),
            "lines": [{"box": ln.page_box.to_list(), "words": [w.to_list() for w in ln.page_words]} for ln in self.lines],
            "printed_lines": [b.to_list() for b in self.printed],
        }
        if self.table is not None:
            out["table"] = self.table.to_json()
        return out
