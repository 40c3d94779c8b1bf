"""Training-only augmentation of raw grayscale crops (ink dark on paper).

Geometric: affine (shear, rotation, anisotropic scale) and a smooth elastic
warp. Stroke: erosion/dilation. Photometric: brightness/contrast, blur and
noise. Applied before :func:`recognition.preprocess.preprocess`, so the model
sees augmented scans through exactly the normalization used at inference.
"""

from __future__ import annotations

import cv2
import numpy as np


def _paper(img: np.ndarray) -> float:
    return float(np.median(img))


def affine(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    shear = rng.normal(0, 0.15)
    angle = np.deg2rad(rng.normal(0, 1.0))
    sx, sy = rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.1)
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[sx * c, -sx * s + shear, 0.0], [sy * s, sy * c, 0.0]], np.float32)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float32) @ m.T
    mn, mx = corners.min(axis=0), corners.max(axis=0)
    m[:, 2] -= mn
    size = (int(np.ceil(mx[0] - mn[0])) + 1, int(np.ceil(mx[1] - mn[1])) + 1)
    return cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=_paper(img))


def elastic(img: np.ndarray, rng: np.random.Generator, alpha: float | None = None) -> np.ndarray:
    h, w = img.shape
    alpha = alpha if alpha is not None else rng.uniform(0.5, 2.0) * max(1.0, h / 40.0)
    grid = max(8, h // 2)
    gh, gw = max(2, h // grid + 2), max(2, w // grid + 2)
    dx = cv2.resize(rng.normal(0, alpha, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.normal(0, alpha, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=_paper(img))


def morph(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = np.ones((2, 2), np.uint8) if rng.random() < 0.7 else np.ones((3, 3), np.uint8)
    # Ink is dark: erosion of the image thickens strokes, dilation thins them.
    return cv2.erode(img, k) if rng.random() < 0.5 else cv2.dilate(img, k)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32) / 255.0
    contrast = rng.uniform(0.6, 1.1)
    brightness = rng.uniform(-0.1, 0.1)
    f = (f - 1.0) * contrast + 1.0 + brightness
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        f = cv2.GaussianBlur(f, (0, 0), sigma)
    f += rng.normal(0, rng.uniform(0, 0.05), f.shape).astype(np.float32)
    return np.clip(f * 255.0, 0, 255).astype(np.uint8)


def augment(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Randomly augmented copy of a uint8 gray crop."""
    if img.size == 0:
        return img
    out = img
    if rng.random() < 0.6 * strength:
        out = affine(out, rng)
    if rng.random() < 0.4 * strength:
        out = elastic(out, rng)
    if rng.random() < 0.3 * strength and min(out.shape) > 8:
        out = morph(out, rng)
    if rng.random() < 0.6 * strength:
        out = photometric(out, rng)
    return out
