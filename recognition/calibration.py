"""Confidence calibration: raw word scores -> probability the word is right.

The raw score of a word is the geometric mean of its characters' CTC
probabilities, lowered by its weakest character. On validation data we fit an
isotonic (monotone, pool-adjacent-violators) map from raw score to the share
of words read exactly, stored as knots and applied by linear interpolation.
A reliability table (confidence bin -> words, mean confidence, share exact)
says whether "0.9" means 90%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def raw_word_score(char_probs: Sequence[float] | np.ndarray) -> float:
    if len(char_probs) == 0:
        return 0.0
    p = np.clip(np.asarray(char_probs, np.float64), 1e-9, 1.0)
    geo = float(np.exp(np.log(p).mean()))
    return float(math.sqrt(geo * float(p.min())))


def isotonic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators: non-decreasing fit of y on x. Returns knots."""
    order = np.argsort(x, kind="stable")
    xs, ys = np.asarray(x, np.float64)[order], np.asarray(y, np.float64)[order]
    # Blocks: [sum_y, count, x_min, x_max]
    blocks: list[list[float]] = []
    for xi, yi in zip(xs, ys):
        blocks.append([yi, 1.0, xi, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c, lo, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][3] = hi
    kx, ky = [], []
    for s, c, lo, hi in blocks:
        v = s / c
        kx.extend([lo, hi])
        ky.extend([v, v])
    return np.array(kx), np.array(ky)


@dataclass
class Calibrator:
    knots_x: list[float]
    knots_y: list[float]

    @classmethod
    def identity(cls) -> Calibrator:
        return cls([0.0, 1.0], [0.0, 1.0])

    @classmethod
    def fit(cls, raw: np.ndarray, correct: np.ndarray, max_knots: int = 2000) -> Calibrator:
        if len(raw) == 0:
            return cls.identity()
        kx, ky = isotonic_fit(np.asarray(raw), np.asarray(correct, np.float64))
        if len(kx) > max_knots:
            idx = np.linspace(0, len(kx) - 1, max_knots).round().astype(int)
            kx, ky = kx[idx], ky[idx]
        kx = np.concatenate([[0.0], kx, [1.0]])
        ky = np.concatenate([[0.0 if ky[0] > 0 else ky[0]], ky, [ky[-1]]])
        return cls([float(v) for v in kx], [float(v) for v in ky])

    def __call__(self, raw: float | np.ndarray) -> np.ndarray | np.float64:
        return np.interp(raw, self.knots_x, self.knots_y)

    def to_json(self) -> dict[str, Any]:
        return {"method": "isotonic", "knots_x": self.knots_x, "knots_y": self.knots_y}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Calibrator:
        if not data:
            return cls.identity()
        return cls(list(data["knots_x"]), list(data["knots_y"]))


def reliability_table(
    confidence: ArrayLike, correct: ArrayLike, bins: Sequence[float] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001)
) -> list[dict[str, Any]]:
    conf = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, np.float64)
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (conf >= lo) & (conf < hi)
        n = int(sel.sum())
        rows.append(
            {
                "bin": f"[{lo:.2f},{min(hi, 1.0):.2f}{']' if hi > 1 else ')'}",
                "words": n,
                "mean_confidence": round(float(conf[sel].mean()), 4) if n else None,
                "share_exact": round(float(ok[sel].mean()), 4) if n else None,
            }
        )
    high = conf >= 0.9
    rows.append(
        {
            "bin": ">=0.90",
            "words": int(high.sum()),
            "mean_confidence": round(float(conf[high].mean()), 4) if high.any() else None,
            "share_exact": round(float(ok[high].mean()), 4) if high.any() else None,
        }
    )
    return rows
