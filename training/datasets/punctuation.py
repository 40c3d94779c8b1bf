"""Lone punctuation marks drawn as pen strokes and rendered like the lines.

The offline IAM word set gives every ``.``, ``,``, ``"`` or ``-`` its own
crop (about one word crop in ten), but pen-up gaps in IAM On-Line rarely
separate a mark from its word, so the rendered word crops almost never show
one alone (24 of the 578 validation lines yield one) and a model trained on
them reads a lone comma as a letter. This reader draws the marks from stroke
templates with random size, shape and placement jitter and renders them with
``training.render.render_strokes``: the same pens, blur, paper and scan noise
as the rendered handwriting.

Templates are in x-height units, y down, baseline at y = 0, x-height top at
y = -1. Spec: ``punctuation:SPLIT`` (``train`` 4000 items, ``val``/``test``
300; evaluation renders item i the same way every time).
"""

from __future__ import annotations

import zlib

import numpy as np

from ..render import render_strokes
from .base import Dataset, DatasetError, Item

_SIZES = {"train": 4000, "val": 300, "test": 300}

# Mark -> how often it is drawn (roughly its share among IAM's lone marks).
MARKS: dict[str, float] = {
    ",": 0.22,
    ".": 0.22,
    '"': 0.1,
    "-": 0.1,
    "'": 0.06,
    ";": 0.04,
    ":": 0.04,
    "?": 0.04,
    "!": 0.03,
    "(": 0.03,
    ")": 0.03,
    '."': 0.03,
    ',"': 0.02,
    "...": 0.02,
    '?"': 0.01,
    ".)": 0.01,
}


def _dot(rng, x: float, y: float) -> np.ndarray:
    """A pen dab: a tiny closed scribble (a single point when very small)."""
    r = rng.uniform(0.0, 0.1)
    if r < 0.02:
        return np.array([[x, y]], np.float32)
    a = np.linspace(0, 2 * np.pi * rng.uniform(0.8, 1.6), int(rng.integers(5, 10)))
    return np.stack([x + r * np.cos(a), y + r * rng.uniform(0.7, 1.3) * np.sin(a)], axis=1).astype(np.float32)


def _comma(rng, x: float, y: float) -> list[np.ndarray]:
    """A dab with a tail curling down and to the left, in one stroke or two."""
    head = _dot(rng, x, y)
    t = np.linspace(0, 1, 6)
    tail = np.stack([x + 0.03 - rng.uniform(0.0, 0.25) * t * t, y + rng.uniform(0.25, 0.55) * t], axis=1).astype(np.float32)
    return [head, tail] if rng.random() < 0.5 else [np.vstack([head, tail])]


def _tick(rng, x: float) -> np.ndarray:
    """An apostrophe or one half of a quote: a short stroke near the ascender line."""
    top = -rng.uniform(1.5, 2.0)
    length = rng.uniform(0.25, 0.55)
    lean = rng.uniform(-0.15, 0.15)
    t = np.linspace(0, 1, 4)
    return np.stack([x + lean * t + 0.05 * t * t, top + length * t], axis=1).astype(np.float32)


def _arc(rng, opening: int) -> np.ndarray:
    """``(`` (opening = 1) or ``)`` (-1)."""
    top, bottom = -rng.uniform(1.5, 2.0), rng.uniform(0.3, 0.7)
    depth = rng.uniform(0.12, 0.3)
    t = np.linspace(0, 1, 9)
    y = top + (bottom - top) * t
    x = -opening * depth * np.sin(np.pi * t)
    return np.stack([x, y], axis=1).astype(np.float32)


def _question(rng, x: float) -> list[np.ndarray]:
    """A hook over a short stem, and the dot."""
    w = rng.uniform(0.22, 0.4)
    cy = -1.35 - rng.uniform(0.0, 0.3)
    a = np.deg2rad(np.linspace(160, -70, 9))
    hook = np.stack([x + w * np.cos(a), cy - w * np.sin(a)], axis=1)
    stem = np.array([[x + rng.uniform(-0.05, 0.05), -rng.uniform(0.4, 0.6)]])
    return [np.vstack([hook, stem]).astype(np.float32), _dot(rng, x, 0.0)]


def mark_strokes(mark: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Pen strokes (x-height units) for one or a few punctuation marks."""
    strokes: list[np.ndarray] = []
    x = 0.0
    for ch in mark:
        if ch == ".":
            strokes.append(_dot(rng, x, 0.0))
            x += 0.15  # a dab is wider than its centre line
        elif ch == ",":
            strokes += _comma(rng, x, 0.0)
        elif ch == ";":
            strokes += [_dot(rng, x + 0.05, -rng.uniform(0.7, 1.0))] + _comma(rng, x, 0.0)
        elif ch == ":":
            strokes += [_dot(rng, x + 0.03, -rng.uniform(0.7, 1.0)), _dot(rng, x, 0.0)]
        elif ch == "'":
            strokes.append(_tick(rng, x))
        elif ch == '"':
            gap = rng.uniform(0.15, 0.35)
            strokes += [_tick(rng, x), _tick(rng, x + gap)]
            x += gap
        elif ch == "-":
            length = rng.uniform(0.3, 1.0)
            y = -rng.uniform(0.35, 0.65)
            strokes.append(
                np.array([[x, y], [x + length / 2, y + rng.normal(0, 0.03)], [x + length, y + rng.normal(0, 0.06)]], np.float32)
            )
            x += length
        elif ch == "!":
            top = -rng.uniform(1.5, 2.0)
            strokes += [np.array([[x + 0.08, top], [x, -rng.uniform(0.35, 0.55)]], np.float32), _dot(rng, x - 0.02, 0.0)]
        elif ch == "?":
            strokes += _question(rng, x)
        elif ch in "()":
            strokes.append(_arc(rng, 1 if ch == "(" else -1) + np.array([x, 0], np.float32))
        else:
            raise ValueError(f"no template for {ch!r}")
        x += rng.uniform(0.2, 0.45)
    return strokes


class Punctuation(Dataset):
    """Synthetic lone punctuation crops, rendered as scans."""

    name = "punctuation"
    level = "words"
    neighbour_ink = False  # tips of other lines would out-weigh a lone dot

    def __init__(self, split: str = "train"):
        if split not in _SIZES:
            raise DatasetError(f"punctuation has no split {split!r} (train, val, test)")
        self.split = split
        marks, weights = list(MARKS), np.array(list(MARKS.values()))
        pick = np.random.default_rng(zlib.crc32(f"punctuation:{split}".encode()))
        labels = pick.choice(marks, size=_SIZES[split], p=weights / weights.sum())
        super().__init__([Item(f"punctuation-{split}-{i}", str(t)) for i, t in enumerate(labels)])

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
        item = self.items[i]
        if rng is None:
            rng = np.random.default_rng(zlib.crc32(item.id.encode()))
        # Sized as if it stood in a line of writing 45-120 px tall (ascender to
        # descender, about 3.2 x-heights), so pen width and blur match the lines.
        line_px = float(rng.uniform(45, 120))
        strokes = [s * np.float32(100.0) for s in mark_strokes(item.text, rng)]
        # render_strokes crops to the strokes' extent: anchor the scale with
        # px_per_unit so a dot stays dot-sized.
        rendered = render_strokes(strokes, rng, height_px=line_px, px_per_unit=line_px / 320.0, ruled=False)
        return rendered.image, item.text
