"""Language knowledge for beam search, built from training text only.

- :class:`CharNgramLM`: character n-gram model with Witten-Bell interpolation.
- :class:`Lexicon`: the set of words seen in training text; beam search keeps
  the letters of each word on a lexicon prefix.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

BOS = "\x02"
EOS = "\x03"
_WORD = re.compile(r"[^\W\d_]+")  # runs of letters, accented ones too


class CharNgramLM:
    def __init__(self, order: int, counts: dict[str, dict[str, int]], vocab: Iterable[str]):
        self.order = order
        self.counts = counts  # context -> {next char: count}
        self.vocab = sorted(set(vocab) | {EOS})
        self._stats: dict[str, tuple[int, int]] = {}  # context -> (count, distinct next chars), as contexts are met
        self._cache: dict[tuple[str, str], float] = {}
        self._log_cache: dict[tuple[str, str], float] = {}
        self.source: Path | None = None  # the file it was loaded from (the model never changes after)

    @classmethod
    def train(cls, texts: Iterable[str], order: int = 6) -> CharNgramLM:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        vocab: set[str] = set()
        for text in texts:
            seq = BOS * (order - 1) + text + EOS
            vocab.update(text)
            for i in range(order - 1, len(seq)):
                nxt = seq[i]
                for n in range(order):
                    counts[seq[i - n : i]][nxt] += 1
        return cls(order, {k: dict(v) for k, v in counts.items()}, vocab)

    def _context(self, context: str) -> tuple[int, int]:
        """(times seen, distinct characters seen after it) of a context."""
        stats = self._stats.get(context)
        if stats is None:
            following = self.counts.get(context)
            if not following:
                return 0, 0
            stats = self._stats[context] = (sum(following.values()), len(following))
        return stats

    def _prob(self, context: str, ch: str) -> float:
        """Witten-Bell interpolated P(ch | context)."""
        key = (context, ch)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        total, types = self._context(context)
        if context == "":
            uniform = 1.0 / len(self.vocab)
            if total == 0:
                p = uniform
            else:
                lam = total / (total + types)
                p = lam * self.counts[""].get(ch, 0) / total + (1 - lam) * uniform
        else:
            lower = self._prob(context[1:], ch)
            if total == 0:
                p = lower
            else:
                lam = total / (total + types)
                p = lam * self.counts[context].get(ch, 0) / total + (1 - lam) * lower
        if len(self._cache) < 2_000_000:
            self._cache[key] = p
        return p

    def context(self, prefix: str) -> str:
        """The context the model conditions on after ``prefix`` (its last order-1 characters)."""
        return (BOS * (self.order - 1) + prefix)[-(self.order - 1) :] if self.order > 1 else ""

    def log_prob(self, prefix: str, ch: str | None) -> float:
        """log P(ch | prefix); ``ch=None`` scores the end of the text."""
        return self.log_prob_after(self.context(prefix), EOS if ch is None else ch)

    def log_prob_after(self, context: str, ch: str) -> float:
        """log P(ch | context), ``context`` from :meth:`context` (beam search asks it per prefix once)."""
        key = (context, ch)
        hit = self._log_cache.get(key)
        if hit is None:
            hit = math.log(self._prob(context, ch))
            if len(self._log_cache) < 2_000_000:
                self._log_cache[key] = hit
        return hit

    def score(self, text: str) -> float:
        total = sum(self.log_prob(text[:i], c) for i, c in enumerate(text))
        return total + self.log_prob(text, None)

    def save(self, path: str | Path) -> None:
        """JSON, gzip-compressed when the name ends in ``.gz`` (a model loaded from such a file is
        copied: a fine-tuned bundle keeps its base's n-gram, and writing it anew takes seconds)."""
        if self.source is not None and self.source.is_file() and str(self.source).endswith(".gz") == str(path).endswith(".gz"):
            if self.source.resolve() != Path(path).resolve():
                shutil.copyfile(self.source, path)
            return
        raw = json.dumps({"order": self.order, "vocab": "".join(self.vocab), "counts": self.counts}).encode()
        Path(path).write_bytes(gzip.compress(raw, mtime=0) if str(path).endswith(".gz") else raw)

    @classmethod
    def load(cls, path: str | Path) -> CharNgramLM:
        raw = Path(path).read_bytes()
        data = json.loads(gzip.decompress(raw) if str(path).endswith(".gz") else raw)
        lm = cls(data["order"], data["counts"], data["vocab"])
        lm.source = Path(path)
        return lm


class Lexicon:
    """Words (runs of letters) allowed in beam search, matched case-insensitively."""

    def __init__(self, words: Iterable[str]):
        self.words = {w.lower() for w in words if w}
        self.prefixes = {w[:i] for w in self.words for i in range(1, len(w) + 1)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Lexicon:
        return cls(w for t in texts for w in _WORD.findall(t))

    @staticmethod
    def _fragment(prefix: str) -> str:
        i = len(prefix)
        while i > 0 and prefix[i - 1].isalpha():
            i -= 1
        return prefix[i:].lower()

    def allows(self, prefix: str, ch: str) -> bool:
        frag = self._fragment(prefix)
        if ch.isalpha():
            return (frag + ch.lower()) in self.prefixes
        return frag == "" or frag in self.words

    def complete(self, text: str) -> bool:
        frag = self._fragment(text)
        return frag == "" or frag in self.words

    def save(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(sorted(self.words)) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Lexicon:
        return cls(Path(path).read_text().split())
