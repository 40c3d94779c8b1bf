"""Render pen trajectories (IAM On-Line strokes) as scanned ink on paper.

Every call draws a new "scan" of the same handwriting: pen width and pressure,
ink darkness, slant, rotation, size, blur, paper texture, scan noise and
occasional binarization or JPEG artefacts vary, so a model trained on the
renderings meets real scans half way. Word boundaries come from pen-up gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Rendered:
    image: np.ndarray  # uint8 gray, ink dark on light paper
    word_spans: list[tuple[int, int]]  # x ranges of pen-up-separated groups, left to right


def _transform(points: np.ndarray, rng: np.random.Generator, height_px: float, px_per_unit: float | None = None) -> np.ndarray:
    pts = points.astype(np.float32)
    pts -= pts.min(axis=0)
    ink_h = max(float(pts[:, 1].max()), 1.0)
    s = px_per_unit if px_per_unit else height_px / ink_h
    sx = s * rng.uniform(0.8, 1.2)
    pts[:, 0] *= sx
    pts[:, 1] *= s
    # Slant (shear about the middle) and a small rotation.
    shear = np.tan(rng.normal(0.0, 0.18))
    ymid = pts[:, 1].mean()
    pts[:, 0] += shear * (ymid - pts[:, 1])
    angle = np.deg2rad(rng.normal(0.0, 1.2))
    c, si = np.cos(angle), np.sin(angle)
    cx, cy = pts.mean(axis=0)
    x, y = pts[:, 0] - cx, pts[:, 1] - cy
    pts = np.stack([c * x - si * y + cx, si * x + c * y + cy], axis=1)
    return pts


def _paper(h: int, w: int, rng: np.random.Generator, ruled: bool = True) -> np.ndarray:
    base = rng.uniform(0.78, 1.0)
    paper = np.full((h, w), base, np.float32)
    # Low-frequency shading and fibre texture.
    gh, gw = max(2, h // 40), max(2, w // 40)
    shade = cv2.resize(rng.normal(0, 1, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    paper += shade * rng.uniform(0.0, 0.04)
    if rng.random() < 0.5:
        paper += rng.normal(0, rng.uniform(0.005, 0.03), (h, w)).astype(np.float32)
    if rng.random() < 0.15:
        # A faint ruled line across the writing, as on lined paper.
        y = int(rng.uniform(0.6, 0.95) * h)
        darker = rng.uniform(0.1, 0.3)  # drawn either way: ``ruled`` leaves the random sequence alone
        if ruled:
            cv2.line(paper, (0, y), (w, y), float(base - darker), 1)
    return paper


def _draw_ink(
    groups: list[np.ndarray], shape: tuple[int, int], thickness: int, pressure_rng: np.random.Generator, pen_style
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The strokes (page pixels) drawn as ink in [0, 1] with a pressure each; each stroke's x-span."""
    ink = np.zeros(shape, np.float32)
    spans = []
    for g in groups:
        pressure = float(np.clip(pressure_rng.normal(0.9, 0.1), 0.5, 1.0))
        poly = np.round(g * 4).astype(np.int32).reshape(-1, 1, 2)
        if pen_style is not None and len(g) > 1 and np.ptp(g, axis=0).max() >= 1.0:
            pen_style.draw_stroke(ink, g, thickness, pressure)
        elif len(g) == 1 or np.ptp(g, axis=0).max() < 1.0:
            cv2.circle(ink, tuple(int(v) for v in np.round(g[0])), max(1, thickness // 2), pressure, -1, cv2.LINE_AA)
        else:
            cv2.polylines(ink, [poly], False, pressure, thickness, cv2.LINE_AA, shift=2)
        spans.append((float(g[:, 0].min()), float(g[:, 0].max())))
    return ink, spans


def render_strokes(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    height_px: float | None = None,
    px_per_unit: float | None = None,
    ruled: bool = True,
    variety: float = 0.0,
) -> Rendered:
    """Draw strokes (each (n, 2) x/y, y down) as a scanned grayscale image.

    The writing is scaled so the line's ink is ``height_px`` tall (random by
    default), or by a fixed ``px_per_unit`` so lines of one page keep their
    relative sizes (pen width then follows ``height_px``). ``ruled=False``
    leaves out the occasional ruled line (it would out-weigh a lone dot).
    ``variety``: the chance of a wider writer and pen style (:class:`PenStyle`:
    shape warps, heavy slant, ballpoint skips, pencil grain, nib width
    following the stroke direction); 0 draws exactly the renderings made
    without it (evaluation sets stay as they are)."""
    if not strokes:
        raise ValueError("no strokes to render")
    pen_style = (
        PenStyle.draw(np.random.default_rng(int(rng.integers(1 << 31)))) if variety > 0 and rng.random() < variety else None
    )
    if pen_style is not None:
        strokes = pen_style.warp(strokes)
    # Style first, so one seed gives one "writer and scanner" whatever the text.
    height_px = height_px or float(rng.uniform(45, 120))
    margin = int(rng.integers(4, 20))
    pen = rng.uniform(0.02, 0.065)
    morph_draw, morph_dilate = rng.random(), rng.random()
    blur = rng.uniform(0.0, 1.3)
    darkness = rng.uniform(0.45, 0.95)
    noise = rng.uniform(0.0, 0.04)
    finish = rng.random()
    threshold_frac = rng.uniform(0.3, 0.7)  # of the way from ink to paper (binarized scans)
    jpeg_q = int(rng.integers(30, 85))
    paper_seed = int(rng.integers(1 << 31))
    pressure_rng = np.random.default_rng(int(rng.integers(1 << 31)))
    sizes = [len(s) for s in strokes]
    pts = _transform(np.concatenate(strokes), rng, height_px, px_per_unit)
    pts -= pts.min(axis=0) - margin
    w = int(np.ceil(pts[:, 0].max())) + margin
    h = int(np.ceil(pts[:, 1].max())) + margin
    # Pen: width relative to the writing size, per-stroke pressure.
    thickness = max(1, int(round(height_px * pen)))
    ink, spans = _draw_ink(np.split(pts, np.cumsum(sizes)[:-1]), (h, w), thickness, pressure_rng, pen_style)
    if pen_style is not None:
        ink = pen_style.texture(ink)
        darkness *= pen_style.darkness
    style = ScanStyle(morph_draw, morph_dilate, blur, darkness, noise, finish, threshold_frac, jpeg_q, paper_seed)
    img = scan(ink, style, thickness, ruled)
    return Rendered(img, _merge_spans(spans))


@dataclass
class PenStyle:
    """A wider range of writers and pens than the base renderer draws.

    - shape: a smooth per-writer displacement of the pen path (letters
      wider, narrower, rounder or more angular than the whiteboard writer's),
      a horizontal squeeze or stretch and, now and then, a heavy slant;
    - pen: ``ballpoint`` (thin, with skips where the ball runs dry),
      ``pencil`` (grainy, lighter), ``nib`` (width follows the stroke's
      direction, as a broad fountain pen), ``felt`` (wide and even).
    """

    rng: np.random.Generator
    pen: str
    warp_amp: float  # of the ink height
    warp_freq: tuple[float, float]
    warp_phase: tuple[float, float]
    squeeze: float
    shear: float
    darkness: float
    skip: float  # ballpoint: share of segments left out
    nib_angle: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PenStyle:
        pen = str(rng.choice(["ballpoint", "pencil", "nib", "felt"], p=[0.35, 0.25, 0.25, 0.15]))
        return cls(
            rng,
            pen,
            float(rng.uniform(0.0, 0.04)),
            (float(rng.uniform(1.0, 4.0)), float(rng.uniform(1.0, 4.0))),
            (float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
            float(np.exp(rng.normal(0.0, 0.15))),
            float(np.tan(rng.normal(0.0, 0.35))) if rng.random() < 0.3 else 0.0,
            float(rng.uniform(0.65, 0.9)) if pen == "pencil" else 1.0,
            float(rng.uniform(0.0, 0.03)) if pen == "ballpoint" else 0.0,
            float(rng.uniform(0, np.pi)),
        )

    def warp(self, strokes: list[np.ndarray]) -> list[np.ndarray]:
        pts = np.concatenate(strokes).astype(np.float32)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        h = max(float(hi[1] - lo[1]), 1.0)
        out = []
        for s in strokes:
            p = s.astype(np.float32).copy()
            u, v = (p[:, 0] - lo[0]) / h, (p[:, 1] - lo[1]) / h
            dx = self.warp_amp * h * np.sin(2 * np.pi * self.warp_freq[0] * v + self.warp_phase[0])
            dy = self.warp_amp * h * np.sin(2 * np.pi * self.warp_freq[1] * u + self.warp_phase[1])
            p[:, 0] = lo[0] + (p[:, 0] - lo[0]) * self.squeeze + dx + self.shear * (hi[1] - p[:, 1])
            p[:, 1] = p[:, 1] + dy
            out.append(p)
        return out

    def draw_stroke(self, ink: np.ndarray, g: np.ndarray, thickness: int, pressure: float) -> None:
        """One stroke, segment by segment, in this pen's manner."""
        pts = np.round(g * 4).astype(np.int32)
        base = {"ballpoint": max(1, int(round(thickness * 0.7))), "felt": int(round(thickness * 1.5)) + 1}.get(
            self.pen, thickness
        )
        for a, b in zip(pts[:-1], pts[1:]):
            if self.skip and self.rng.random() < self.skip:
                continue
            t = base
            if self.pen == "nib":
                d = (b - a).astype(np.float32)
                ang = np.arctan2(d[1], d[0]) if d.any() else 0.0
                t = max(1, int(round(thickness * (0.4 + 1.2 * abs(np.sin(ang - self.nib_angle))))))
            cv2.line(ink, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), pressure, t, cv2.LINE_AA, shift=2)

    def texture(self, ink: np.ndarray) -> np.ndarray:
        if self.pen != "pencil":
            return ink
        grain = self.rng.uniform(0.55, 1.0, ink.shape).astype(np.float32)
        grain = cv2.GaussianBlur(grain, (0, 0), 0.7)
        return ink * grain


@dataclass(frozen=True)
class ScanStyle:
    """How one "scanner" turns ink coverage into a gray image."""

    morph_draw: float  # < 0.3: the pen is thickened or thinned by a pixel
    morph_dilate: float  # < 0.5: thickened, else thinned
    blur: float  # Gaussian sigma, px (below 0.3: none)
    darkness: float  # ink darkness, 0..1
    noise: float  # scan noise deviation, 0..1
    finish: float  # < 0.08: bilevel scan, < 0.2: JPEG
    threshold_frac: float  # bilevel threshold, of the way from ink to paper
    jpeg_q: int
    paper_seed: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> ScanStyle:
        return cls(
            float(rng.random()),
            float(rng.random()),
            float(rng.uniform(0.0, 1.3)),
            float(rng.uniform(0.45, 0.95)),
            float(rng.uniform(0.0, 0.04)),
            float(rng.random()),
            float(rng.uniform(0.3, 0.7)),
            int(rng.integers(30, 85)),
            int(rng.integers(1 << 31)),
        )


def scan(ink: np.ndarray, style: ScanStyle, thickness: int = 2, ruled: bool = True) -> np.ndarray:
    """Ink coverage (float, 0..1, any size) -> a scanned gray page: pen
    thickening or thinning, blur, paper texture, darkness, noise, and now and
    then a bilevel or JPEG finish. Shared by the stroke and the font renderers."""
    h, w = ink.shape
    if style.morph_draw < 0.3:
        k = np.ones((2, 2), np.uint8)
        ink = cv2.dilate(ink, k) if style.morph_dilate < 0.5 else cv2.erode(ink, k) if thickness > 2 else ink
    if style.blur > 0.3:
        ink = cv2.GaussianBlur(ink, (0, 0), style.blur)
    prng = np.random.default_rng(style.paper_seed)
    paper = _paper(h, w, prng, ruled)
    img = paper * (1.0 - style.darkness * np.clip(ink, 0, 1))
    img += prng.normal(0, style.noise, img.shape).astype(np.float32)
    img = np.clip(img * 255.0, 0, 255).astype(np.uint8)
    if style.finish < 0.08:
        img = _binarize(img, style.threshold_frac, style.noise * 255.0)
    elif style.finish < 0.2:
        _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_q])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return img


def _binarize(img: np.ndarray, frac: float, noise: float) -> np.ndarray:
    """A bilevel scan: the threshold lies ``frac`` of the way from the ink
    level to the paper level, and at least three noise deviations below the
    paper, so faint or blurred strokes keep their shape and paper stays white
    (a threshold relative to the paper alone wiped out faint lines)."""
    smooth = cv2.GaussianBlur(img, (0, 0), 1.0)  # levels measured without the noise
    paper = float(np.median(smooth))
    ink = float(np.percentile(smooth, 0.5))
    thr = min(ink + frac * (paper - ink), paper - 3.0 * noise - 8.0)
    return np.where(img <= max(thr, ink), 0, 255).astype(np.uint8)


def _merge_spans(spans: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Stroke x-extents -> disjoint groups ordered left to right."""
    merged: list[list[float]] = []
    for x0, x1 in sorted(spans):
        if merged and x0 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], x1)
        else:
            merged.append([x0, x1])
    return [(int(a), int(np.ceil(b))) for a, b in merged]


def split_words(
    spans: list[tuple[int, int]], n_words: int, min_ratio: float = 1.4, min_gap: float = 0.0
) -> list[tuple[int, int]] | None:
    """Split stroke groups into `n_words` pieces at the widest gaps.

    Returns x ranges, or None when the gaps do not clearly separate that many
    words (the n-1 chosen gaps must be wider than every other gap by
    `min_ratio`, and at least `min_gap` wide).
    """
    if n_words < 1 or len(spans) < n_words:
        return None
    if n_words == 1:
        return [(spans[0][0], spans[-1][1])]
    gaps = np.array([spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)], np.float32)
    order = np.argsort(-gaps)
    cut = sorted(order[: n_words - 1].tolist())
    chosen_min = gaps[order[n_words - 2]]
    rest_max = gaps[order[n_words - 1]] if len(gaps) >= n_words else 0.0
    if chosen_min <= max(0.0, min_gap) or chosen_min < min_ratio * max(rest_max, 1.0):
        return None
    pieces, start = [], 0
    for c in cut:
        pieces.append((spans[start][0], spans[c][1]))
        start = c + 1
    pieces.append((spans[start][0], spans[-1][1]))
    return pieces
