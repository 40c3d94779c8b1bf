"""Text drawn glyph by glyph in a handwriting font, then scanned.

Each glyph gets its own jitter (size, baseline, rotation, spacing) on top of a
per-"writer" style (cap height, tracking, slant, a wavy baseline, pen weight
from the font's weights, thicker or thinner strokes), so no two letters are
stamped alike as in type; then the ink goes through the same scan realism as
the stroke renderer (``training.render.scan``: paper, blur, darkness, noise,
bilevel or JPEG finish). ``word_spans`` gives each word's x range, so a line
can be cut into tight word crops as offline IAM cuts them.

``field_label`` puts a printed form label (Pillow's built-in sans) left of
the handwriting: it is drawn, not transcribed, as on a real form field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import ImageFont

from ..render import ScanStyle, scan
from .faces import Face, truetype


@dataclass
class RenderedText:
    image: np.ndarray  # uint8 gray, ink dark on light paper
    word_spans: list[tuple[int, int]]  # x range of each space-separated word


@lru_cache(maxsize=512)
def cap_height(path: str) -> float:
    """Cap height in px of the font at size 100."""
    box = truetype(path, 100).getbbox("H", anchor="ls")
    return max(1.0, float(box[3] - box[1]))


def _glyph(path: str, ch: str, size: int) -> tuple[np.ndarray, int, int, float]:
    """Coverage of one glyph (float 0..1), its offset from the pen position
    (left, top, baseline at y = 0) and its advance."""
    font = truetype(path, size)
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    adv = float(font.getlength(ch))
    if right <= left or bottom <= top:
        return np.zeros((0, 0), np.float32), 0, 0, adv
    mask = font.getmask(ch, mode="L", anchor="ls")
    arr = np.asarray(mask, np.uint8).reshape(mask.size[1], mask.size[0]).astype(np.float32) / 255.0
    return arr, int(left), int(top), adv


def _rotate(arr: np.ndarray, degrees: float) -> np.ndarray:
    if abs(degrees) < 0.3 or arr.size == 0:
        return arr
    h, w = arr.shape
    pad = int(np.ceil(max(h, w) * 0.15)) + 1
    a = cv2.copyMakeBorder(arr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    m = cv2.getRotationMatrix2D((a.shape[1] / 2, a.shape[0] / 2), degrees, 1.0)
    out = cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR)
    return out[pad // 2 : pad // 2 + h + pad, pad // 2 : pad // 2 + w + pad]


def _place(canvas_items, ink_h: int, ink_w: int) -> np.ndarray:
    ink = np.zeros((ink_h, ink_w), np.float32)
    for arr, x, y in canvas_items:
        h, w = arr.shape
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(ink_w, x + w), min(ink_h, y + h)
        if x1 > x0 and y1 > y0:
            np.maximum(ink[y0:y1, x0:x1], arr[y0 - y : y1 - y, x0 - x : x1 - x], out=ink[y0:y1, x0:x1])
    return ink


@dataclass(frozen=True)
class _Jitter:
    """A writer's spacing and wobble for one line (in pixels, degrees and shares of the size)."""

    tracking: float
    word_gap: float
    size: float
    baseline: float
    rotation: float
    space: float
    wave_amp: float
    wave_len: float
    wave_phase: float


def _lay_out(
    text: str, path: str, base_size: float, j: _Jitter, rng: np.random.Generator
) -> tuple[list[tuple[np.ndarray, int, int]], list[tuple[int, float]]]:
    """Each glyph of ``text`` drawn and placed along the line: (glyph, x, y) items, and each
    word's x-span."""
    items = []
    x = 0.0
    word_start: int | None = None
    spans_f: list[tuple[int, float]] = []
    for ch in text:
        if ch == " ":
            if word_start is not None:
                spans_f.append((word_start, x))
                word_start = None
            x += float(truetype(path, int(round(base_size))).getlength(" ")) + j.word_gap + rng.normal(0, j.space)
            continue
        size = max(6, int(round(base_size * np.exp(rng.normal(0.0, j.size)))))
        arr, left, top, adv = _glyph(path, ch, size)
        arr = _rotate(arr, rng.normal(0.0, j.rotation))
        dy = rng.normal(0.0, j.baseline) + j.wave_amp * np.sin(2 * np.pi * x / j.wave_len + j.wave_phase)
        gx, gy = int(round(x + left)), int(round(top + dy))
        if arr.size:
            items.append((arr, gx, gy))
            if word_start is None:
                word_start = gx
        x += adv + j.tracking + rng.normal(0.0, j.space * 0.5)
    if word_start is not None:
        spans_f.append((word_start, x))
    return items, spans_f


def render_text(
    text: str,
    face: Face,
    rng: np.random.Generator,
    cap_px: float | None = None,
    field_label: str | None = None,
    ruled: bool = True,
) -> RenderedText:
    """Draw ``text`` in ``face`` as a scanned line (or word) image (on ruled paper now and then
    unless not ``ruled``)."""
    if not text.strip():
        raise ValueError("no text to render")
    # Writer and scanner style first, then per-glyph jitter.
    cap_px = cap_px or float(rng.uniform(16, 40))
    path = str(face.files[int(rng.integers(len(face.files)))])
    base_size = 100.0 * cap_px / cap_height(path)
    tracking = rng.uniform(-0.04, 0.08) * cap_px
    word_gap = rng.uniform(0.0, 0.35) * cap_px
    size_jit, base_jit, rot_jit = rng.uniform(0.0, 0.07), rng.uniform(0.0, 0.05) * cap_px, rng.uniform(0.0, 4.0)
    space_jit = rng.uniform(0.0, 0.06) * cap_px
    slant = np.tan(rng.normal(0.0, 0.15))
    wave_amp, wave_len, wave_phase = rng.uniform(0, 0.08) * cap_px, rng.uniform(8, 30) * cap_px, rng.uniform(0, 2 * np.pi)
    stroke = rng.random()
    margin = int(rng.integers(3, 14))
    style = ScanStyle.draw(rng)

    jitter = _Jitter(tracking, word_gap, size_jit, base_jit, rot_jit, space_jit, wave_amp, wave_len, wave_phase)
    items, spans_f = _lay_out(text, path, base_size, jitter, rng)
    if not items:
        raise ValueError(f"nothing drawn for {text!r}")
    # Canvas: y of the baseline is -min(top).
    min_x = min(gx for _, gx, _ in items)
    min_y = min(gy for _, _, gy in items)
    max_x = max(gx + a.shape[1] for a, gx, _ in items)
    max_y = max(gy + a.shape[0] for a, _, gy in items)
    ink_h = max_y - min_y
    shear_pad = int(abs(slant) * ink_h) + 2
    ox, oy = margin + shear_pad - min_x, margin - min_y
    ink = _place([(a, gx + ox, gy + oy) for a, gx, gy in items], ink_h + 2 * margin, max_x - min_x + 2 * (margin + shear_pad))
    spans = [(int(a + ox), int(np.ceil(b + ox))) for a, b in spans_f]
    label_w = 0
    if field_label:
        ink, label_w = _with_label(ink, field_label, cap_px, rng)
        spans = [(a + label_w, b + label_w) for a, b in spans]
    # Slant about the baseline; pen weight.
    if abs(slant) > 0.01:
        h, w = ink.shape
        base_y = oy
        m = np.array([[1, -slant, slant * base_y], [0, 1, 0]], np.float32)
        ink = cv2.warpAffine(ink, m, (w, h), flags=cv2.INTER_LINEAR)
    thickness = max(1, int(round(cap_px / 12)))
    if stroke < 0.2:
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    elif stroke < 0.4 and cap_px > 24:
        ink = cv2.erode(ink, np.ones((2, 2), np.uint8))
    img = scan(ink, style, thickness + 1, ruled=ruled)
    return RenderedText(img, spans)


def _with_label(ink: np.ndarray, label: str, cap_px: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Print a form label (``NAME :``) left of the writing, baselines close."""
    size = max(8, int(round(cap_px * rng.uniform(0.6, 1.1) * 1.4)))
    font = ImageFont.load_default(size)
    mask = font.getmask(label, mode="L")
    arr = np.asarray(mask, np.uint8).reshape(mask.size[1], mask.size[0]).astype(np.float32) / 255.0
    gap = int(rng.uniform(0.3, 2.0) * cap_px)
    h = max(ink.shape[0], arr.shape[0] + 4)
    w = arr.shape[1] + gap + ink.shape[1] + 4
    out = np.zeros((h, w), np.float32)
    y = int(np.clip((ink.shape[0] - arr.shape[0]) * rng.uniform(0.3, 0.8), 0, h - arr.shape[0]))
    out[y : y + arr.shape[0], 2 : 2 + arr.shape[1]] = arr * rng.uniform(0.7, 1.0)
    out[: ink.shape[0], w - ink.shape[1] :] = np.maximum(out[: ink.shape[0], w - ink.shape[1] :], ink)
    return out, w - ink.shape[1]
