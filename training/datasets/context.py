"""``SPEC+neighbours``: any data set with ink of neighbouring lines cut into
its crops, the way real line and word boxes carry descenders of the line
above and ascenders of the line below (:func:`training.augment.neighbours`).

Evaluation (``rng=None``) is deterministic: the neighbours of sample ``i`` are
samples ``i+1`` and ``i+2`` of the same set, laid with a seed from the id.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..augment import neighbours
from .base import Dataset, DatasetError


def load_donor(ds: Dataset, i: int, rng: np.random.Generator | None) -> np.ndarray | None:
    """Crop ``i`` of ``ds`` to lend its ink to a neighbour (None if it cannot be read)."""
    try:
        return ds.load(i % len(ds), rng)[0]
    except DatasetError:
        return None


class WithNeighbours(Dataset):
    def __init__(self, base: Dataset):
        self.base = base
        self.name = f"{base.name}+neighbours"
        self.level = base.level
        super().__init__(base.items)

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
        img, text = self.base.load(i, rng)
        if len(self.base) < 2:
            return img, text
        if rng is None:
            above, below = load_donor(self.base, i + 1, None), load_donor(self.base, i + 2, None)
            lay = np.random.default_rng(zlib.crc32(f"{self.items[i].id}+neighbours".encode()))
        else:
            above = load_donor(self.base, int(rng.integers(len(self.base))), rng)
            below = load_donor(self.base, int(rng.integers(len(self.base))), rng)
            lay = rng
        return neighbours(img, above, below, lay), text
