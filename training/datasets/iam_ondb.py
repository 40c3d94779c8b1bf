"""IAM On-Line Handwriting Database strokes, rendered to offline images.

``iam-ondb.npz`` holds pen trajectories per text line (see the data README).
Lines are rendered on the fly (``training.render``); at evaluation time each
line is rendered with a fixed seed derived from its id, so a split is the same
image set on every run. ``level="words"`` cuts words (or, where punctuation
touches a word, word+punctuation tokens) at pen-up gaps.

The transcriptions keep the spacing of the typed prompts in places
(``Mr . Thorneycroft ,``); texts are given as written (``Mr. Thorneycroft,``),
the convention of every reader here (``base.join_tokens``).
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..render import render_strokes, split_words
from .base import Dataset, DatasetError, Item, join_tokens

_PUNCT = set(".,;:!?\"'()-")


@lru_cache(maxsize=2)
def _load_npz(path: str):
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p} not found")
    with np.load(p) as d:
        return {k: d[k] for k in d.files}


def _word_groups(tokens: list[str]) -> list[list[str]]:
    """Tokens grouped so punctuation-only tokens ride with the word before."""
    groups: list[list[str]] = []
    for tok in tokens:
        if groups and all(c in _PUNCT for c in tok):
            groups[-1].append(tok)
        else:
            groups.append([tok])
    return groups


class IamOnDB(Dataset):
    name = "iam-ondb"
    variety = 0.0  # training renders: chance of a wider pen and writer style (render.PenStyle)

    def __init__(self, path: str | Path, split: str = "train", level: str = "lines"):
        if level not in ("lines", "words"):
            raise ValueError("level must be 'lines' or 'words'")
        self.level = level
        self.path = Path(path)
        if self.path.is_dir():
            self.path = self.path / "iam-ondb.npz"
        d = _load_npz(str(self.path))
        if split not in set(d["split"].tolist()):
            raise DatasetError(f"iam-ondb has no split {split!r}")
        self._d = d
        self.rows = np.nonzero(d["split"] == split)[0]
        # Word cuts count the original tokens (a spaced "." may have its own pen gap).
        self._tokens = [str(d["texts"][r]).split() for r in self.rows]
        super().__init__([Item(str(d["ids"][r]), join_tokens(t)) for r, t in zip(self.rows, self._tokens)])

    def strokes(self, i: int) -> list[np.ndarray]:
        d = self._d
        r = self.rows[i]
        s0, s1 = d["line_stroke_start"][r], d["line_stroke_start"][r + 1]
        ps, pts = d["stroke_point_start"], d["points"]
        return [pts[ps[k] : ps[k + 1]] for k in range(s0, s1)]

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
        item = self.items[i]
        evaluation = rng is None
        seed = zlib.crc32(item.id.encode())
        if rng is None:
            rng = np.random.default_rng(seed)
        rendered = render_strokes(self.strokes(i), rng, variety=0.0 if evaluation else self.variety)
        if self.level == "lines":
            return rendered.image, item.text
        # Words: not every rendering separates every word; try a few.
        for attempt in range(6):
            cut = self._cut_word(rendered, self._tokens[i], rng, single=evaluation)
            if cut is not None:
                return cut
            if not evaluation:
                i = int(rng.integers(len(self.items)))
                item = self.items[i]
            rendered = render_strokes(
                self.strokes(i),
                np.random.default_rng(seed + attempt + 1) if evaluation else rng,
                variety=0.0 if evaluation else self.variety,
            )
        if evaluation:
            # A fixed word set holds words only: this line never split cleanly.
            raise DatasetError(f"{item.id}: no clean word split")
        return rendered.image, item.text  # training: the whole line still teaches

    def _cut_word(self, rendered, tokens: list[str], rng: np.random.Generator, single: bool = False):
        img = rendered.image
        min_gap = 0.1 * img.shape[0]
        pieces = split_words(rendered.word_spans, len(tokens), min_gap=min_gap)
        labels = tokens
        if pieces is None:
            groups = _word_groups(tokens)
            pieces = split_words(rendered.word_spans, len(groups), min_gap=min_gap)
            labels = [join_tokens(g) for g in groups]
        if pieces is None:
            return None
        k = int(rng.integers(len(pieces)))
        # Occasionally a run of two or three words, as a segmenter may cut.
        run = 1 if single or rng.random() < 0.85 else int(rng.integers(2, 4))
        j = min(len(pieces), k + run)
        x0, x1 = pieces[k][0], pieces[j - 1][1]
        pad = int(rng.integers(1, 6))
        crop = img[:, max(0, x0 - pad) : min(img.shape[1], x1 + pad + 1)]
        return crop, join_tokens(labels[k:j])
