import cv2
import numpy as np
import pytest

from benchmarks.synth import compose_page, match_lines
from segmentation import line_crops, segment_page
from segmentation.binarize import METHODS, binarize
from segmentation.deskew import estimate_skew, rotate
from segmentation.lines import segment_words
from segmentation.rulings import remove_rulings
from tests.fixtures import text_image

SENTENCES = [
    "the quick brown fox jumps",
    "over the lazy dog again",
    "handwriting on forms",
    "pack my box with five",
    "dozen liquor jugs today",
    "sphinx of black quartz",
    "judge my vow please",
    "a final line of text",
]


def page(rng_seed=0, skew=0.0, boxed=False, n=8):
    rng = np.random.default_rng(rng_seed)
    lines = [text_image(s, scale=1.6, thickness=2) for s in SENTENCES[:n]]
    return compose_page(lines, SENTENCES[:n], rng, size=(1240, 1754), skew_deg=skew, boxed=boxed)


@pytest.mark.parametrize("method", METHODS)
def test_binarization_finds_ink_not_paper(method):
    img = text_image("ink on paper", scale=1.5)
    # Uneven illumination: a dark gradient across the page.
    shade = np.linspace(0, 90, img.shape[1], dtype=np.float32)[None, :]
    shaded = np.clip(img.astype(np.float32) - shade, 0, 255).astype(np.uint8)
    truth = img < 128
    for im in (img, shaded) if method != "otsu" else (img,):
        mask = binarize(im, method, window=31)
        recall = (mask & truth).sum() / truth.sum()
        false_pos = (mask & ~truth).sum() / (~truth).sum()
        assert recall > 0.6 and false_pos < 0.03, (method, recall, false_pos)


def test_skew_is_estimated_and_corrected():
    sp = page(skew=3.0)
    mask = binarize(sp.image)
    angle = estimate_skew(mask)
    assert abs(angle + 3.0) <= 0.5  # rotating by -3 degrees undoes it
    straight = estimate_skew(binarize(rotate(sp.image, angle)))
    assert abs(straight) <= 0.5


def test_skew_follows_the_writing_not_a_straight_letterhead():
    """A letterhead printed straight above a letter written askew: the page turns by the writing."""
    heads = [(SENTENCES[0] + " " + SENTENCES[1]).upper(), (SENTENCES[2] + " " + SENTENCES[3]).upper()]
    head = [text_image(t, scale=1.4, thickness=3) for t in heads]  # bold, the page's width: sharpest of all at 0 degrees
    letter = np.full((1754, 1240), 255, np.uint8)
    letter[:400] = compose_page(head, heads, np.random.default_rng(1), size=(1240, 1754)).image[:400]
    letter[450:1150] = page(skew=3.0).image[60:760]  # eight lines written askew below it, more ink in all
    angle = estimate_skew(binarize(letter))
    assert abs(angle + 3.0) <= 0.5, angle
    lines = segment_page(letter).lines
    assert len([ln for ln in lines if ln.box.y0 >= 450]) == 8  # the askew lines, each its own


def test_rulings_and_boxes_are_removed_but_text_kept():
    sp = page(boxed=True)
    mask = binarize(sp.image)
    clean, rulings = remove_rulings(mask)
    assert rulings.sum() > 0.2 * mask.sum() * 0.1
    # No long horizontal run survives.
    runs = cv2.morphologyEx(clean.astype(np.uint8), cv2.MORPH_OPEN, np.ones((1, 200), np.uint8))
    assert runs.sum() == 0
    assert clean.sum() > 0.5 * (mask.sum() - rulings.sum())


@pytest.mark.parametrize("skew,boxed", [(0.0, False), (2.0, False), (-1.5, True)])
def test_lines_are_found_in_reading_order(skew, boxed):
    sp = page(rng_seed=3, skew=skew, boxed=boxed)
    layout = segment_page(sp.image)
    pred = [ln.page_box for ln in layout.lines]
    m = match_lines(pred, sp.boxes)
    assert m["recall"] == 1.0 and m["precision"] == 1.0, m
    assert [j for i, j in sorted(m["matches"])] == list(range(len(sp.boxes)))


def test_words_are_split_at_word_gaps():
    img = text_image("one two three four", scale=1.6)
    mask = binarize(img)
    words = segment_words(mask, ch=20.0)
    assert len(words) == 4
    assert all(a.x1 <= b.x0 for a, b in zip(words, words[1:]))


def test_line_crops_hold_one_line_each():
    sp = page(n=4)
    layout = segment_page(sp.image)
    crops = line_crops(layout)
    assert len(crops) == 4
    for crop, line in zip(crops, layout.lines):
        assert crop.shape[0] == line.box.height + 8 and crop.dtype == np.uint8


def test_blank_page_has_no_lines():
    layout = segment_page(np.full((800, 600), 245, np.uint8))
    assert layout.lines == []


def test_faint_broken_writing_keeps_lines_whole():
    from segmentation.lines import segment_lines, text_height

    # Ten lines every 70 rows: a few solid words 30 px tall, and between them
    # faint writing that binarized into hundreds of specks.
    rng = np.random.default_rng(0)
    mask = np.zeros((720, 900), bool)
    for k in range(10):
        y = 20 + 70 * k
        for x in (20, 300, 600):
            mask[y : y + 30, x : x + 120] = True
        for _ in range(60):
            sy, sx = y + int(rng.integers(0, 28)), int(rng.integers(150, 590))
            mask[sy : sy + 3, sx : sx + 3] = True
    _n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    assert np.median(stats[1:, cv2.CC_STAT_HEIGHT]) <= 3  # the specks outnumber the words...
    assert text_height(stats) >= 15  # ...but not the writing's scale
    boxes, _masks, _ = segment_lines(mask)
    assert len(boxes) == 10
    assert all(b.height >= 28 for b in boxes)


def test_a_border_down_the_margin_joins_no_line():
    from segmentation.lines import segment_lines

    # Six lines of word blobs, and an irregular dark strip (the edge of another sheet) that runs
    # down past all of them at the right: each line's box ends at its own writing.
    mask = np.zeros((600, 1000), bool)
    for k in range(6):
        y = 40 + 90 * k
        for x in (40, 260, 480):
            mask[y : y + 30, x : x + 160] = True
    mask[10:590, 900:912] = True
    mask[300:320, 880:900] = True  # a knot on the strip, as scans have
    boxes, _masks, _ = segment_lines(mask)
    assert len(boxes) == 6
    assert all(b.x1 <= 645 for b in boxes), [b.x1 for b in boxes]
    assert all(b.height <= 40 for b in boxes)


def test_dots_join_their_line_and_upright_stems_survive_ruling_removal():
    # An upright "l" stem far taller than the letters beside it, an i-dot and
    # a period: none of them may be lost from the line crop.
    page = np.full((1200, 900), 235, np.uint8)
    words = text_image("running away", scale=1.5, thickness=3)
    page[150 : 150 + words.shape[0], 60 : 60 + words.shape[1]] = words
    ink_rows = np.nonzero((words < 128).any(axis=1))[0]
    top, base = 150 + ink_rows[0], 150 + ink_rows[-1]
    x = 60 + words.shape[1] + 20
    cv2.line(page, (x, top - 60), (x, base), 30, 4)  # the stem of a tall "l"
    cv2.circle(page, (x + 30, top - 10), 3, 30, -1)  # a dot
    cv2.circle(page, (x + 60, base - 2), 3, 30, -1)  # a period
    layout = segment_page(page, deskew=False)
    assert len(layout.lines) == 1
    box, mask = layout.lines[0].box, layout.line_masks[0]
    assert box.y0 <= top - 58 and box.x1 >= x + 62
    assert mask[top - 40 - box.y0, x - box.x0]  # the stem is ink of the line
    assert mask[top - 10 - box.y0, x + 30 - box.x0] and mask[base - 2 - box.y0, x + 60 - box.x0]


def test_a_short_line_alone_in_its_form_box_is_its_own_line():
    # Form boxes: the box edges separate lines, so a one-word line between two
    # long ones is found, not shared out between its neighbours.
    rng = np.random.default_rng(3)
    texts = ["the quick brown fox jumps over", "Go", "a lazy dog sleeping in the sun", "Mr"]
    lines = [text_image(t, scale=2.2, thickness=3) for t in texts]
    sp = compose_page(lines, texts, rng, size=(1700, 1400), boxed=True, noise=0.01)
    layout = segment_page(sp.image)
    m = match_lines([ln.page_box for ln in layout.lines], sp.boxes)
    assert len(layout.lines) == 4 and len(m["matches"]) == 4


@pytest.mark.parametrize("artefact", ["border", "shadow", "holes", "stain", "boxes", "all"])
def test_scan_artefacts_never_become_lines(artefact):
    from benchmarks.synth import ARTEFACTS

    kinds = ARTEFACTS if artefact == "all" else (artefact,)
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        lines = [text_image(s, scale=1.6, thickness=2) for s in SENTENCES]
        sp = compose_page(lines, SENTENCES, rng, size=(1240, 1754), skew_deg=1.0, artefacts=kinds)
        layout = segment_page(sp.image)
        m = match_lines([ln.page_box for ln in layout.lines], sp.boxes, iou=0.7)
        assert m["recall"] == 1.0 and m["precision"] == 1.0, (artefact, seed, m, [ln.page_box for ln in layout.lines])


def test_unknown_artefact_is_refused():
    with pytest.raises(ValueError, match="artefacts"):
        compose_page([text_image("x")], ["x"], np.random.default_rng(0), artefacts=("coffee",))


def test_boxes_round_lines_leave_no_edges_in_the_crops():
    rng = np.random.default_rng(4)
    lines = [text_image(s, scale=1.6, thickness=2) for s in SENTENCES[:5]]
    sp = compose_page(lines, SENTENCES[:5], rng, size=(1240, 1754), artefacts=("boxes",))
    layout = segment_page(sp.image)
    assert len(layout.lines) == 5

    def longest_run(a):
        best = 0
        for row in a:
            d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
            starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
            best = max(best, int((ends - starts).max()) if len(starts) else 0)
        return best

    for crop in line_crops(layout):
        ink = crop < 128
        h, w = ink.shape
        # A box edge would leave a straight run of ink along or across the crop.
        assert longest_run(ink) < 0.3 * w
        assert longest_run(ink.T) < h - 10


@pytest.mark.parametrize("name,n_words", [("line.png", 5), ("word.png", None)])
def test_a_single_line_or_word_image_keeps_all_its_ink(name, n_words):
    """A one-line or one-word image (a crop, as users pass them): its tall
    stems are no box edges, its ascenders and descenders stay in the crop,
    and a letter touching the image's edge is no edge mark."""
    from pathlib import Path

    img = cv2.imread(str(Path(__file__).resolve().parents[1] / "examples" / name), cv2.IMREAD_GRAYSCALE)
    layout = segment_page(img)
    assert len(layout.lines) == 1
    assert n_words is None or len(layout.lines[0].words) == n_words
    mask = binarize(layout.deskewed)
    (crop,) = line_crops(layout)
    assert (crop < 128).sum() >= 0.95 * (layout.deskewed < 128).sum()
    assert layout.line_masks[0].sum() >= 0.95 * mask.sum()


def test_ruled_paper_lines_follow_the_writing_not_the_rules():
    """Writing on evenly ruled paper sits on the rules and its descenders cross them: each
    line's box holds that line's writing alone, not a band from rule to rule."""
    page = np.full((900, 1100), 240, np.uint8)
    for k in range(12):
        cv2.line(page, (20, 100 + 60 * k), (1080, 100 + 60 * k), 150, 2)
    texts = ["ghastly jumpy query", "pigs jog happily by", "quaint gypsy jig yoga", "hyped gaudy jumping", "a dog jogs yearly"]
    bodies = []
    for i, text in enumerate(texts):
        baseline = 160 + 60 * i  # on a rule
        cv2.putText(page, text, (60, baseline - 2), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, 20, 3, cv2.LINE_AA)
        bodies.append(baseline - 12)
    layout = segment_page(page)
    assert len(layout.lines) == len(texts)
    for line, body in zip(layout.lines, bodies):
        box = line.page_box
        assert box.y0 < body < box.y1 and box.height < 55  # less than a rule's spacing (60)


def test_rule_remnants_are_not_lines():
    from segmentation.lines import ruling_remnant

    rule = np.zeros((12, 600), bool)
    rule[5:8, :] = True  # a stretch of printed rule that removal left
    rule[0:4, 100:104] = True  # ... with a speck of writing touching it
    assert ruling_remnant(rule, ch=30)
    writing = text_image("minimum wage") < 128
    assert not ruling_remnant(writing, ch=20)


def test_a_stroke_drawn_across_the_page_is_no_line():
    from segmentation.lines import drawn_stroke

    sp = page(n=4)
    img = sp.image.copy()
    ys = np.flatnonzero((binarize(img)).any(axis=1))
    y = int(ys.max()) + 80  # a flourish under the last line: a wavy pen stroke, no letters
    xs = np.arange(150, 1050)
    pts = np.stack([xs, y + (12 * np.sin(xs / 60.0)).astype(int)], axis=1).astype(np.int32)
    cv2.polylines(img, [pts], False, 40, 3)
    lines = segment_page(img).lines
    assert len(lines) == 4 and all(ln.box.y1 < y - 20 for ln in lines)
    assert not any(drawn_stroke(m, 20) for m in segment_page(sp.image).line_masks)  # writing stays
