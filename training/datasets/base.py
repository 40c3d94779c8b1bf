"""What every dataset reader provides: indexed (image, text) samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class DatasetError(Exception):
    """A dataset is missing, malformed or names files that do not exist."""


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    path: Path | None = None


class Dataset:
    """A list of labelled crops. ``load(i, rng)`` returns (uint8 gray, text).

    With ``rng=None`` loading is deterministic (evaluation); readers that
    synthesize images (rendered strokes) use ``rng`` for variety.
    """

    name = "dataset"
    level = "lines"

    def __init__(self, items: list[Item]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def texts(self) -> list[str]:
        return [it.text for it in self.items]

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
        item = self.items[i]
        return read_gray(item.path), item.text


def read_gray(path: Path | str) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        raise DatasetError(f"unreadable image: {path}")
    return img
