"""Synthetic pages with ground truth, for tests and segmentation measurements.

Line images (dark ink on light paper) are stacked onto a page with margins,
uneven spacing, optional form boxes around lines, page skew and scan noise.
Ground-truth boxes are the ink boxes of the placed lines, mapped through the
skew, in page coordinates.

``artefacts`` adds what real scans carry besides the writing (none of it text):
``border`` (the dark strip of the scanner lid beyond the sheet's edge),
``shadow`` (an edge or gutter shadow), ``holes`` (punched holes), ``stain``
(a translucent blot or ring) and ``boxes`` (a box drawn tight round every
line, as on forms that box each answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from segmentation import Box


@dataclass
class SynthPage:
    image: np.ndarray  # uint8 gray
    boxes: list[Box]  # ground-truth line boxes, reading order
    texts: list[str]


def _ink_box(img: np.ndarray, thr: int = 160) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(img < thr)
    if len(ys) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def compose_page(
    lines: list[np.ndarray],
    texts: list[str],
    rng: np.random.Generator,
    size: tuple[int, int] = (2480, 3508),
    skew_deg: float = 0.0,
    boxed: bool = False,
    noise: float = 0.02,
    artefacts: tuple[str, ...] = (),
) -> SynthPage:
    unknown = set(artefacts) - set(ARTEFACTS)
    if unknown:
        raise ValueError(f"unknown artefacts {sorted(unknown)}: choose from {ARTEFACTS}")
    W, H = size
    page = np.full((H, W), 255, np.float32) * rng.uniform(0.88, 1.0)
    margin_x = int(W * rng.uniform(0.06, 0.12))
    y = int(H * rng.uniform(0.05, 0.1))
    boxes, kept = [], []
    for img, text in zip(lines, texts):
        bb = _ink_box(img)
        if bb is None:
            continue
        crop = _paper_crop(img, bb, W - 2 * margin_x)
        ch, cw = crop.shape
        if y + ch > H - int(0.05 * H):
            break
        x = margin_x + int(rng.integers(0, max(1, int(0.04 * W))))
        region = page[y : y + ch, x : x + cw]
        # Multiply ink onto the paper (keeps the paper tone).
        page[y : y + ch, x : x + cw] = region * (crop / 255.0)
        if boxed:
            pad = int(rng.integers(8, 20))
            cv2.rectangle(page, (margin_x - pad - 10, y - pad), (W - margin_x + pad, y + ch + pad), 60.0, 2)
        if "boxes" in artefacts:
            pad = int(rng.integers(6, 18))
            cv2.rectangle(
                page, (x - pad, y - pad), (x + cw + pad, y + ch + pad), float(rng.uniform(30, 90)), int(rng.integers(2, 5))
            )
        boxes.append((x, y, x + cw, y + ch))
        kept.append(text)
        gap = int(ch * rng.uniform(0.35, 0.9)) + (int(rng.integers(20, 40)) if boxed or "boxes" in artefacts else 0)
        y += ch + gap
    _add_artefacts(page, artefacts, rng, margin_x)
    out, gt = _scanned(page, boxes, skew_deg, noise, rng)
    return SynthPage(out, gt, kept)


def _paper_crop(img: np.ndarray, bb: tuple[int, int, int, int], max_width: int) -> np.ndarray:
    """A line's ink box on white paper (float), scaled down to ``max_width`` where wider."""
    x0, y0, x1, y1 = bb
    crop = img[y0:y1, x0:x1].astype(np.float32)
    crop = np.clip(crop * (255.0 / max(1.0, float(np.percentile(crop, 90)))), 0, 255)  # white paper
    ch, cw = crop.shape
    if cw > max_width:
        s = max_width / cw
        crop = cv2.resize(crop, (int(cw * s), max(1, int(ch * s))), interpolation=cv2.INTER_AREA)
    return crop


def _scanned(
    page: np.ndarray, boxes: list, skew_deg: float, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[Box]]:
    """The page turned by ``skew_deg`` with scanner noise (uint8), and its line boxes turned with it."""
    H, W = page.shape
    out = page
    m = cv2.getRotationMatrix2D((W / 2.0, H / 2.0), skew_deg, 1.0)
    if skew_deg:
        out = cv2.warpAffine(out, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=float(page[0, 0]))
    out = out + rng.normal(0, noise * 255, out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    gt = []
    for x0, y0, x1, y1 in boxes:
        pts = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64) @ m.T
        gx0, gy0 = pts.min(axis=0)
        gx1, gy1 = pts.max(axis=0)
        gt.append(Box(int(gx0), int(gy0), int(np.ceil(gx1)), int(np.ceil(gy1))))
    return out, gt


ARTEFACTS = ("border", "shadow", "holes", "stain", "boxes")


def _add_artefacts(page: np.ndarray, artefacts, rng: np.random.Generator, margin_x: int) -> None:
    """Scan artefacts drawn onto the paper in place (before skew and noise)."""
    H, W = page.shape
    if "shadow" in artefacts:
        width = int(W * rng.uniform(0.04, 0.1))
        ramp = np.linspace(rng.uniform(0.35, 0.6), 1.0, width, dtype=np.float32) ** 1.5
        if rng.random() < 0.5:
            page[:, :width] *= ramp[None, :]
        else:
            page[:, W - width :] *= ramp[::-1][None, :]
    if "stain" in artefacts:
        cx, cy = int(rng.uniform(0.2, 0.8) * W), int(rng.uniform(0.2, 0.8) * H)
        r = int(rng.uniform(0.04, 0.09) * W)
        blot = np.zeros((H, W), np.float32)
        cv2.circle(blot, (cx, cy), r, 1.0, -1 if rng.random() < 0.5 else int(rng.integers(6, 20)))
        blot = cv2.GaussianBlur(blot, (0, 0), r * 0.15)
        page *= 1.0 - rng.uniform(0.1, 0.25) * blot
    if "holes" in artefacts:
        r = int(rng.uniform(0.011, 0.015) * W)  # ~6 mm holes at 300 dpi
        x = int(margin_x * rng.uniform(0.25, 0.45))
        for fy in (0.25, 0.5, 0.75)[: int(rng.integers(2, 4))]:
            cv2.circle(page, (x, int(fy * H)), r, float(rng.uniform(0, 40)), -1)
    if "border" in artefacts:
        for side in rng.choice(["left", "right", "top", "bottom"], size=int(rng.integers(1, 3)), replace=False):
            depth = int(rng.uniform(0.008, 0.03) * (W if side in ("left", "right") else H))
            n = H if side in ("left", "right") else W
            # A ragged edge: the sheet's edge is not cut straight nor lies flat.
            edge = depth + np.cumsum(rng.normal(0, 0.6, n)).astype(np.int64).clip(-depth // 2, depth)
            tone = float(rng.uniform(0, 50))
            for i in range(n):
                d = max(1, int(edge[i]))
                if side == "left":
                    page[i, :d] = tone
                elif side == "right":
                    page[i, W - d :] = tone
                elif side == "top":
                    page[:d, i] = tone
                else:
                    page[H - d :, i] = tone


def match_lines(pred: list[Box], gt: list[Box], iou: float = 0.5) -> dict:
    """Greedy one-to-one matching at IoU >= iou -> precision, recall, matches."""
    pairs = sorted(((p.iou(g), i, j) for i, p in enumerate(pred) for j, g in enumerate(gt)), reverse=True)
    used_p, used_g, matches = set(), set(), []
    for score, i, j in pairs:
        if score < iou:
            break
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        matches.append((i, j))
    return {
        "precision": len(matches) / max(1, len(pred)),
        "recall": len(matches) / max(1, len(gt)),
        "matches": matches,
    }


def typed_line(text: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A line of machine print (a form's template text) as scanned: Pillow's
    built-in font at ``size`` px (no system fonts needed), gray ink, blur and
    noise. uint8 gray, dark on light."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    img = Image.new("L", (40 + int(0.7 * size * len(text)), int(2 * size)), 245)
    ImageDraw.Draw(img).text((20, size // 3), text, font=font, fill=int(rng.integers(10, 70)))
    a = cv2.GaussianBlur(np.array(img), (0, 0), rng.uniform(0.4, 1.0))
    return np.clip(a + rng.normal(0, rng.uniform(2, 8), a.shape), 0, 255).astype(np.uint8)
