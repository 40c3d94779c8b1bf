"""Which fields need no review: a confidence threshold with a guaranteed error rate.

Given held-out fields (their confidences, and whether each was read right), :func:`calibrate`
picks the lowest threshold ``t`` such that, with probability at least ``1 - delta`` over the
draw of those held-out fields, the share of wrong values among new fields accepted at
``t`` (confidence ≥ t, and the value fits its kind) is at most ``alpha``. It is the
Learn-then-Test procedure (Angelopoulos, Bates et al., 2021) for a split-conformal
guarantee: thresholds are tested from the strictest down, each null "accepting at ``t`` errs
more than ``alpha``" rejected by an exact binomial test at level ``delta``; the first that
cannot be rejected stops the sequence (fixed-sequence testing needs no multiplicity
correction). The guarantee holds for new fields exchangeable with the held-out ones: the
same forms, hands and scanners. With too few held-out fields no threshold passes and every
field goes to review; with no errors among ``n`` accepted it takes ``n ≥ log(delta) /
log(1 - alpha)`` (114 at 2% and ``delta`` 0.1).

:func:`calibrate_kinds` gives each field type its own threshold (a ticked box's confidence and
a date's are not on one scale), ``delta`` shared among the types.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p), summed in log space (exact for any n here)."""
    if k >= n:
        return 1.0
    if k < 0:
        return 0.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


@dataclass
class Acceptance:
    """A calibrated threshold: fields at or above ``threshold`` (and valid) are accepted."""

    threshold: float | None  # None: nothing can be accepted with this guarantee
    alpha: float  # the guaranteed maximum error rate among accepted fields
    delta: float  # the chance that the guarantee fails, over the calibration draw
    calibrated_on: int  # held-out fields
    accepted_share: float  # share of the held-out fields accepted at the threshold
    errors_accepted: int  # held-out fields accepted at the threshold and wrong

    def accepts(self, confidence: float, valid: bool = True) -> bool:
        return valid and self.threshold is not None and confidence >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Acceptance:
        return cls(**{k: d[k] for k in ("threshold", "alpha", "delta", "calibrated_on", "accepted_share", "errors_accepted")})


GRID = tuple(round(1.0 - i / 1000, 3) for i in range(1, 1001))  # thresholds tested, strictest first: 0.999 … 0


def needed(alpha: float, delta: float) -> int:
    """Accepted fields, none wrong, that it takes to show an error rate under ``alpha``."""
    return math.ceil(math.log(delta) / math.log(1 - alpha))


def calibrate(
    confidences: Sequence[float],
    correct: Sequence[bool],
    alpha: float = 0.02,
    delta: float = 0.1,
    valid: Sequence[bool] | None = None,
) -> Acceptance:
    """The lowest threshold whose error rate among accepted fields is at most ``alpha`` with
    probability ``1 - delta`` (held-out fields' ``confidences`` and whether each was ``correct``;
    a field not ``valid`` for its kind is never accepted).

    The thresholds are :data:`GRID`, fixed in advance; the sequence starts at the first that
    accepts :func:`needed` fields (a count, which says nothing of the errors) and stops at the
    first threshold the binomial test cannot clear."""
    if len(confidences) != len(correct):
        raise ValueError("one correctness per confidence")
    if not (0 < alpha < 1 and 0 < delta < 1):
        raise ValueError("alpha and delta lie between 0 and 1")
    ok = list(valid) if valid is not None else [True] * len(confidences)
    fields = [(float(c), bool(r)) for c, r, v in zip(confidences, correct, ok) if v]
    n_all, least = len(confidences), needed(alpha, delta)
    best = Acceptance(None, alpha, delta, n_all, 0.0, 0)
    for t in GRID:
        taken = [r for c, r in fields if c >= t]
        if len(taken) < least:
            continue
        errors = taken.count(False)
        if binomial_cdf(errors, len(taken), alpha) > delta:
            break
        best = Acceptance(t, alpha, delta, n_all, len(taken) / n_all if n_all else 0.0, errors)
    return best


@dataclass
class KindAcceptance:
    """A threshold per field type (a checkbox's confidence and a date's do not mean the same),
    each calibrated on the held-out fields of its type at ``delta`` shared among the types
    (Bonferroni), so that all the types' guarantees hold together with probability ``1 - delta``."""

    alpha: float
    delta: float
    kinds: dict[str, Acceptance]

    def accepts(self, kind: str, confidence: float, valid: bool = True) -> bool:
        acc = self.kinds.get(kind)
        return acc is not None and acc.accepts(confidence, valid)

    @property
    def calibrated_on(self) -> int:
        return sum(a.calibrated_on for a in self.kinds.values())

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "delta": self.delta, "kinds": {k: a.to_dict() for k, a in self.kinds.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KindAcceptance:
        return cls(d["alpha"], d["delta"], {k: Acceptance.from_dict(a) for k, a in d.get("kinds", {}).items()})


def calibrate_kinds(
    kinds: Sequence[str],
    confidences: Sequence[float],
    correct: Sequence[bool],
    alpha: float = 0.02,
    delta: float = 0.1,
    valid: Sequence[bool] | None = None,
) -> KindAcceptance:
    """:func:`calibrate` for each field type on its own held-out fields."""
    ok = list(valid) if valid is not None else [True] * len(kinds)
    names = sorted(set(kinds))
    out = {}
    for kind in names:
        idx = [i for i, k in enumerate(kinds) if k == kind]
        out[kind] = calibrate(
            [confidences[i] for i in idx], [correct[i] for i in idx], alpha, delta / len(names), [ok[i] for i in idx]
        )
    return KindAcceptance(alpha, delta, out)
