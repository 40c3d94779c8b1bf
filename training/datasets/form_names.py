"""Real scanned form fields: handwritten names in capitals (``form-names:SPLIT``).

``DATA/form-names/labels.tsv`` lists ``images/VALIDATION_NNNN.jpg<TAB>NAME``.
Many crops also hold the form's printed field label (``NOM :``, ``PRENOM :``)
or box edges; the text is the handwriting only, so a model trained on them
learns to leave the print out.

The split goes by file number, in blocks (neighbouring numbers may come
from one form, so blocks keep a form's fields together):

- ``train``: 0001-0840
- ``val``:   0841-1020
- ``test``:  1021-1200
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Dataset, DatasetError, Item

SPLITS = {"train": (1, 840), "val": (841, 1020), "test": (1021, 1200)}
_NUMBER = re.compile(r"(\d+)\.\w+$")


def split_of(filename: str) -> str | None:
    m = _NUMBER.search(filename)
    if not m:
        return None
    n = int(m.group(1))
    return next((s for s, (a, b) in SPLITS.items() if a <= n <= b), None)


class FormNames(Dataset):
    name = "form-names"
    level = "words"
    neighbour_ink = False  # the crops already hold what their boxes hold

    def __init__(self, root: str | Path, split: str = "test"):
        if split not in SPLITS:
            raise DatasetError(f"form-names has no split {split!r} (train, val, test)")
        self.root = Path(root)
        labels = self.root / "labels.tsv"
        if not labels.is_file():
            raise DatasetError(f"{labels} not found")
        items = []
        for n, raw in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip():
                continue
            name, sep, text = raw.partition("\t")
            if not sep:
                raise DatasetError(f"{labels}:{n}: expected file<TAB>text")
            text = text.strip()
            if text in ("UNREADABLE", "EMPTY", "") or split_of(name) != split:
                continue
            items.append(Item(Path(name).stem, text, self.root / name))
        super().__init__(items)
