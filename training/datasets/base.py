"""What every dataset reader provides: indexed (image, text) samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class DatasetError(Exception):
    """A dataset is missing, malformed or names files that do not exist."""


_CLOSING = set(".,;:?!)")
_CLITICS = {"'s", "'d", "'ll", "'re", "'ve", "'m", "'t"}


def join_tokens(tokens: list[str]) -> str:
    """Transcription tokens -> text as written: ``. , ; : ? ! )`` tokens join the
    word before them, ``(`` the word after, split-off clitics (``Labour 's``,
    ``we 'll``: the prompts' tokenization) their word; quotes and dashes stay
    apart (which side they belong to is not in the tokens)."""
    out: list[str] = []
    glue_next = False
    for tok in tokens:
        if not tok:
            continue
        clitic = tok.lower() in _CLITICS and out and out[-1][-1:].isalpha()
        if out and (glue_next or set(tok) <= _CLOSING or clitic):
            out[-1] += tok
        else:
            out.append(tok)
        glue_next = tok == "("
    return " ".join(out)


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
    neighbour_ink = True  # crops may meet ink of neighbouring lines (training's ``neighbours`` augmentation)

    def __init__(self, items: list[Item]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def texts(self) -> list[str]:
        return [it.text for it in self.items]

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
        item = self.items[i]
        if item.path is None:
            raise DatasetError(f"{item.id}: no image file")
        return read_gray(item.path), item.text


def read_gray(path: Path | str) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        raise DatasetError(f"unreadable image: {path}")
    return img
