import numpy as np
import pytest

from recognition.charset import Charset
from recognition.preprocess import PreprocessConfig
from tests.fixtures import text_image, word_strokes
from training.datasets import DatasetError, Punctuation, open_dataset
from training.datasets.folder import write_labels_folder
from training.datasets.punctuation import MARKS, mark_strokes
from training.render import render_strokes
from training.sequence import TrainSequence


def test_every_mark_has_strokes_and_unknown_ones_are_refused():
    rng = np.random.default_rng(0)
    charset = Charset()
    for mark in MARKS:
        assert charset.encode(mark) is not None and len(charset.encode(mark)) == len(mark)
        strokes = mark_strokes(mark, rng)
        assert strokes and all(s.ndim == 2 and s.shape[1] == 2 and len(s) >= 1 for s in strokes)
    with pytest.raises(ValueError):
        mark_strokes("a", rng)


def test_punctuation_set_is_fixed_for_evaluation_and_shows_small_marks():
    ds = open_dataset("punctuation:val")
    assert isinstance(ds, Punctuation) and len(ds) == 300
    assert set(ds.texts()) <= set(MARKS) and {".", ",", '"', "-"} <= set(ds.texts())
    assert ds.texts() == Punctuation("val").texts()
    assert Punctuation("train").texts()[:50] != ds.texts()[:50]
    for i in range(20):
        a, text = ds.load(i)
        b, _ = ds.load(i)
        assert np.array_equal(a, b) and text == ds.items[i].text
        ink = a < np.median(a) - 40
        assert ink.any(), (i, text)
        # Drawn at the scale of writing 45-120 px tall: a mark stays small.
        ys, xs = np.nonzero(ink)
        assert np.ptp(ys) < 90 and np.ptp(xs) < 140, (i, text)
    c, _ = ds.load(0, np.random.default_rng(3))
    assert not (c.shape == a.shape and np.array_equal(c, ds.load(0)[0]))
    with pytest.raises(DatasetError):
        open_dataset("punctuation:nope")


def test_a_dot_and_a_dash_keep_their_sizes_apart():
    ds = Punctuation("test")
    dots = [ds.load(i)[0] for i in range(len(ds)) if ds.items[i].text == "."][:5]
    dashes = [ds.load(i)[0] for i in range(len(ds)) if ds.items[i].text == "-"][:5]

    def ink_box(img):
        ys, xs = np.nonzero(img < np.median(img) - 40)
        return np.ptp(xs) + 1, np.ptp(ys) + 1

    assert all(w < 2.5 * h for w, h in map(ink_box, dots))
    assert all(w > 1.5 * h for w, h in map(ink_box, dashes))


def test_ruled_false_only_leaves_out_the_ruled_line():
    strokes = word_strokes(2, np.random.default_rng(0))
    differing = 0
    for seed in range(40):
        a = render_strokes(strokes, np.random.default_rng(seed)).image
        b = render_strokes(strokes, np.random.default_rng(seed), ruled=False).image
        assert a.shape == b.shape
        rows = np.nonzero((a != b).any(axis=1))[0]
        if rows.size and len(np.unique(a)) > 2:  # (a bilevel scan's threshold depends on every level)
            differing += 1
            assert np.ptp(rows) <= 16, seed  # one ruled line (and its JPEG blocks), the rest identical
            assert b[rows].mean() > a[rows].mean()  # what is left out is darker than the paper
    assert differing >= 1


def test_training_adds_no_neighbouring_ink_to_lone_marks(tmp_path):
    pre = PreprocessConfig(height=32, fit_limit=0.75, core_refine=2)
    args = ([(Punctuation("val"), 1.0)], Charset(), pre, 4)
    plain = TrainSequence(*args, batch_size=4, steps=1, augment_strength=0.0)
    ctx = TrainSequence(*args, batch_size=4, steps=1, augment_strength=0.0, neighbours=1.0)
    assert np.array_equal(plain[0][0], ctx[0][0])
    words = ["cat", "dog", "bird", "fish"]
    folder = write_labels_folder(tmp_path / "f", [(f"{w}.png", text_image(w), w) for w in words])
    args = ([(open_dataset(str(folder)), 1.0)], Charset(), pre, 4)
    plain = TrainSequence(*args, batch_size=4, steps=1, augment_strength=0.0)
    ctx = TrainSequence(*args, batch_size=4, steps=1, augment_strength=0.0, neighbours=1.0)
    assert not np.array_equal(plain[0][0], ctx[0][0])  # a word set does get it
