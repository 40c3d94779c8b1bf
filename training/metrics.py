"""Error rates: character and word edit distance over reference length."""

from __future__ import annotations

import editdistance


def _norm(text: str) -> str:
    return " ".join(text.split())


def error_counts(refs: list[str], hyps: list[str]) -> dict:
    ce = cn = we = wn = exact = 0
    for r, h in zip(refs, hyps):
        r, h = _norm(r), _norm(h)
        ce += editdistance.eval(r, h)
        cn += len(r)
        rw, hw = r.split(), h.split()
        we += editdistance.eval(rw, hw)
        wn += len(rw)
        exact += int(r == h)
    return {"char_errors": ce, "chars": cn, "word_errors": we, "words": wn, "exact": exact, "n": len(refs)}


def rates(refs: list[str], hyps: list[str]) -> dict:
    c = error_counts(refs, hyps)
    return {
        "cer": c["char_errors"] / max(1, c["chars"]),
        "wer": c["word_errors"] / max(1, c["words"]),
        "exact_match": c["exact"] / max(1, c["n"]),
        "samples": c["n"],
    }


# ----------------------------------------------------------------------------
# Slices: figures over the words of one kind (capitalised, ALL-CAPS, punctuation)

_PUNCT = set("!\"#&'()*+,-./:;?")


def _is_caps(word: str) -> bool:
    """Starts with a capital (``Informal``, ``MACLEOD``, ``I``)."""
    core = word.lstrip("\"'(")
    return bool(core) and core[0].isupper()


def _is_allcaps(word: str) -> bool:
    """Two or more letters, all capitals (``PRESIDENT``, ``JEAN-ROCH``)."""
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _is_punct(word: str) -> bool:
    """Holds a punctuation mark (``said,``, ``"``, ``-``)."""
    return any(c in _PUNCT for c in word)


SLICES = {"caps": _is_caps, "allcaps": _is_allcaps, "punct": _is_punct}


def align_words(ref: list[str], hyp: list[str]) -> list[str]:
    """For each reference word, the hypothesis word aligned to it by a
    word-level edit-distance alignment ("" where it was deleted); a
    substitution costs the pair's character edit distance share, so similar
    words pair up."""
    n, m = len(ref), len(hyp)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    back = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0], back[i][0] = float(i), 1
    for j in range(1, m + 1):
        cost[0][j], back[0][j] = float(j), 2
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            a, b = ref[i - 1], hyp[j - 1]
            sub = 0.0 if a == b else min(1.0, editdistance.eval(a, b) / max(len(a), len(b), 1)) * 1.5
            options = ((cost[i - 1][j - 1] + sub, 0), (cost[i - 1][j] + 1.0, 1), (cost[i][j - 1] + 1.0, 2))
            cost[i][j], back[i][j] = min(options)
    out = [""] * n
    i, j = n, m
    while i > 0 or j > 0:
        move = back[i][j]
        if move == 0:
            out[i - 1] = hyp[j - 1]
            i, j = i - 1, j - 1
        elif move == 1:
            i -= 1
        else:
            j -= 1
    return out


def slice_rates(refs: list[str], hyps: list[str], names: list[str]) -> dict:
    """Per slice: character error rate and exact-word rate over the
    reference words of that kind, each compared with the word aligned to it."""
    acc = {s: [0, 0, 0, 0] for s in names}  # char errors, chars, exact, words
    for r, h in zip(refs, hyps):
        rw, hw = _norm(r).split(), _norm(h).split()
        for word, got in zip(rw, align_words(rw, hw)):
            for s in names:
                if SLICES[s](word):
                    a = acc[s]
                    a[0] += editdistance.eval(word, got)
                    a[1] += len(word)
                    a[2] += int(word == got)
                    a[3] += 1
    return {s: {"cer": a[0] / max(1, a[1]), "exact_words": a[2] / max(1, a[3]), "words": a[3]} for s, a in acc.items()}
