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
