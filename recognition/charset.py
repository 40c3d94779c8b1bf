"""Character set: the alphabet a model reads, saved with the model.

Index 0 is the CTC blank; characters are 1..N in the order given.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from .text import normalize_text

# IAM's character set: letters, digits, space and the punctuation that occurs in
# IAM transcriptions.
IAM_CHARS = " !\"#&'()*+,-./0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# What Western European archives are written in: IAM's set, the letters of French, German,
# Spanish, Italian and Portuguese with their capitals, and the signs of letters and registers.
# Typographic variants (curly quotes, dashes) are folded before encoding (``text.normalize_text``).
WESTERN_CHARS = IAM_CHARS + "$%=@[]_«»°€£§" + "àâäáãçèéêëíìîïñóòôöõœæßùúûüÿ" + "ÀÂÄÁÃÇÈÉÊËÍÌÎÏÑÓÒÔÖÕŒÆÙÚÛÜŸ"

# Characters outside a set that have an obvious in-set spelling (a set without brackets).
_FOLD = {"[": "(", "]": ")"}


class Charset:
    """Maps text to label indices and back. Blank is index 0."""

    def __init__(self, chars: str = IAM_CHARS):
        if len(set(chars)) != len(chars):
            raise ValueError("charset has duplicate characters")
        self.chars = chars
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @property
    def num_classes(self) -> int:
        """Number of model outputs: characters plus the blank."""
        return len(self.chars) + 1

    @property
    def space_index(self) -> int:
        return self._index.get(" ", -1)

    def normalize(self, text: str) -> str:
        """Fold text onto the charset: ``normalize_text``, then known substitutions, accents
        stripped where the set has no accented letter, unknown characters dropped."""
        out = []
        for ch in normalize_text(text):
            if ch not in self._index:
                ch = _FOLD.get(ch, ch)
            if ch not in self._index:
                base = unicodedata.normalize("NFKD", ch)
                base = "".join(c for c in base if c in self._index)
                ch = base
            out.append(ch)
        return " ".join("".join(out).split())

    def encode(self, text: str) -> list[int]:
        return [self._index[c] for c in self.normalize(text)]

    def decode(self, indices: Iterable[int]) -> str:
        n = len(self.chars)
        return "".join(self.chars[i - 1] for i in indices if 0 < i <= n)

    def to_json(self) -> dict[str, Any]:
        return {"chars": self.chars, "blank": 0}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Charset:
        return cls(data["chars"])
