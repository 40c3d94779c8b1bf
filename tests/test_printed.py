"""Machine-printed lines (a form's template text) are told from handwriting
and left out of pages that mix the two; pages of one kind read as before."""

from pathlib import Path

import cv2
import numpy as np

from benchmarks.synth import compose_page, typed_line
from segmentation import segment_page
from segmentation.binarize import binarize
from segmentation.printed import glyph_twin_share, is_printed
from tests.fixtures import word_strokes
from training.render import render_strokes

ROOT = Path(__file__).resolve().parents[1]
PROSE = [
    "Sentence Database",
    "The meeting of the committee was held on the third",
    "of the month, and the members agreed to present",
    "a resolution to the assembly before the recess.",
    "Name:",
    "Please write the text above in your own hand",
]


def _hershey(text: str, rng: np.random.Generator) -> np.ndarray:
    """OpenCV's Hershey type (a stroke font: print of another kind)."""
    scale = rng.uniform(1.1, 1.5)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_COMPLEX, scale, 2)
    img = np.full((h + base + 30, w + 30), 240, np.uint8)
    cv2.putText(img, text, (15, 15 + h), cv2.FONT_HERSHEY_COMPLEX, scale, 40, 2, cv2.LINE_AA)
    return img


def handwriting_lines() -> list[np.ndarray]:
    line = cv2.imread(str(ROOT / "examples" / "line.png"), cv2.IMREAD_GRAYSCALE)  # a rendered IAM-OnDB test line
    waves = [
        render_strokes(word_strokes(4, np.random.default_rng(s)), np.random.default_rng(s), height_px=70.0).image
        for s in range(3)
    ]
    return [line] + waves


def test_print_has_glyph_twins_and_handwriting_has_none():
    rng = np.random.default_rng(0)
    printed = [typed_line(t, int(rng.integers(30, 48)), rng) for t in PROSE[1:4] + PROSE[5:]]
    printed += [_hershey(t, rng) for t in PROSE[1:4]]
    for img in printed:
        share, n = glyph_twin_share(binarize(img))
        assert is_printed(binarize(img)), (share, n)
    for img in handwriting_lines():
        share, n = glyph_twin_share(binarize(img))
        assert not is_printed(binarize(img)) and share < 0.15, (share, n)
    assert not is_printed(binarize(typed_line("Name:", 40, rng)))  # too few glyphs to tell: read


def _covered(truth, box) -> float:
    ix = max(0, min(truth.x1, box.x1) - max(truth.x0, box.x0))
    iy = max(0, min(truth.y1, box.y1) - max(truth.y0, box.y0))
    return ix * iy / truth.area


def _form(rng, printed_rows, written_rows):
    imgs, texts = [], []
    for t in printed_rows:
        imgs.append(typed_line(t, 40, rng))
        texts.append(("printed", t))
    for img in written_rows:
        imgs.append(img)
        texts.append(("written", ""))
    return compose_page(imgs, texts, rng, size=(2000, 2400), noise=0.01)


def test_a_form_keeps_its_handwriting_and_leaves_the_printed_template_out():
    rng = np.random.default_rng(1)
    sp = _form(rng, PROSE[:4], handwriting_lines())
    kinds = [k for k, _ in sp.texts]
    layout = segment_page(sp.image)
    assert len(layout.lines) == kinds.count("written") and len(layout.printed) == kinds.count("printed")
    for truth, (kind, _) in zip(sp.boxes, sp.texts):
        if kind == "written":
            assert max(truth.iou(ln.page_box) for ln in layout.lines) >= 0.5
        else:  # (a printed box may take in a tip of the writing below; the writing's own box keeps it)
            assert max(_covered(truth, b) for b in layout.printed) >= 0.9
    assert layout.to_json()["printed_lines"] == [b.to_list() for b in layout.printed]
    every = segment_page(sp.image, skip_printed=False)
    assert len(every.lines) == len(sp.boxes) and every.printed == []


def test_pages_of_one_kind_are_read_whole():
    from worker.io.documents import iter_pages

    rng = np.random.default_rng(2)
    typed = compose_page([typed_line(t, 40, rng) for t in PROSE[:4]], PROSE[:4], rng, size=(2000, 1600), noise=0.01)
    layout = segment_page(typed.image)
    assert len(layout.lines) == 4 and layout.printed == []  # a typed page: nothing to tell apart
    for page in iter_pages(ROOT / "examples" / "letter.pdf"):  # handwriting only
        layout = segment_page(page.image)
        assert layout.printed == [] and len(layout.lines) == len(segment_page(page.image, skip_printed=False).lines)


def test_htr_printed_setting():
    import pytest

    from worker.settings import Settings

    def skip(env):
        return Settings.from_env(env).skip_printed

    assert skip({}) and skip({"HTR_PRINTED": "skip"}) and not skip({"HTR_PRINTED": "READ"})
    with pytest.raises(ValueError, match="HTR_PRINTED"):
        skip({"HTR_PRINTED": "maybe"})


def test_a_page_is_split_only_when_print_and_writing_are_both_sure():
    from segmentation.printed import form_template_lines
    from tests.fixtures import text_image

    rng = np.random.default_rng(4)
    typed = [binarize(typed_line(t, 40, rng)) for t in PROSE[1:4]]
    label = binarize(typed_line("Name:", 40, rng))  # too short to judge alone...
    hand = binarize(handwriting_lines()[0])
    word = binarize(cv2.imread(str(ROOT / "examples" / "word.png"), cv2.IMREAD_GRAYSCALE))
    script = binarize(text_image("the quick brown fox jumps", scale=1.6))  # Hershey script: twins for some glyphs
    assert 0.1 <= glyph_twin_share(script)[0] < 0.3 and glyph_twin_share(script)[1] >= 8
    # ... but its glyphs are the page's print: skipped with it; a written word is read.
    hand2 = binarize(handwriting_lines()[3])
    assert form_template_lines([*typed, label, hand, hand2, word]) == [True] * 4 + [False] * 3
    # A typed letter and its signature: the type is the document, read with the rest.
    letter = typed + [binarize(typed_line(t, 40, rng)) for t in (PROSE[0], PROSE[5])]
    assert form_template_lines([*letter, hand]) == [False] * 6
    assert form_template_lines([*letter, hand, hand2]) == [True] * 5 + [False, False]
    assert form_template_lines([*typed, label, word]) == [False] * 5  # no line surely handwriting
    assert form_template_lines([*typed, hand, script]) == [False] * 5  # a line in between: read all
    assert form_template_lines([hand, word]) == [False, False]
    assert form_template_lines([]) == []


def test_the_pipeline_reads_a_forms_handwriting_only_unless_told(caplog):
    import logging

    from worker.io.documents import PageImage
    from worker.pipeline import segment

    rng = np.random.default_rng(1)
    sp = _form(rng, PROSE[:4], handwriting_lines())
    page = PageImage(0, sp.image, 300)
    with caplog.at_level(logging.INFO, logger="worker.pipeline.pages"):
        work = segment(page, skip_printed=True)
    assert len(work.crops) == len(work.boxes) == 4  # the four handwritten lines
    assert "4 printed lines left out" in caplog.text
    assert len(segment(page, skip_printed=False).crops) == 8  # HTR_PRINTED=read
