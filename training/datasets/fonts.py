"""Synthetic handwriting from fonts: ``fonts:SPLIT`` lines, ``fonts-words:SPLIT`` words,
``fonts-fields:SPLIT`` what a form's field holds (dates, numbers, amounts, names in capitals).

Fonts come from ``training/fonts`` (split by family, so ``fonts:test`` is a
hand no model here has trained on); text from ``training/fonts/text.py``
(prose, names, capitals, ALL-CAPS, digits, dates, amounts, punctuation).
Item ``i``'s text is fixed by the split's seed; its image is drawn anew for
training and the same way every time for evaluation. Faces without
lowercase get their text in capitals. A few training word crops carry a
printed form label beside the writing, which is not in the text.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

from ..fonts.faces import Face, FontError, find_faces
from ..fonts.render import render_text
from ..fonts.text import TextSource, sample_field_value, sample_line, sample_word
from .base import Dataset, DatasetError, Item

_SIZES = {"train": 20000, "val": 300, "test": 600}
_LABELS = ["NOM :", "PRENOM :", "Name:", "SURNAME", "First name", "CLASSE", "Date:", "Signed", "No."]


@lru_cache(maxsize=1)
def text_source(data_root: str) -> TextSource:
    """Prose from IAM-OnDB train lines, names from form-names train labels."""
    from pathlib import Path

    from .form_names import FormNames
    from .iam_ondb import IamOnDB

    root = Path(data_root)
    try:
        prose = IamOnDB(root / "iam-ondb" / "iam-ondb.npz", "train").texts()
    except DatasetError:
        prose = []
    try:
        names = FormNames(root / "form-names", "train").texts()
    except DatasetError:
        names = []
    return TextSource.build(prose, [w for n in names for w in n.replace("-", " ").split()])


@lru_cache(maxsize=8)
def _texts(data_root: str, level: str, split: str) -> tuple[str, ...]:
    """A split's texts, fixed by its seed (built once per process: a fine-tune opens a split
    for replay and again for each measurement)."""
    src = text_source(data_root)
    rng = np.random.default_rng(zlib.crc32(f"fonts:{level}:{split}".encode()))
    sample = {"lines": sample_line, "words": sample_word, "fields": sample_field_value}[level]
    return tuple(sample(src, rng) for _ in range(_SIZES[split]))


class Fonts(Dataset):
    name = "fonts"
    neighbour_ink = True

    def __init__(self, split: str, data_root, level: str = "lines"):
        if split not in _SIZES:
            raise DatasetError(f"fonts has no split {split!r} (train, val, test)")
        try:
            self.faces: list[Face] = find_faces(split)[0]
        except FontError as exc:
            raise DatasetError(str(exc)) from exc
        if not self.faces:
            raise DatasetError(f"no {split} fonts installed: run scripts/install-fonts.sh")
        self.split, self.level = split, level
        items = []
        for i, text in enumerate(_texts(str(data_root), level, split)):
            face = self.faces[i % len(self.faces)]
            items.append(Item(f"fonts-{level}-{split}-{i}", text.upper() if face.caps_only else text))
        super().__init__(items)

    def load(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
        item = self.items[i]
        training = rng is not None
        if rng is None:
            rng = np.random.default_rng(zlib.crc32(item.id.encode()))
        face = self.faces[i % len(self.faces)]
        label = None
        if self.level in ("words", "fields") and training and rng.random() < 0.05:
            label = _LABELS[int(rng.integers(len(_LABELS)))]
        rendered = render_text(item.text, face, rng, field_label=label)
        img = rendered.image
        if self.level in ("words", "fields"):
            img = _tight(img, rng, label is not None)
        return img, item.text


def _tight(img: np.ndarray, rng: np.random.Generator, keep_left: bool) -> np.ndarray:
    """Crop to the ink with a small margin, as offline IAM word boxes are."""
    ink = img < (np.median(img) - 40)
    ys, xs = np.nonzero(ink)
    if len(ys) == 0:
        return img
    m = int(rng.integers(0, 6))
    y0, y1 = max(0, ys.min() - m), min(img.shape[0], ys.max() + 1 + m)
    x0 = 0 if keep_left else max(0, xs.min() - m)
    x1 = min(img.shape[1], xs.max() + 1 + m)
    return img[y0:y1, x0:x1]
