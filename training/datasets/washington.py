"""George Washington letters (scanned, binarized), lines or words.

Transcriptions spell characters joined by ``-`` and words by ``|``, with codes
for punctuation and old letters. Mapping (also in the model card):

``s_pt`` . ``s_cm`` , ``s_sq`` ; ``s_qo`` : ``s_mi`` - ``s_qt`` ' ``s_et`` &
``s_0``..``s_9`` digits, ordinals ``s_1st`` -> ``1st`` (``s_0th`` -> ``0th``),
``s_s`` (long s) -> ``s``, ``s_GW`` (monogram) -> ``GW``, ``s_bl`` -> ``(``,
``s_br`` -> ``)``, ``s_sl`` -> ``/``, ``s_lb`` (pound sign, not in the
charset) -> ``#``.

Text is kept as written: punctuation stays on the word it ends
(``Letters, Orders``), as in the ground truth and in IAM On-Line's
transcriptions, so every training set teaches one convention (the offline
IAM reader joins its split-off punctuation tokens the same way).
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Dataset, DatasetError, Item, join_tokens

CODES = {
    "s_pt": ".",
    "s_cm": ",",
    "s_sq": ";",
    "s_qo": ":",
    "s_mi": "-",
    "s_qt": "'",
    "s_et": "&",
    "s_s": "s",
    "s_GW": "GW",
    "s_bl": "(",
    "s_br": ")",
    "s_sl": "/",
    "s_lb": "#",
}
_ORDINAL = re.compile(r"^s_(\d)(st|nd|rd|th)$")
_DIGIT = re.compile(r"^s_(\d)$")


def decode_char(code: str) -> str:
    if code in CODES:
        return CODES[code]
    m = _DIGIT.match(code) or _ORDINAL.match(code)
    if m:
        return "".join(m.groups())
    if code.startswith("s_"):
        raise DatasetError(f"unknown Washington character code {code!r}")
    return code


def decode_word(spelled: str) -> str:
    """``L-e-t-t-e-r-s-s_cm`` -> ``Letters,``."""
    return "".join(decode_char(c) for c in spelled.split("-") if c)


def decode_transcription(field: str) -> str:
    return join_tokens([decode_word(w) for w in field.split("|")])


class Washington(Dataset):
    name = "washington"

    def __init__(self, root: str | Path, split: str = "cv1/test", level: str = "lines"):
        if level not in ("lines", "words"):
            raise ValueError("level must be 'lines' or 'words'")
        self.root = Path(root)
        self.level = level
        set_file = self.root / "sets" / f"{split}.txt"
        if not set_file.is_file():
            raise DatasetError(f"{set_file} not found")
        line_ids = {ln.strip() for ln in set_file.read_text().splitlines() if ln.strip()}
        gt = self.root / "ground_truth" / ("transcription.txt" if level == "lines" else "word_labels.txt")
        folder = self.root / "data" / ("line_images_normalized" if level == "lines" else "word_images_normalized")
        items = []
        for raw in gt.read_text().splitlines():
            if not raw.strip():
                continue
            item_id, field = raw.split(" ", 1)
            line_id = item_id if level == "lines" else item_id.rsplit("-", 1)[0]
            if line_id not in line_ids:
                continue
            items.append(Item(item_id, decode_transcription(field.strip()), folder / f"{item_id}.png"))
        super().__init__(items)
