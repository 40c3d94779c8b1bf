"""Registered form templates: a page matched to its template, aligned, its fields cut out.

A :class:`FormTemplate` is a blank copy of a printed form (gray image) and its fields'
boxes in the template's pixels. :func:`match_template` finds which template a page is a
copy of: ORB features of both (on images scaled to :data:`MATCH_SIDE` pixels along their
long side), matched by Hamming distance with Lowe's ratio test, and a homography fitted
by RANSAC; the template with most inliers wins if it has at least :data:`MIN_INLIERS`,
a plausible homography (a scan shifted, rotated a few degrees, scaled, slightly skewed) and
the page, aligned, has ink on :data:`MIN_AGREEMENT` of the template's print (another form
laid out alike, with the same labels in the same font, shares features but not its print).
A page matching none is read as free handwriting.

:func:`cut_fields` warps the page into the template's frame and, for every field, takes
the page's pixels in its box with the template's own print removed (the template's ink,
widened by :data:`PRINT_MARGIN` of the page width to absorb the residual misalignment,
is painted over with the paper around it): box lines, printed labels and dotted guides go, the
handwriting stays (and so do the dots of a guide the template does not have, unless they form a
row). The crop is the remaining ink's box; no ink is an empty field. A
``checkbox`` field gives the share of its box's inside that is inked (``fill``), ticked
above :data:`TICK_FILL`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import cv2
import numpy as np

from .layout import Box

MATCH_SIDE = 1400  # long side (pixels) of the images features are found in
MIN_INLIERS = 40
MIN_AGREEMENT = 0.8  # share of the template's print the aligned page must have ink on
RATIO = 0.8  # Lowe's ratio test
PRINT_MARGIN = 0.0016  # template ink widened by this share of its width before it is painted out
SHIFT = 8  # pixels: how far a box's print is looked for round where the homography puts it
TICK_FILL = 0.05  # share of a checkbox's inside that is inked when it is ticked
MIN_INK = 12  # pixels: a smaller blot left in a field is noise, not writing
PAPER_WINDOW = 15  # pixels: the print is painted over with the lightest paper this close
DOT_SIZE = 7  # pixels: a dot of a dotted writing guide is no bigger
DOTS = 6  # dots on one row make a dotted guide
INK_CONTRAST = 25  # gray levels under the paper that ink is at least


@dataclass
class FormField:
    name: str
    kind: str  # recognition.field_types.KINDS
    box: Box  # in template pixels
    spec: dict[str, Any] = field(default_factory=dict)  # what its kind needs (vocabulary, date order...)


@dataclass
class _Features:
    scale: float
    points: np.ndarray  # (n, 2) in full-size pixels
    descriptors: np.ndarray | None


def _features(gray: np.ndarray) -> _Features:
    scale = MATCH_SIDE / max(gray.shape[:2])
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    scale = min(scale, 1.0)
    orb = cv2.ORB_create(nfeatures=4000, scaleFactor=1.2, nlevels=8, fastThreshold=10)
    kps, desc = orb.detectAndCompute(small, None)
    pts = np.array([kp.pt for kp in kps], np.float32).reshape(-1, 2) / scale
    return _Features(scale, pts, desc)


@dataclass
class FormTemplate:
    name: str
    image: np.ndarray  # uint8 gray, the blank form
    fields: list[FormField]
    _features: _Features | None = field(default=None, repr=False)
    _print: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.image.ndim != 2:
            raise ValueError("a template image is gray (one channel)")
        h, w = self.image.shape
        for f in self.fields:
            b = f.box
            if not (0 <= b.x0 < b.x1 <= w and 0 <= b.y0 < b.y1 <= h):
                raise ValueError(f"field {f.name!r}: box {b.to_list()} is not inside the template ({w}x{h})")

    @property
    def features(self) -> _Features:
        if self._features is None:
            self._features = _features(self.image)
        return self._features

    @property
    def printed(self) -> np.ndarray:
        """The template's ink (bool), widened by :data:`PRINT_MARGIN`."""
        if self._print is None:
            _t, ink = cv2.threshold(self.image, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
            r = max(1, round(PRINT_MARGIN * self.image.shape[1]))
            ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
            self._print = ink > 0
        return self._print


@dataclass
class FormMatch:
    template: FormTemplate
    to_template: np.ndarray  # 3x3 homography: page pixels -> template pixels
    inliers: int


def _to_page(to_template: np.ndarray, box: Box) -> Box:
    """A box in the template's frame → the box it covers on the page."""
    corners = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]], np.float32)
    pts = cv2.perspectiveTransform(corners[None], np.linalg.inv(to_template))[0]
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    return Box(int(x0), int(y0), int(x1), int(y1))


def _plausible(h: np.ndarray, page_shape: tuple[int, ...], template_shape: tuple[int, ...]) -> bool:
    """A scan of the form: scale within a factor 2, little perspective, the page's centre landing
    on the template."""
    a = h[:2, :2] / h[2, 2]
    det = float(np.linalg.det(a))
    if not 0.25 < det < 4.0 or abs(h[2, 0]) + abs(h[2, 1]) > 1e-3 * h[2, 2]:
        return False
    cy, cx = page_shape[0] / 2, page_shape[1] / 2
    c = cv2.perspectiveTransform(np.array([[[cx, cy]]], np.float32), h)[0, 0]
    th, tw = template_shape[:2]
    return bool(-0.25 * tw < c[0] < 1.25 * tw and -0.25 * th < c[1] < 1.25 * th)


def match_template(page: np.ndarray, templates: list[FormTemplate]) -> FormMatch | None:
    """The template ``page`` (gray) is a copy of, with the homography into its frame; None
    when it matches none."""
    if not templates:
        return None
    feats = _features(page)
    if feats.descriptors is None or len(feats.points) < MIN_INLIERS:
        return None
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    found: list[FormMatch] = []
    for tpl in templates:
        tf = tpl.features
        if tf.descriptors is None or len(tf.points) < MIN_INLIERS:
            continue
        pairs = matcher.knnMatch(feats.descriptors, tf.descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
        if len(good) < MIN_INLIERS:
            continue
        src = feats.points[[m.queryIdx for m in good]]
        dst = tf.points[[m.trainIdx for m in good]]
        h, mask = cv2.findHomography(src, dst, cv2.RANSAC, 4.0 / tf.scale, maxIters=4000, confidence=0.999)
        if h is None:
            continue
        inliers = int(mask.sum())
        if inliers >= MIN_INLIERS and _plausible(h, page.shape, tpl.image.shape):
            found.append(FormMatch(tpl, h, inliers))
    for m in sorted(found, key=lambda m: -m.inliers):
        if print_agreement(page, m) >= MIN_AGREEMENT:
            return m
    return None


def print_agreement(page: np.ndarray, match: FormMatch) -> float:
    """The share of the template's print that the aligned page has ink on (within 2 pixels):
    about 1 for a copy of it, a third or less for another form laid out alike."""
    warped = aligned(page, match)
    _t, printed = cv2.threshold(match.template.image, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    ink = cv2.adaptiveThreshold(warped, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    ink = cv2.dilate(ink, np.ones((5, 5), np.uint8))
    on = printed > 0
    return float((ink[on] > 0).mean()) if on.any() else 0.0


@dataclass
class FieldCut:
    """One field of a matched page: its box on the page, the crop of its handwriting (None:
    nothing written, or a checkbox) with where that crop lies in the template's frame, and a
    checkbox's inked share."""

    field: FormField
    page_box: Box
    crop: np.ndarray | None = None
    crop_box: Box | None = None  # the crop in template pixels
    fill: float | None = None

    @property
    def ticked(self) -> bool:
        return self.fill is not None and self.fill >= TICK_FILL


def aligned(page: np.ndarray, match: FormMatch) -> np.ndarray:
    """The page warped into its template's frame (paper beyond the page's edges)."""
    h, w = match.template.image.shape
    return cast(np.ndarray, cv2.warpPerspective(page, match.to_template, (w, h), flags=cv2.INTER_LINEAR, borderValue=255))


def _paper(region: np.ndarray) -> int:
    return int(np.percentile(region, 90)) if region.size else 255


def _ink(region: np.ndarray) -> np.ndarray:
    """Dark pixels of a cleaned field (bool), specks under :data:`MIN_INK` pixels dropped."""
    paper = _paper(region)
    darkest = float(np.percentile(region, 0.5)) if region.size else paper
    noise = 1.4826 * float(np.median(np.abs(region - np.median(region)))) if region.size else 0.0  # paper's grain (MAD)
    dark = region < paper - max(INK_CONTRAST, 4.0 * noise, 0.4 * (paper - darkest))  # faint pencil as well as black ink
    n, labels, stats, centres = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_INK
    keep[_dotted(stats, centres)] = False
    return cast(np.ndarray, keep[labels])


def _dotted(stats: np.ndarray, centres: np.ndarray) -> list[int]:
    """Components that make a dotted guide: at least :data:`DOTS` small dots on one row."""
    small = [i for i in range(1, len(stats)) if max(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]) <= DOT_SIZE]
    rows: dict[int, list[int]] = {}
    for i in small:
        rows.setdefault(int(round(centres[i][1] / 3.0)), []).append(i)
    out = []
    for r, members in rows.items():
        row = members + rows.get(r - 1, []) + rows.get(r + 1, [])
        if len(row) >= DOTS:
            out.extend(members)
    return out


def cut_field(
    page_aligned: np.ndarray, template: FormTemplate, f: FormField
) -> tuple[np.ndarray | None, Box | None, float | None]:
    """A field's handwriting on an aligned page: (crop, its box in the template, fill)."""
    b = f.box
    dx, dy = _local_shift(page_aligned, template.image, b)
    region = page_aligned[b.y0 + dy : b.y1 + dy, b.x0 + dx : b.x1 + dx].copy()
    printed = template.printed[b.y0 : b.y1, b.x0 : b.x1]
    paper = cv2.dilate(region, np.ones((PAPER_WINDOW, PAPER_WINDOW), np.uint8))  # the paper round each pixel (ink taken out)
    region[printed] = paper[printed]
    if f.kind == "checkbox":
        dy, dx = max(1, b.height // 6), max(1, b.width // 6)
        inside = _ink(region[dy:-dy, dx:-dx])
        return None, None, float(inside.mean()) if inside.size else 0.0
    ys, xs = np.nonzero(_ink(region))
    if len(xs) == 0:
        return None, None, None
    pad = max(4, b.height // 10)
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x1, y1 = min(b.width, int(xs.max()) + 1 + pad), min(b.height, int(ys.max()) + 1 + pad)
    return region[y0:y1, x0:x1], Box(b.x0 + dx + x0, b.y0 + dy + y0, b.x0 + dx + x1, b.y0 + dy + y1), None


def _local_shift(page_aligned: np.ndarray, template: np.ndarray, b: Box) -> tuple[int, int]:
    """Where a field's box lies on the aligned page, to the pixel: the homography leaves a few
    pixels of error (paper stretch, a wavy scan), and the print is taken out with a thin margin,
    so each box's own print (its lines, label, guides) is matched within :data:`SHIFT` pixels."""
    h, w = template.shape
    m = SHIFT
    x0, y0, x1, y1 = max(0, b.x0 - m), max(0, b.y0 - m), min(w, b.x1 + m), min(h, b.y1 + m)
    patch = template[y0:y1, x0:x1]
    px0, py0, px1, py1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    area = page_aligned[py0:py1, px0:px1]
    if float(patch.std()) < 1.0 or area.shape[0] < patch.shape[0] or area.shape[1] < patch.shape[1]:
        return 0, 0
    score = cv2.matchTemplate(area, patch, cv2.TM_CCOEFF_NORMED)
    _lo, best, _at, (x, y) = cv2.minMaxLoc(score)
    dx, dy = px0 + x - x0, py0 + y - y0
    inside = b.x0 + dx >= 0 and b.x1 + dx <= w and b.y0 + dy >= 0 and b.y1 + dy <= h
    if best < 0.3 or not inside:
        return 0, 0
    return int(dx), int(dy)


@dataclass
class FormLayout:
    """A page matched to a template: the template's name, the homography into its frame and
    every field cut out (in the template's order). It serializes (``to_json``: the crops are
    left out) so a segmenting worker can hand it to a recognizing one."""

    template: str
    to_template: np.ndarray
    cuts: list[FieldCut]

    def to_page(self, box: Box) -> Box:
        return _to_page(self.to_template, box)

    @property
    def crops(self) -> list[np.ndarray]:
        """The crops to read, in field order (fields with nothing written have none)."""
        return [c.crop for c in self.cuts if c.crop is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "to_template": self.to_template.tolist(),
            "fields": [
                {
                    "name": c.field.name,
                    "type": c.field.kind,
                    "box": c.field.box.to_list(),
                    "spec": c.field.spec,
                    "page_box": c.page_box.to_list(),
                    "crop_box": c.crop_box.to_list() if c.crop_box else None,
                    "fill": c.fill,
                }
                for c in self.cuts
            ],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FormLayout:
        cuts = [
            FieldCut(
                FormField(f["name"], f["type"], Box(*f["box"]), f.get("spec") or {}),
                Box(*f["page_box"]),
                None,
                Box(*f["crop_box"]) if f.get("crop_box") else None,
                f.get("fill"),
            )
            for f in d["fields"]
        ]
        return cls(d["template"], np.array(d["to_template"], np.float64), cuts)


def cut_fields(page: np.ndarray, match: FormMatch) -> FormLayout:
    """Every field of the matched template on ``page`` (gray): its crop or checkbox fill."""
    warped = aligned(page, match)
    cuts = []
    for f in match.template.fields:
        crop, crop_box, fill = cut_field(warped, match.template, f)
        cuts.append(FieldCut(f, _to_page(match.to_template, f.box), crop, crop_box, fill))
    return FormLayout(match.template.name, match.to_template, cuts)


def load_fields(spec: list[dict[str, Any]]) -> list[FormField]:
    """Fields from a template's definition: ``[{name, type, box: [x0, y0, x1, y1], ...}]``
    (the other keys, such as ``vocabulary``, stay in ``spec``)."""
    out = []
    for i, d in enumerate(spec):
        if not isinstance(d, dict) or "name" not in d or "box" not in d:
            raise ValueError(f"field {i + 1}: needs a name and a box [x0, y0, x1, y1]")
        box = d["box"]
        if not (isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            raise ValueError(f"field {d['name']!r}: box must be [x0, y0, x1, y1] in template pixels")
        rest = {k: v for k, v in d.items() if k not in ("name", "type", "box")}
        out.append(FormField(str(d["name"]), str(d.get("type", "text")), Box(*(int(round(v)) for v in box)), rest))
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise ValueError("field names must differ")
    return out
