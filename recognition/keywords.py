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

With a lexicon (the bundle's training words), an unsure word also gets the
lexicon words within a few edits of its reading, each scored by the CTC
probability of that spelling over the word's frames against the probability of
the reading itself: a word the greedy path misspelt is found under its real
spelling when the frames support it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np

from .charset import Charset
from .decoding import BLANK, Decoded
from .lm import CharNgramLM

MAX_POSITIONS = 3  # unsure segments combined per word (3 options each: ≤ 27 spellings)
SURE = 0.97  # a segment whose character has this weight or more is not varied
MIN_PROB = 0.01
MAX_ALTERNATIVES = 6
LEXICON_SURE = 0.99  # a word whose best spelling has this probability is not looked up
LEXICON_MIN_LENGTH = 3  # letters of a reading looked up in the lexicon
LEXICON_MARGIN = 6  # frames a word's span may widen into the gaps beside it (a letter the path skipped)
LEXICON_NEIGHBOURS = 32  # lexicon words scored per reading, nearest first
LEXICON_LM_WEIGHT = 0.5  # of a spelling's n-gram log probability (as beam search's; 1.0 lowered recall on validation)
# Search's default threshold, chosen on validation pages (benchmarks/keywords.py --split val): the
# lowest stored spelling, so by default search sees the whole index; a higher one trades recall for precision.
DEFAULT_MIN_PROB = MIN_PROB


@dataclass(frozen=True)
class Alternative:
    text: str
    probability: float


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
    probs: np.ndarray,
    decoded: Decoded,
    charset: Charset,
    start: int,
    end: int,
    max_alternatives: int = MAX_ALTERNATIVES,
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


MAX_JOINED = 2  # spellings of two neighbouring words read as one


def joined_alternatives(
    probs: np.ndarray,
    decoded: Decoded,
    charset: Charset,
    space_at: int,
    left: Alternative,
    right: Alternative,
    lexicon: LexiconMatcher | None = None,
) -> list[Alternative]:
    """Spellings of the words either side of the space at ``space_at`` as one word (a
    word read in two pieces): at the weight of 'nothing' over the space's frames times
    the two words' best probabilities; with ``lexicon``, also the lexicon words near
    the joined letters (``lexicon_alternatives``, the space's frames as a gap)."""
    space = charset.space_index
    options = dict(_options(probs, space, decoded.char_frames[space_at], space))
    p = options.get(BLANK, 0.0) * left.probability * right.probability
    if p < MIN_PROB:
        return []
    out = [Alternative(left.text + right.text, round(p, 4))]
    if lexicon is not None:
        text = decoded.text
        starts = text.rfind(" ", 0, space_at) + 1
        ends = text.find(" ", space_at + 1)
        ends = len(text) if ends < 0 else ends
        keep = [i for i in range(len(text)) if i != space_at]
        joined = Decoded(
            "".join(text[i] for i in keep),
            [decoded.char_probs[i] for i in keep],
            [decoded.char_frames[i] for i in keep],
        )
        near = lexicon_alternatives(probs, joined, charset, starts, ends - 1, out[0], lexicon)
        out += [a for a in near if a.text.lower() != out[0].text.lower()]
    out.sort(key=lambda a: -a.probability)
    return out[:MAX_JOINED]


def _edits(length: int) -> int:
    """Edits allowed between a reading of ``length`` letters and a lexicon word."""
    return 1 if length <= 3 else 2 if length <= 5 else 3 if length <= 8 else 4


class LexiconMatcher:
    """The lexicon words (letters only, at least ``LEXICON_MIN_LENGTH``) within a
    few edits of a reading, nearest first (Levenshtein distance, case-insensitive),
    and the prior of a spelling: ``lm_weight`` times its log probability as a word
    under the character n-gram (0 without one)."""

    def __init__(self, words: Iterable[str], lm: CharNgramLM | None = None, lm_weight: float = LEXICON_LM_WEIGHT):
        self.words = sorted({w.lower() for w in words if len(w) >= LEXICON_MIN_LENGTH and w.isalpha()})
        self._near: dict[str, list[str]] = {}  # word -> lexicon words near it (LexiconMatcher.near)
        self.lm, self.lm_weight = lm, lm_weight
        self._priors: dict[str, float] = {}

    def prior(self, word: str) -> float:
        if self.lm is None:
            return 0.0
        hit = self._priors.get(word)
        if hit is None:
            text = " " + word
            hit = sum(self.lm.log_prob(text[: i + 1], ch) for i, ch in enumerate(word)) + self.lm.log_prob(text, " ")
            hit *= self.lm_weight
            if len(self._priors) < 200_000:
                self._priors[word] = hit
        return hit

    def near(self, word: str) -> list[str]:
        """At most ``LEXICON_NEIGHBOURS`` lexicon words within ``_edits`` of ``word``, nearest first."""
        word = word.lower()
        if word not in self._near:
            self.prefetch([word])
        return self._near[word]

    def prefetch(self, words: Iterable[str]) -> None:
        """Look up many words at once (one pass over the lexicon: a line's unsure words)."""
        import numpy as np
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        todo = sorted({w.lower() for w in words} - set(self._near))
        if not todo:
            return
        if len(self._near) > 100_000:
            self._near.clear()
        for at in range(0, len(todo), 256):  # 256 rows of distances to every lexicon word at a time
            chunk = todo[at : at + 256]
            edits = [_edits(len(w)) for w in chunk]
            distances = process.cdist(chunk, self.words, scorer=Levenshtein.distance, score_cutoff=max(edits), dtype=np.uint8)
            for word, allowed, row in zip(chunk, edits, distances):
                hits = np.nonzero((row <= allowed) & (row > 0))[0]
                hits = hits[np.lexsort((hits, row[hits]))][:LEXICON_NEIGHBOURS]  # nearest first, then in lexicon order
                self._near[word] = [self.words[j] for j in hits]


def ctc_log_likelihoods(probs: np.ndarray, labels: list[list[int]]) -> np.ndarray:
    """log P(labels[n] | frames) under CTC for every label sequence at once
    (forward algorithm over frame probabilities ``probs``, (T, C), blank is
    class 0; each frame's forward variables are rescaled to a maximum of 1 and
    the scales summed in the log domain, so long spans do not underflow)."""
    n = len(labels)
    longest = max(len(lab) for lab in labels)
    states = 2 * longest + 1
    ext = np.zeros((n, states), np.int64)  # blank, l1, blank, l2, ..., blank
    for i, lab in enumerate(labels):
        ext[i, 1 : 2 * len(lab) : 2] = lab
    skip = np.zeros((n, states))  # 1 where s-2 -> s is allowed: a label differing from the one before it
    skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
    emit = np.asarray(probs, np.float64)[:, ext]  # (T, n, states)
    alpha = np.zeros((n, states + 2))  # two columns of zeros before state 0: its s-1 and s-2
    alpha[:, 2] = emit[0, :, 0]
    if states > 1:
        alpha[:, 3] = emit[0, :, 1]
    log_scale = np.zeros(n)
    for t in range(emit.shape[0]):
        if t:
            alpha[:, 2:] = (alpha[:, 2:] + alpha[:, 1:-1] + alpha[:, :-2] * skip) * emit[t]
        top = alpha.max(axis=1)
        top[top <= 0] = 1.0
        alpha /= top[:, None]
        log_scale += np.log(top)
    ends = np.array([2 * len(lab) for lab in labels]) + 2
    rows = np.arange(n)
    final = alpha[rows, ends] + np.where(ends > 2, alpha[rows, ends - 1], 0.0)
    with np.errstate(divide="ignore"):
        return cast(np.ndarray, np.log(final) + log_scale)


def _cased(word: str, like: str) -> str:
    if len(like) > 1 and like.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _letters(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of ``text[start:end]`` without punctuation at either end."""
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return start, end


def lexicon_queries(decoded: Decoded) -> list[str]:
    """What ``line_alternatives`` may look up in the lexicon for a reading: the letters of
    each word with a character below ``LEXICON_SURE``, and of two words joined across such a
    space (for ``LexiconMatcher.prefetch`` over many lines at once)."""
    text, probs = decoded.text, decoded.char_probs
    out, start = [], 0
    previous: tuple[int, int] | None = None
    for pos in range(len(text) + 1):
        if pos < len(text) and text[pos] != " ":
            continue
        if pos > start:
            a, b = _letters(text, start, pos)
            if min(probs[start:pos]) < LEXICON_SURE:
                out.append(text[a:b])
            if previous is not None and previous[1] == start - 1 and probs[start - 1] < LEXICON_SURE:
                out.append(text[slice(*_letters(text, previous[0], previous[1]))] + text[a:b])
            previous = (start, pos)
        start = pos + 1
    return [w for w in out if len(w) >= LEXICON_MIN_LENGTH and w.isalpha()]


def line_alternatives(
    probs: np.ndarray,
    decoded: Decoded,
    charset: Charset,
    bounds: list[tuple[int, int]],
    lexicon: LexiconMatcher | None = None,
) -> list[list[Alternative]]:
    """The spellings of every word of a line (``bounds``: each word's characters in
    ``decoded.text``): its own (``word_alternatives``), with ``lexicon`` the lexicon words
    near an unsure one (looked up for the whole line at once), and on both words either
    side of an unsure space their joined spelling (``joined_alternatives``)."""
    out = [word_alternatives(probs, decoded, charset, a, b) for a, b in bounds]
    if lexicon is not None:
        text = decoded.text
        unsure = [i for i, alts in enumerate(out) if alts and alts[0].probability < LEXICON_SURE]
        lexicon.prefetch([text[slice(*_letters(text, *bounds[i]))] for i in unsure])
        for i in unsure:
            seen = {a.text.lower() for a in out[i]}
            more = lexicon_alternatives(probs, decoded, charset, *bounds[i], out[i][0], lexicon)
            out[i] = sorted(out[i] + [a for a in more if a.text.lower() not in seen], key=lambda a: -a.probability)
            del out[i][MAX_ALTERNATIVES:]
    joined: list[list[Alternative]] = [[] for _ in bounds]
    for i in range(len(bounds) - 1):
        (_, a_end), (b_start, _) = bounds[i], bounds[i + 1]
        if b_start == a_end + 1 and out[i] and out[i + 1]:
            whole = joined_alternatives(probs, decoded, charset, a_end, out[i][0], out[i + 1][0], lexicon)
            joined[i] += whole
            joined[i + 1] += whole
    return [alts + more for alts, more in zip(out, joined)]


def lexicon_alternatives(
    probs: np.ndarray, decoded: Decoded, charset: Charset, start: int, end: int, best: Alternative, lexicon: LexiconMatcher
) -> list[Alternative]:
    """Lexicon words near the letters of the word at ``start:end``, each at
    ``best.probability`` times its CTC likelihood over the letters' frames and
    prior (``LexiconMatcher.prior``) relative to the reading's own (at most
    ``best.probability``)."""
    text = decoded.text
    a, b = _letters(text, start, end)
    core = text[a:b]
    if len(core) < LEXICON_MIN_LENGTH or not core.isalpha():
        return []
    if best.probability >= LEXICON_SURE:
        return []
    near = lexicon.near(core)
    if not near:
        return []
    frames = decoded.char_frames
    f0 = max(frames[a - 1][1] + 1 if a > 0 else 0, frames[a][0] - LEXICON_MARGIN)
    f1 = min(frames[b][0] - 1 if b < len(text) else probs.shape[0] - 1, frames[b - 1][1] + LEXICON_MARGIN)
    span = probs[f0 : f1 + 1].astype(np.float64)
    space = charset.space_index
    if space > BLANK:  # a space in the margin is a gap, as a blank is
        span[:, BLANK] += span[:, space]
    span = np.maximum(span, 1e-30)
    index = {c: i + 1 for i, c in enumerate(charset.chars)}
    spellings = [core] + [_cased(w, core) for w in near]
    spellings = [w for w in spellings if all(ch in index for ch in w)]
    scores = ctc_log_likelihoods(span, [[index[ch] for ch in w] for w in spellings])
    scores = scores + np.array([lexicon.prior(w) for w in spellings])
    reference = scores[0]
    if not np.isfinite(reference):
        return []
    out = []
    for w, lp in zip(spellings[1:], scores[1:]):
        p = best.probability * float(np.exp(min(0.0, lp - reference)))
        if p >= MIN_PROB:
            out.append(Alternative(text[start:a] + w + text[b:end], round(p, 4)))
    return out
