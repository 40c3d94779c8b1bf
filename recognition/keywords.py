"""Probable words: for each word of a reading, the spellings the recognizer
found likely, with their relevance probability, from the line's own frame
probabilities (a probabilistic index, for search over what was probably
written rather than what was read best).

Each character the greedy path emitted is a segment of frames. Its options
are the character read, the runner-up character over the same frames, and
nothing (the blank: a spurious character), weighted by their frame
probabilities and normalized per segment. A word's spellings are the
combinations over its least sure segments (at most ``MAX_POSITIONS``); the
probability of a spelling is the product of its options' weights, so a word
read surely scores 1 and the alternatives of an unsure one share the mass.
Spellings that differ only in case are one entry (their probabilities add).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .charset import Charset
from .decoding import BLANK, Decoded

MAX_POSITIONS = 3  # unsure segments combined per word (3 options each: ≤ 27 spellings)
SURE = 0.97  # a segment whose character has this weight or more is not varied
MIN_PROB = 0.02
MAX_ALTERNATIVES = 6
DEFAULT_MIN_PROB = 0.05  # search's default threshold, chosen on validation pages (benchmarks/keywords.py --split val)


@dataclass(frozen=True)
class Alternative:
    text: str
    probability: float


def normalize_term(text: str) -> str:
    """The form words are indexed and searched by: lower case, letters and digits only."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _options(probs: np.ndarray, k: int, span: tuple[int, int], space: int) -> list[tuple[int, float]]:
    """(class or BLANK for 'nothing', weight) for one emitted character's frames."""
    seg = probs[span[0] : span[1] + 1]
    p1 = float(seg[:, k].max())
    rest = seg.max(axis=0).copy()
    rest[[BLANK, k, space]] = 0.0
    k2 = int(rest.argmax())
    p2 = float(rest[k2])
    p0 = float(seg[:, BLANK].min()) if seg.shape[0] else 0.0  # blank strong even on the character's best frame
    total = p1 + p2 + p0
    if total <= 0:
        return [(k, 1.0)]
    return [(k, p1 / total), (k2, p2 / total), (BLANK, p0 / total)]


def word_alternatives(
    probs: np.ndarray, decoded: Decoded, charset: Charset, start: int, end: int, max_alternatives: int = MAX_ALTERNATIVES
) -> list[Alternative]:
    """Spellings of the word at characters ``start:end`` of ``decoded.text``,
    most probable first, each at least ``MIN_PROB``."""
    space = max(charset.space_index, BLANK)
    index = {c: i + 1 for i, c in enumerate(charset.chars)}
    options = []
    for i in range(start, end):
        k = index.get(decoded.text[i], BLANK)
        options.append(_options(probs, k, decoded.char_frames[i], space) if k != BLANK else [(BLANK, 1.0)])
    unsure = sorted(range(len(options)), key=lambda j: options[j][0][1])[:MAX_POSITIONS]
    unsure = [j for j in unsure if options[j][0][1] < SURE]
    base = [opts[0] for opts in options]
    scores: dict[str, tuple[str, float]] = {}
    for combo in itertools.product(*(options[j] for j in unsure)):
        chosen = list(base)
        for j, opt in zip(unsure, combo):
            chosen[j] = opt
        p = float(np.prod([w for _, w in chosen]))
        text = charset.decode([c for c, _ in chosen if c != BLANK])
        if not text:
            continue
        key = text.lower()
        best_text, acc = scores.get(key, (text, 0.0))
        scores[key] = (best_text, acc + p)
    out = [Alternative(t, round(min(1.0, p), 4)) for t, p in scores.values() if p >= MIN_PROB]
    out.sort(key=lambda a: -a.probability)
    return out[:max_alternatives]
