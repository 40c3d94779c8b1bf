import cv2
import numpy as np
import pytest

from recognition.preprocess import PreprocessConfig, core_band, ink_map, normalize, preprocess, to_gray
from tests.fixtures import text_image

CFG = PreprocessConfig(height=48)


def ink_rows(out):
    rows = np.nonzero(out.max(axis=1) > 0.5)[0]
    return rows.min(), rows.max()


def test_output_shape_range_and_dtype():
    out = preprocess(text_image("handwriting"), CFG)
    assert out.dtype == np.float32
    assert out.shape[0] == 48
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() > 0.9  # the strokes are full ink after contrast stretch
    assert np.median(out) < 0.05  # the paper is background


def test_polarity_is_normalized():
    img = text_image("polarity")
    a, b = preprocess(img, CFG), preprocess(255 - img, CFG)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.02


def test_crops_to_ink_regardless_of_margins():
    img = text_image("margins")
    padded = cv2.copyMakeBorder(img, 80, 40, 200, 30, cv2.BORDER_CONSTANT, value=235)
    a, b = preprocess(img, CFG), preprocess(padded, CFG)
    assert abs(a.shape[1] - b.shape[1]) <= 0.08 * a.shape[1]
    b = cv2.resize(b, (a.shape[1], a.shape[0]))
    assert np.abs(a - b).mean() < 0.06


def test_scale_invariance():
    img = text_image("scale", scale=1.0)
    big = cv2.resize(img, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    a, b = preprocess(img, CFG), preprocess(big, CFG)
    assert abs(a.shape[1] - b.shape[1]) <= 3


def test_faint_ink_and_dark_paper_look_alike():
    img = text_image("contrast").astype(np.float32)
    faint = (120 + (img - 30) * (100 / 205.0)).astype(np.uint8)  # grey ink on grey paper
    a, b = preprocess(img.astype(np.uint8), CFG), preprocess(faint, CFG)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.05


def test_colour_input():
    img = cv2.cvtColor(text_image("colour"), cv2.COLOR_GRAY2BGR)
    assert preprocess(img, CFG).shape[0] == 48


def test_small_isolated_word_keeps_x_height_scale():
    # A crop of x-height-only letters ("oa") is not blown up to full height:
    # it spans about a third of the output, centred, as inside a line.
    img = np.full((40, 80), 230, np.uint8)
    cv2.circle(img, (20, 20), 12, 20, 3)
    cv2.circle(img, (55, 20), 12, 20, 3)
    out = preprocess(img, CFG)
    top, bottom = ink_rows(out)
    small = bottom - top + 1
    assert small <= 0.45 * 48
    assert abs((top + bottom) / 2 - 24) <= 3
    # Ascenders and descenders reach well beyond that core band.
    top, bottom = ink_rows(preprocess(text_image("Why fly high"), CFG))
    assert bottom - top + 1 >= 1.6 * small


def test_core_band_ignores_skew():
    mask = np.zeros((60, 600), bool)
    for x in range(0, 600, 6):  # a skewed band of x-height 12
        y = 20 + x // 30
        mask[y : y + 12, x : x + 4] = True
    top, bottom = core_band(mask)
    assert 9 <= bottom - top <= 16


@pytest.mark.parametrize("img", [np.full((30, 30), 255, np.uint8), np.zeros((0, 0), np.uint8), np.full((5, 5), 0, np.uint8)])
def test_empty_or_blank_images_give_empty_canvas(img):
    out = preprocess(img, CFG)
    assert out.shape[0] == 48
    assert out.max() == 0.0


def test_normalized_maps_back_to_input_coordinates():
    img = cv2.copyMakeBorder(text_image("map"), 0, 0, 100, 0, cv2.BORDER_CONSTANT, value=235)
    n = normalize(img, CFG)
    cols = np.nonzero(n.image.max(axis=0) > 0.5)[0]
    x_first = n.to_input_x(cols[0])
    raw_cols = np.nonzero((img < 128).any(axis=0))[0]
    assert abs(x_first - raw_cols[0]) <= 4


def test_ink_of_neighbouring_lines_does_not_shrink_the_writing():
    # A real line box carries descenders of the line above: ink at the top
    # edge that makes the crop tall. Shrinking to fit all of it made the
    # writing small (and the x-height search, sized to the crop, found a
    # band too tall); with fit_limit and core_refine the writing keeps at
    # least that share of its size and the extra ink is clipped.
    line = text_image("Dear Sir, thank you for your letter", height=60)
    above = cv2.resize(text_image("jogging gypsy, a quiet gig by Peggy", height=60), (line.shape[1], 60))
    strokes = np.full((60, line.shape[1]), 235, np.uint8)
    for x in (30, 200, 400):
        cv2.line(strokes, (x, 0), (x + 4, 59), 20, 3)
    new = PreprocessConfig(height=48, fit_limit=0.75, core_refine=2)
    clean = preprocess(line, new).shape[1]
    for frag in (above[-40:], strokes[-40:], strokes):
        crop = np.vstack([frag, line])
        old, kept = preprocess(crop, CFG), preprocess(crop, new)
        assert old.shape[0] == kept.shape[0] == 48
        assert old.shape[1] < 0.65 * clean  # fit_limit 0: the whole line shrinks
        assert kept.shape[1] >= 0.75 * clean - 2
    # Without neighbours the new settings read a line at the same size.
    assert abs(clean - preprocess(line, CFG).shape[1]) <= 0.05 * clean


def test_fit_limit_defaults_to_the_old_behaviour_for_old_bundles():
    cfg = PreprocessConfig.from_json({"height": 48, "xheight_frac": 1 / 3})  # a model.json from before the options
    assert cfg.fit_limit == 0.0 and cfg.core_refine == 0


def test_core_refine_keeps_core_band_estimates_on_clean_crops():
    for text in ("handwriting", "Why fly high", "minimum"):
        m = preprocess(text_image(text), CFG) > 0.5
        a, b = core_band(m), core_band(m, refine=2)
        assert abs((a[1] - a[0]) - (b[1] - b[0])) <= 2, text


def test_core_band_stays_on_the_line_when_neighbouring_ink_is_denser():
    # The top of a heavy capitals line below cut into the crop: its rows hold
    # more ink than the line's own x-height band.
    line = text_image("Dear Sir, thank you", height=60)
    other = cv2.resize(text_image("MINIMUM MAXIMUM", height=60, thickness=4), (line.shape[1], 60))
    mask = ink_map(to_gray(np.vstack([line, other[:30]]))) > 0.3
    own = ink_map(to_gray(line)) > 0.3
    rows = np.nonzero(mask.any(axis=1))[0]
    mask, own = mask[rows[0] :], own[rows[0] :]
    expected = core_band(own)
    assert core_band(mask)[0] > 40  # without refine the denser neighbour wins
    top, bottom = core_band(mask, refine=2)
    assert abs(top - expected[0]) <= 2 and abs(bottom - expected[1]) <= 2


def test_refine_min_aspect_keeps_the_plain_band_search_for_word_crops():
    # A word's x-height band need not lie in its middle, so the centred,
    # band-sized search is for line crops (where neighbouring ink intrudes).
    line = text_image("Dear Sir, thank you", height=60)
    other = cv2.resize(text_image("MINIMUM MAXIMUM", height=60, thickness=4), (line.shape[1], 60))
    mask = ink_map(to_gray(np.vstack([line, other[:30]]))) > 0.3
    rows = np.nonzero(mask.any(axis=1))[0]
    mask = mask[rows[0] :]
    h, w = mask.shape
    assert w >= 4 * h
    assert core_band(mask, 2, min_aspect=4) == core_band(mask, refine=2) != core_band(mask)
    word = mask[:, : 3 * h]
    assert core_band(word, 2, min_aspect=4) == core_band(word)
    # Through the preprocessing config: a bundle without the field reads as before.
    assert PreprocessConfig.from_json({"core_refine": 2}).refine_min_aspect == 0.0
    wide = PreprocessConfig(height=48, core_refine=2, refine_min_aspect=2)  # this crop is ~3.4 times wider than tall
    narrow = PreprocessConfig(height=48, core_refine=2, refine_min_aspect=40)
    img = np.vstack([line, other[:30]])
    assert np.array_equal(preprocess(img, wide), preprocess(img, PreprocessConfig(height=48, core_refine=2)))
    assert np.array_equal(preprocess(img, narrow), preprocess(img, PreprocessConfig(height=48)))
    assert not np.array_equal(preprocess(img, wide), preprocess(img, narrow))
