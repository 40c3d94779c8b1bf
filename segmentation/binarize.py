"""Adaptive-threshold binarization of page images (ink = True).

Methods, all on a grayscale page with dark ink:

- ``sauvola``: local mean/std threshold ``m * (1 + k * (s / R - 1))`` (integral images);
- ``wolf``: Wolf-Jolion variant, robust to low contrast and uneven illumination;
- ``gaussian``: OpenCV adaptive Gaussian threshold;
- ``otsu``: one global threshold (a baseline).

``benchmarks/segmentation.py`` compares them; ``DEFAULT_METHOD`` is the pick.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np

METHODS = ("sauvola", "wolf", "gaussian", "otsu")
DEFAULT_METHOD = "sauvola"
STATS_SCALE = 4


def _local_stats(gray: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    g = gray.astype(np.float32)
    mean = cv2.boxFilter(g, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    sq = cv2.boxFilter(g * g, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return mean, std


def default_window(shape: tuple[int, int]) -> int:
    """About 1/40 of the page's shorter side, odd, at least 15 px (≈ 2 text lines at 300 dpi)."""
    w = max(15, int(min(shape) / 40))
    return w | 1


def binarize(gray: np.ndarray, method: str = DEFAULT_METHOD, window: int | None = None, k: float = 0.2) -> np.ndarray:
    if gray.ndim != 2:
        raise ValueError("binarize expects a grayscale image")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    window = window or default_window(gray.shape)
    if method == "otsu":
        _, out = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        return cast(np.ndarray, out > 0)
    if method == "gaussian":
        out = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, window, 15)
        return cast(np.ndarray, out > 0)
    if method not in METHODS:
        raise ValueError(f"unknown binarization method {method!r}: {', '.join(METHODS)}")
    # The local mean and deviation over a window of ~2 text lines vary
    # slowly: compute the threshold surface on a copy 1/STATS_SCALE the size
    # and interpolate it back (the comparison itself stays at full resolution).
    f = STATS_SCALE if window >= 8 * STATS_SCALE else 1
    small = (
        gray
        if f == 1
        else cv2.resize(gray, (max(1, gray.shape[1] // f), max(1, gray.shape[0] // f)), interpolation=cv2.INTER_AREA)
    )
    mean, std = _local_stats(small, max(3, (window // f) | 1))
    if method == "sauvola":
        thr = mean * (1.0 + k * (std / 128.0 - 1.0))
    else:  # wolf
        r = max(float(std.max()), 1e-6)
        mn = float(gray.min())
        thr = (1 - k) * mean + k * mn + k * std / r * (mean - mn)
    # Flat paper has tiny std: demand real contrast against the local mean too.
    thr = np.minimum(thr, mean - 12.0)
    if f != 1:
        thr = cv2.resize(thr, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    return gray < thr
