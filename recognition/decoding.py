"""CTC postprocessing: turn per-frame class probabilities into text.

- ``greedy_decode``: best class per frame, repeats merged, blanks dropped.
- ``beam_decode``: CTC prefix beam search, optionally scored by a character
  n-gram model and/or constrained to a lexicon of words.

Both return a :class:`Decoded` carrying, for every emitted character, its
probability and the frame span it was read from, so callers can split words
at spaces with their own confidences and x positions.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import cast

import numpy as np

from .charset import Charset
from .field_types import Constraint
from .lm import CharNgramLM

BLANK = 0


@dataclass
class Decoded:
    text: str
    char_probs: list[float]  # probability of each emitted character
    char_frames: list[tuple[int, int]]  # [first, last] frame of each character
    log_prob: float = 0.0  # path log probability (greedy) or beam score


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return cast(np.ndarray, e / e.sum(axis=axis, keepdims=True))


def greedy_decode(probs: np.ndarray, charset: Charset) -> Decoded:
    """probs: (T, C) probabilities for one sample (padding frames removed)."""
    if probs.shape[0] == 0:
        return Decoded("", [], [], 0.0)
    best = probs.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    cprobs: list[float] = []
    frames: list[tuple[int, int]] = []
    prev = BLANK
    for t, k in enumerate(best):
        k = int(k)
        if k != BLANK and k == prev:
            # Same character continues: keep its strongest frame.
            cprobs[-1] = max(cprobs[-1], float(best_p[t]))
            frames[-1] = (frames[-1][0], t)
        elif k != BLANK:
            chars.append(charset.decode([k]))
            cprobs.append(float(best_p[t]))
            frames.append((t, t))
        prev = k
    log_prob = float(np.log(np.maximum(best_p, 1e-12)).sum())
    return Decoded("".join(chars), cprobs, frames, log_prob)


# --------------------------------------------------------------------------
# Beam search


@dataclass
class _Beam:
    p_blank: float  # log prob of prefix ending in blank
    p_char: float  # log prob of prefix ending in its last char
    lm: float  # accumulated LM log prob (already weighted)
    chars: tuple[int, ...]
    char_probs: tuple[float, ...]
    char_frames: tuple[tuple[int, int], ...]
    text: str  # the prefix's characters as text

    @property
    def total(self) -> float:
        return _logadd(self.p_blank, self.p_char)


NEG_INF = -float("inf")


def _entry(
    new: dict[tuple[int, ...], _Beam],
    prefix: tuple[int, ...],
    src: _Beam,
    extra_lm: float = 0.0,
    cp: tuple[float, ...] | None = None,
    cf: tuple[tuple[int, int], ...] | None = None,
    text: str | None = None,
) -> _Beam:
    """The beam for `prefix` in this frame's table, created from `src` if absent."""
    b = new.get(prefix)
    if b is None:
        b = _Beam(
            NEG_INF,
            NEG_INF,
            src.lm + extra_lm,
            prefix,
            src.char_probs if cp is None else cp,
            src.char_frames if cf is None else cf,
            src.text if text is None else text,
        )
        new[prefix] = b
    return b


def _logadd(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def _frame(
    beams: dict[tuple[int, ...], _Beam],
    t: int,
    row: list[float],
    prow: np.ndarray,
    candidates: list[int],
    charset: Charset,
    lm: CharNgramLM | None,
    lm_weight: float,
    insertion_bonus: float,
    lexicon: Constraint | None,
) -> dict[tuple[int, ...], _Beam]:
    """One frame of the prefix beam search: every beam extended by every plausible class of
    frame ``t`` (``row``: its log-probabilities, ``prow`` its probabilities)."""
    chars = charset.chars
    new: dict[tuple[int, ...], _Beam] = {}
    get = functools.partial(_entry, new)
    for prefix, beam in beams.items():
        last = prefix[-1] if prefix else None
        text, total = beam.text, beam.total
        context = lm.context(text) if lm is not None else ""  # once per prefix, not per candidate
        for k in candidates:
            pk = row[k]
            if k == BLANK:
                b = get(prefix, beam)
                b.p_blank = _logadd(b.p_blank, total + pk)
                continue
            if k == last:
                # Repeat without a blank in between continues the char...
                b = get(prefix, beam)
                b.p_char = _logadd(b.p_char, beam.p_char + pk)
                if b.char_frames:
                    f0, _ = b.char_frames[-1]
                    b.char_frames = b.char_frames[:-1] + ((f0, t),)
                    b.char_probs = b.char_probs[:-1] + (max(b.char_probs[-1], float(prow[k])),)
                # ...while after a blank it is a new character.
                if beam.p_blank == NEG_INF:
                    continue
                base = beam.p_blank
            else:
                base = total
            ch = chars[k - 1]
            if lexicon is not None and not lexicon.allows(text, ch):
                continue
            extra = 0.0
            if lm is not None:
                extra = lm_weight * lm.log_prob_after(context, ch) + insertion_bonus
            new_prefix = prefix + (k,)
            b = get(new_prefix, beam, extra, beam.char_probs + (float(prow[k]),), beam.char_frames + ((t, t),), text + ch)
            b.p_char = _logadd(b.p_char, base + pk)
    return new


def beam_decode(
    probs: np.ndarray,
    charset: Charset,
    beam_width: int = 12,
    lm: CharNgramLM | None = None,
    lm_weight: float = 0.5,
    insertion_bonus: float = 0.0,
    lexicon: Constraint | None = None,
    prune: float = 1e-3,
) -> Decoded:
    """CTC prefix beam search.

    With ``lm`` every extension is scored by ``lm_weight * log P_lm(c | prefix)``
    plus ``insertion_bonus``. With ``lexicon`` (``lm.Lexicon``) a word (letters between
    spaces and punctuation) may only grow along lexicon prefixes; characters outside
    words (punctuation, digits) are unconstrained. When no reading fits the lexicon,
    the unconstrained reading is given.
    """
    found = _search(probs, charset, beam_width, lm, lm_weight, insertion_bonus, lexicon, prune)
    if found is None:
        found = _search(probs, charset, beam_width, lm, lm_weight, insertion_bonus, None, prune)
    assert found is not None
    return found


def constrained_decode(
    probs: np.ndarray,
    charset: Charset,
    constraint: Constraint,
    beam_width: int = 12,
    lm: CharNgramLM | None = None,
    lm_weight: float = 0.5,
    insertion_bonus: float = 0.0,
    prune: float = 1e-4,
) -> Decoded | None:
    """The best reading ``constraint`` (a field's grammar or vocabulary,
    ``field_types``) allows, every character held to it; None when no complete
    reading fits (the value is flagged, not invented)."""
    return _search(probs, charset, beam_width, lm, lm_weight, insertion_bonus, constraint, prune)


COMPLETE_KEPT = 4  # beams beyond the width kept for complete readings (constrained search)


_Ranked = list[tuple[tuple[int, ...], "_Beam"]]


def _best_complete(rest: _Ranked, lexicon: Constraint, verdicts: dict[str, bool], n: int) -> _Ranked:
    """The ``n`` best of ``rest`` (ranked beams) whose text the constraint accepts as complete."""
    out: _Ranked = []
    for key, beam in rest:
        ok = verdicts.get(beam.text)
        if ok is None:
            ok = verdicts[beam.text] = lexicon.complete(beam.text)
        if ok:
            out.append((key, beam))
            if len(out) == n:
                break
    return out


def _search(
    probs: np.ndarray,
    charset: Charset,
    beam_width: int,
    lm: CharNgramLM | None,
    lm_weight: float,
    insertion_bonus: float,
    lexicon: Constraint | None,
    prune: float,
) -> Decoded | None:
    T = probs.shape[0]
    if T == 0:
        return Decoded("", [], [], 0.0) if lexicon is None or lexicon.complete("") else None
    logp = np.log(np.maximum(probs, 1e-30))
    beams: dict[tuple[int, ...], _Beam] = {(): _Beam(0.0, NEG_INF, 0.0, (), (), (), "")}
    complete: dict[str, bool] = {}  # the constraint's verdict per text, asked once
    for t in range(T):
        row = logp[t].tolist()  # Python floats: scalar arithmetic below is faster than numpy's
        prow = probs[t]
        candidates = np.nonzero(prow >= prune)[0].tolist()
        if len(candidates) == 0:
            candidates = [int(np.argmax(prow))]
        if len(candidates) == 1 and candidates[0] == BLANK:
            # Only a blank is plausible (most frames): every prefix stays, now
            # ending in a blank; the beams' order does not change.
            for beam in beams.values():
                beam.p_blank, beam.p_char = beam.total + row[BLANK], NEG_INF
            continue
        new = _frame(beams, t, row, prow, candidates, charset, lm, lm_weight, insertion_bonus, lexicon)
        ranked = sorted(new.items(), key=lambda kv: kv[1].total + kv[1].lm, reverse=True)
        beams = dict(ranked[:beam_width])
        if lexicon is not None:  # a complete reading is never lost to longer ones not yet complete
            beams.update(_best_complete(ranked[beam_width:], lexicon, complete, COMPLETE_KEPT))
        if not beams:
            break

    def final_score(b: _Beam) -> float:
        s = b.total + b.lm
        if lm is not None:
            s += lm_weight * lm.log_prob(b.text, None)
        if lexicon is not None and not lexicon.complete(b.text):
            s = NEG_INF
        return s

    best = max(beams.values(), key=final_score) if beams else None
    if best is None or final_score(best) == NEG_INF:
        return None  # nothing fits the constraint
    return Decoded(best.text, list(best.char_probs), list(best.char_frames), final_score(best))
