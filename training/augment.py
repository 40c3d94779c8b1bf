"""Training-only augmentation of raw grayscale crops (ink dark on paper).

Context: ink of neighbouring lines cut into the crop (:func:`neighbours`).
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


def neighbours(img: np.ndarray, above: np.ndarray | None, below: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Ink of the lines above and below cut into the crop, as in real line and
    word boxes (descenders of the line above, ascenders of the line below).

    A strip of each donor crop (the bottom 5-22% of its ink for ``above``,
    the top for ``below``: descender and ascender tips), scaled to this
    crop's writing size, is laid over the crop's edge, partly overlapping it
    and partly extending it; the donor's ink darkens this crop's paper."""
    if img.size == 0:
        return img
    h, w = img.shape
    paper = _paper(img)
    strips: list[np.ndarray | None] = []
    for donor, top in ((above, True), (below, False)):
        if donor is None or donor.size == 0:
            strips.append(None)
            continue
        s = h / donor.shape[0] * rng.uniform(0.8, 1.25)
        d = cv2.resize(donor, (max(1, int(donor.shape[1] * s)), max(1, int(donor.shape[0] * s))), interpolation=cv2.INTER_AREA)
        dark = np.clip(1.0 - d.astype(np.float32) / max(_paper(d), 1.0), 0.0, 1.0)
        rows = np.nonzero((dark > 0.3).any(axis=1))[0]
        if rows.size:  # from the donor's ink, not its margin
            dark = dark[rows[0] : rows[-1] + 1]
        # Descender tips of the line above, ascender tips of the line below:
        # a few to a fifth of the donor's ink height.
        sh = max(1, int(rng.uniform(0.05, 0.22) * dark.shape[0]))
        dark = dark[-sh:] if top else dark[:sh]
        # Tile or cut the strip to this crop's width at a random offset.
        reps = int(np.ceil((w + dark.shape[1]) / dark.shape[1]))
        dark = np.tile(dark, (1, reps))
        x = int(rng.integers(0, dark.shape[1] - w + 1))
        strips.append(dark[:, x : x + w])
    ext = [0 if st is None else int(st.shape[0] * rng.uniform(0.0, 1.0)) for st in strips]
    out = np.full((h + ext[0] + ext[1], w), paper, np.float32)
    out[ext[0] : ext[0] + h] = img
    if strips[0] is not None:
        sh = strips[0].shape[0]
        out[:sh] *= 1.0 - strips[0]
    if strips[1] is not None:
        sh = strips[1].shape[0]
        out[out.shape[0] - sh :] *= 1.0 - strips[1]
    return np.clip(out, 0, 255).astype(np.uint8)


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
