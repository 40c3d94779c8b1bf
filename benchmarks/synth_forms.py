"""Generated filled forms with ground truth: three printed templates, filled by hand, scanned.

:data:`DESIGNS` are three forms (a French civil-status card, an English census schedule, a
military register sheet), each a title, a printed paragraph and labelled boxes of every
field kind. :func:`blank` prints one as a gray page (Pillow, DejaVu Sans where Debian
installed it, else Pillow's own sans) and gives its fields as
``segmentation.forms.load_fields`` reads them (:func:`field_spec`). :func:`fill` writes
values into a blank:

- ``name`` fields: real scanned name fields in capitals (``form-names``' test split:
  writers no model here trained on), or without the data, names in capitals in the fonts;
- dates, numbers, amounts, choices and text: drawn in the handwriting fonts of the test
  split (``training.fonts``), a family the model never saw;
- checkboxes ticked (a pen's cross or check) or not; a field left empty now and then.

:func:`scan` photocopies a filled page: shifted, turned a few degrees, scaled, blurred,
uneven paper, noise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = (1240, 1754)  # A4 at 150 dpi
_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass(frozen=True)
class Spec:
    label: str
    name: str
    kind: str
    box: tuple[int, int, int, int]
    vocabulary: tuple[str, ...] = ()


def _row(y: int, items: list[tuple[str, str, str, int, int]], h: int = 70) -> list[Spec]:
    """Fields on one printed row: (label, name, kind, x, width) each, label above its box."""
    return [Spec(label, name, kind, (x, y, x + w, y + h)) for label, name, kind, x, w in items]


STATUS = ("célibataire", "marié", "veuf", "divorcé")
CORPS = ("infanterie", "artillerie", "cavalerie", "génie", "marine")
TENURE = ("owner", "tenant", "lodger")

DESIGNS: dict[str, tuple[str, str, list[Spec]]] = {
    "etat-civil": (
        "FICHE D'ÉTAT CIVIL",
        "Remplir en lettres capitales les noms. Les dates sont écrites jour, mois, année.",
        [
            *_row(330, [("Nom", "nom", "name", 90, 520), ("Prénoms", "prenoms", "name", 650, 500)]),
            *_row(500, [("Né le", "naissance", "date", 90, 330), ("Lieu de naissance", "lieu", "text", 460, 690)]),
            *_row(670, [("Profession", "profession", "text", 90, 520), ("Enfants", "enfants", "number", 650, 160)]),
            Spec("Situation", "situation", "choice", (90, 840, 610, 910), STATUS),
            Spec("Militaire", "militaire", "checkbox", (650, 845, 710, 905)),
        ],
    ),
    "census": (
        "HOUSEHOLD SCHEDULE",
        "Write surnames in capitals. Give dates as day, month, year; the rent in pounds.",
        [
            *_row(330, [("Surname", "surname", "name", 90, 560), ("Given names", "given", "name", 690, 460)]),
            *_row(500, [("Date of birth", "born", "date", 90, 360), ("Persons in household", "household", "number", 690, 200)]),
            *_row(670, [("Occupation", "occupation", "text", 90, 560), ("Weekly rent", "rent", "amount", 690, 260)]),
            Spec("Tenure", "tenure", "choice", (90, 840, 560, 910), TENURE),
            Spec("Married", "married", "checkbox", (690, 845, 750, 905)),
        ],
    ),
    "matricule": (
        "REGISTRE MATRICULE",
        "Recrutement de la classe. Signalement et services du soldat inscrit ci-dessous.",
        [
            *_row(330, [("Numéro matricule", "matricule", "number", 90, 300), ("Classe", "classe", "number", 440, 200)]),
            *_row(500, [("Nom", "nom", "name", 90, 520), ("Prénom", "prenom", "name", 650, 500)]),
            *_row(670, [("Incorporé le", "incorporation", "date", 90, 360), ("Solde", "solde", "amount", 490, 260)]),
            Spec("Corps", "corps", "choice", (90, 840, 610, 910), CORPS),
            Spec("Apte", "apte", "checkbox", (650, 845, 710, 905)),
        ],
    ),
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(_FONT), size) if _FONT.is_file() else ImageFont.load_default(size)


@functools.cache
def blank(design: str) -> np.ndarray:
    """The printed form, empty (uint8 gray)."""
    title, paragraph, specs = DESIGNS[design]
    img = Image.new("L", SIZE, 255)
    d = ImageDraw.Draw(img)
    d.text((90, 90), title, fill=0, font=_font(44))
    d.text((90, 170), paragraph, fill=40, font=_font(19))
    d.line((90, 230, SIZE[0] - 90, 230), fill=0, width=3)
    for s in specs:
        x0, y0, x1, y1 = s.box
        if s.kind == "checkbox":
            d.rectangle((x0, y0, x1, y1), outline=0, width=3)
            d.text((x1 + 16, y0 + 14), s.label, fill=0, font=_font(24))
            continue
        d.text((x0, y0 - 34), s.label + (" (" + " / ".join(s.vocabulary) + ")" if s.vocabulary else ""), fill=0, font=_font(22))
        d.rectangle((x0, y0, x1, y1), outline=0, width=2)
        for x in range(x0 + 6, x1 - 6, 12):  # a dotted writing guide
            d.point((x, y1 - 14), fill=90)
    d.text((90, SIZE[1] - 120), f"Modèle {design.upper()} - imprimé réglementaire", fill=0, font=_font(18))
    return np.array(img)


def field_spec(design: str) -> list[dict]:
    """The design's fields as a template's definition (``segmentation.forms.load_fields``)."""
    out = []
    for s in DESIGNS[design][2]:
        d: dict = {"name": s.name, "type": s.kind, "box": list(s.box)}
        if s.vocabulary:
            d["vocabulary"] = list(s.vocabulary)
        out.append(d)
    return out


@dataclass
class Filled:
    design: str
    image: np.ndarray  # uint8 gray, before scanning
    truth: dict[str, str]  # field name -> value as written ("yes"/"no" for checkboxes, "" empty)


SURNAMES = ["DUPONT", "MARTIN", "LEFÈVRE", "GIRARD", "MOREAU", "O'NEILL", "SMITH", "BAKER", "ROUSSEAU", "LE GALL"]


class Hands:
    """Where the handwriting comes from: real name fields (``form-names`` test, when a data root
    is given; else names in capitals written in the fonts) and test-split handwriting fonts."""

    def __init__(self, data_root: str | Path | None = None):
        from training.datasets.form_names import FormNames
        from training.fonts.faces import find_faces

        self.names = [(it.path, it.text) for it in FormNames(Path(data_root) / "form-names", "test").items] if data_root else []
        self.faces = find_faces("test")[0]
        if not self.faces:
            raise RuntimeError("no handwriting fonts of the test split: run scripts/install-fonts.sh")

    def write(self, text: str, rng: np.random.Generator) -> np.ndarray:
        from training.fonts.render import render_text

        face = self.faces[int(rng.integers(len(self.faces)))]
        return render_text(text, face, rng, cap_px=float(rng.uniform(16, 26)), ruled=False).image


WORDS = {
    "lieu": ["Lyon", "Paris", "Marseille", "Bordeaux", "Saint-Étienne", "Nantes", "Rouen", "Toulouse"],
    "profession": ["cultivateur", "boulanger", "instituteur", "menuisier", "couturière", "forgeron"],
    "occupation": ["labourer", "clerk", "weaver", "carpenter", "teacher", "miner", "grocer"],
}


def _value(spec: Spec, rng: np.random.Generator) -> str:
    if spec.kind == "date":
        day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1850, 1950))
        sep = str(rng.choice(["/", ".", "-"]))
        y = str(year) if rng.random() < 0.8 else f"{year % 100:02d}"
        return f"{day:02d}{sep}{month:02d}{sep}{y}" if rng.random() < 0.5 else f"{day}{sep}{month}{sep}{y}"
    if spec.kind == "number":
        return str(int(rng.integers(1, 10 ** int(rng.integers(1, 5)))))
    if spec.kind == "amount":
        return f"{int(rng.integers(1, 500))},{int(rng.integers(0, 100)):02d}"
    if spec.kind == "choice":
        return str(rng.choice(spec.vocabulary))
    if spec.kind == "checkbox":
        return "yes" if rng.random() < 0.5 else "no"
    return str(rng.choice(WORDS.get(spec.name, ["néant"])))


def _paste(
    page: np.ndarray, ink: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator, native: bool = False
) -> None:
    """Handwriting multiplied onto the page inside ``box``, scaled to fit its height and width
    (``native``: a scanned crop, kept at its own scale unless it does not fit)."""
    x0, y0, x1, y1 = box
    ink = np.clip(ink.astype(np.float32) / max(1.0, 0.85 * float(np.percentile(ink, 90))), 0, 1) * 255.0  # white paper
    darkest = float(np.percentile(ink, 0.5))
    if darkest > 90:  # a pen, not a whisper: the darkest strokes darkened (at most twice), the paper left alone
        gain = min(2.0, 165.0 / max(1.0, 255.0 - darkest))
        ink = np.where(ink > 230, 255.0, 255.0 - (255.0 - ink) * gain)
    ys, xs = np.nonzero(ink < 160)
    if len(ys):  # the writing itself, a few pixels round it
        ink = ink[max(0, ys.min() - 3) : ys.max() + 4, max(0, xs.min() - 3) : xs.max() + 4]
    h, w = ink.shape
    s = min(1.0 if native else rng.uniform(0.4, 0.7) * (y1 - y0) / h, 0.9 * (y1 - y0) / h, 0.92 * (x1 - x0) / w)
    ink = cv2.resize(ink, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    h, w = ink.shape
    x = x0 + int(rng.integers(4, max(5, (x1 - x0) - w - 4)))
    y = y0 + int(rng.integers(0, max(1, (y1 - y0) - h)))
    region = page[y : y + h, x : x + w]
    page[y : y + h, x : x + w] = region * np.clip(ink[: region.shape[0], : region.shape[1]] / 255.0, 0, 1)


def _tick(page: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w = int(rng.integers(2, 5))
    jit = lambda: int(rng.integers(-5, 6))  # noqa: E731
    if rng.random() < 0.5:  # a cross
        cv2.line(page, (x0 + 10 + jit(), y0 + 10 + jit()), (x1 - 10 + jit(), y1 - 10 + jit()), 30.0, w)
        cv2.line(page, (x1 - 10 + jit(), y0 + 10 + jit()), (x0 + 10 + jit(), y1 - 10 + jit()), 30.0, w)
    else:  # a check mark
        mid = ((x0 + x1) // 2 + jit(), y1 - 12 + jit())
        cv2.line(page, (x0 + 12 + jit(), (y0 + y1) // 2 + jit()), mid, 30.0, w)
        cv2.line(page, mid, (x1 - 6 + jit(), y0 + 6 + jit()), 30.0, w)


def fill(design: str, hands: Hands, rng: np.random.Generator, empty: float = 0.05) -> Filled:
    """A copy of the form filled in by one person (values drawn at random)."""
    page = blank(design).astype(np.float32)
    truth = {}
    for spec in DESIGNS[design][2]:
        if spec.kind == "checkbox":
            truth[spec.name] = _value(spec, rng)
            if truth[spec.name] == "yes":
                _tick(page, spec.box, rng)
            continue
        if rng.random() < empty:
            truth[spec.name] = ""
            continue
        native = spec.kind == "name" and bool(hands.names)
        if native:
            path, text = hands.names[int(rng.integers(len(hands.names)))]
            ink = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        elif spec.kind == "name":
            text = str(rng.choice(SURNAMES))
            ink = hands.write(text, rng)
        else:
            text = _value(spec, rng)
            ink = hands.write(text, rng)
        truth[spec.name] = text
        _paste(page, ink, spec.box, rng, native)
    return Filled(design, np.clip(page, 0, 255).astype(np.uint8), truth)


def scan(page: np.ndarray, rng: np.random.Generator, max_turn: float = 3.0, transform: bool = False):
    """``page`` as a scanner gives it back: shifted, turned up to ``max_turn`` degrees, scaled
    by up to 6%, blurred, on uneven paper with noise (with ``transform``: and the 2x3 affine
    map of form pixels to scan pixels)."""
    h, w = page.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-max_turn, max_turn)), float(rng.uniform(0.94, 1.06)))
    m[:, 2] += rng.uniform(-40, 40, 2)
    out = cv2.warpAffine(page.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderValue=float(rng.uniform(200, 250)))
    shade = cv2.resize(rng.uniform(0.85, 1.0, (4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    out = out * shade
    out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 1.0)))
    out = out + rng.normal(0, rng.uniform(2, 8), out.shape)
    scanned = np.clip(out, 0, 255).astype(np.uint8)
    return (scanned, m) if transform else scanned
