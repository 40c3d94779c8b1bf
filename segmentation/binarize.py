"""Adaptive-threshold binarization of page images (ink = True).

Methods, all on a grayscale page with dark ink:

- ``sauvola``: local mean/std threshold ``m * (1 + k * (s / R - 1))`` (integral images);
- ``wolf``: Wolf-Jolion variant, robust to low contrast and uneven illumination;
- ``gaussian``: OpenCV adaptive Gaussian threshold;
- ``otsu``: one global threshold (a baseline).

``benchmarks/segmentation.py`` compares them; ``DEFAULT_METHOD`` is the pick.
"""

from __future__ import annotations

import cv2
import numpy as np

METHODS = ("sauvola", "wolf", "gaussian", "otsu")
DEFAULT_METHOD = "sauvola"


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
        return out > 0
    if method == "gaussian":
        out = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, window, 15)
        return out > 0
    mean, std = _local_stats(gray, window)
    if method == "sauvola":
        thr = mean * (1.0 + k * (std / 128.0 - 1.0))
    elif method == "wolf":
        r = max(float(std.max()), 1e-6)
        mn = float(gray.min())
        thr = (1 - k) * mean + k * mn + k * std / r * (mean - mn)
    else:
        raise ValueError(f"unknown binarization method {method!r}: {', '.join(METHODS)}")
    ink = gray.astype(np.float32) < thr
    # Flat paper has tiny std: demand real contrast against the local mean.
    ink &= (mean - gray.astype(np.float32)) > 12
    return ink
