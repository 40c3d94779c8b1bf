import cv2
import numpy as np
import pytest

from tests.fixtures import text_image, word_strokes, write_iam_offline, write_iam_ondb, write_washington
from training.datasets import DatasetError, IamOffline, IamOnDB, LabelsFolder, Washington, WithNeighbours, open_dataset
from training.datasets.folder import write_labels_folder
from training.datasets.washington import decode_transcription
from training.render import _binarize, render_strokes, split_words


def test_iam_offline_lines_and_words(tmp_path):
    root = write_iam_offline(tmp_path / "iam")
    lines = IamOffline(root, "lines")
    assert [it.id for it in lines.items] == ["a01-000u-00", "a02-000-00"]  # err row skipped
    assert lines.items[1].text == "stop Mr. Gaitskell,"  # the "," token joins its word
    img, text = lines.load(0)
    assert img.ndim == 2 and img.dtype == np.uint8 and text == "A MOVE to"
    words = IamOffline(root, "words")
    assert [it.text for it in words.items] == ["A", "MOVE", "stop"]
    assert words.items[0].path == root / "words" / "a01" / "a01-000u" / "a01-000u-00-00.png"
    assert len(IamOffline(root, "words", include_err=True)) == 4


def test_iam_offline_line_punctuation_is_joined_as_written():
    from training.datasets.base import join_tokens

    assert join_tokens("Griffiths , M P for Manchester Exchange .".split()) == "Griffiths, M P for Manchester Exchange."
    assert join_tokens('he said ( twice ) : " no ... " - then ?!'.split()) == 'he said (twice): " no... " - then?!'
    assert join_tokens([",", "a"]) == ", a"
    assert join_tokens("Labour 's policy , we 'll see ' s".split()) == "Labour's policy, we'll see ' s"


def test_iam_offline_split_list_selects_by_line_or_form(tmp_path):
    root = write_iam_offline(tmp_path / "iam")
    test_words = IamOffline(root, "words", split=root / "testset.txt")
    assert [it.id for it in test_words.items] == ["a02-000-00-00"]
    (root / "forms.txt").write_text("a01-000u\n")
    assert len(IamOffline(root, "lines", split=root / "forms.txt")) == 1
    assert len(open_dataset(f"iam-lines:{root}:{root / 'testset.txt'}")) == 1


def test_iam_offline_errors(tmp_path):
    with pytest.raises(DatasetError, match="lines.txt"):
        IamOffline(tmp_path, "lines")
    root = write_iam_offline(tmp_path / "iam")
    (root / "words" / "a01" / "a01-000u" / "a01-000u-00-00.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="unreadable"):
        IamOffline(root, "words").load(0)
    (root / "lines.txt").write_text("a01-000u-00 maybe 1 2 3 4 5 6 text\n")
    with pytest.raises(DatasetError, match="status"):
        IamOffline(root, "lines")


def test_washington_codes_are_mapped():
    assert decode_transcription("s_2-s_7-s_0-s_pt|L-e-t-t-e-r-s-s_cm|O-r-d-e-r-s") == "270. Letters, Orders"
    assert decode_transcription("u-n-l-e-s_s-s|s_1st|s_GW-s_mi|s_lb-s_5") == "unless 1st GW- #5"
    assert decode_transcription("s_bl-a-s_br|a-s_sl-b|s_et-c|d-o-n-s_qt-t|s_qo|s_sq") == "(a) a/b &c don't:;"


def test_washington_reader(tmp_path):
    root = write_washington(tmp_path / "washington")
    train = Washington(root, "cv1/train", "lines")
    assert [it.text for it in train.items] == ["270. Letters, Orders", "unless 1st GW- #5"]
    img, _text = train.load(0)
    assert img.shape[0] > 0
    words = Washington(root, "cv1/train", "words")
    assert len(words) == 7 and words.items[1].text == "Letters,"
    assert [it.text for it in open_dataset("washington-words:cv1/test", tmp_path).items] == ["and"]
    with pytest.raises(DatasetError):
        Washington(root, "cv9/train")


def test_labels_folder(tmp_path):
    root = write_labels_folder(
        tmp_path / "corr", [("a.png", text_image("hello"), "hello"), ("b.png", text_image("world"), "world")]
    )
    ds = open_dataset(str(root))
    assert isinstance(ds, LabelsFolder) and ds.texts() == ["hello", "world"]
    img, text = ds.load(1)
    assert text == "world" and img.ndim == 2
    (root / "labels.tsv").write_text("missing.png\tx\n")
    with pytest.raises(DatasetError, match="does not exist"):
        LabelsFolder(root)
    (root / "labels.tsv").write_text("no tab here\n")
    with pytest.raises(DatasetError, match="TAB"):
        LabelsFolder(root)


def test_iam_ondb_renders_lines_deterministically_for_evaluation(tmp_path):
    path = write_iam_ondb(tmp_path / "ondb.npz", {"train": ["one two three", "four five"], "test": ["six seven"]})
    test = IamOnDB(path, "test")
    assert len(test) == 1 and test.texts() == ["six seven"]
    a, ta = test.load(0)
    b, _ = test.load(0)
    assert np.array_equal(a, b) and ta == "six seven"
    c, _ = test.load(0, np.random.default_rng(5))
    assert not (a.shape == c.shape and np.array_equal(a, c))  # training draws vary
    assert a.dtype == np.uint8 and a.mean() > 128  # dark ink on light paper
    with pytest.raises(DatasetError):
        IamOnDB(path, "nope")


def test_iam_ondb_words_are_cut_at_pen_up_gaps(tmp_path):
    path = write_iam_ondb(tmp_path / "ondb.npz", {"train": ["alpha beta gamma"]})
    words = IamOnDB(path, "train", level="words")
    seen = set()
    for seed in range(30):
        _img, text = words.load(0, np.random.default_rng(seed))
        seen.add(text)
        assert text in {"alpha", "beta", "gamma", "alpha beta", "beta gamma", "alpha beta gamma"}
    assert {"alpha", "beta", "gamma"} <= seen


def test_iam_ondb_texts_are_given_as_written(tmp_path):
    path = write_iam_ondb(tmp_path / "ondb.npz", {"train": ["Mr . Smith , who"]})
    assert IamOnDB(path, "train").texts() == ["Mr. Smith, who"]
    words = IamOnDB(path, "train", level="words")
    seen = {words.load(0, np.random.default_rng(seed))[1] for seed in range(40)}
    assert not any(" ," in t or " ." in t for t in seen)
    assert any("," in t for t in seen) and "who" in seen


def test_split_words_needs_clear_gaps():
    spans = [(0, 10), (12, 20), (60, 80), (120, 130)]
    assert split_words(spans, 3) == [(0, 20), (60, 80), (120, 130)]
    assert split_words(spans, 4, min_gap=5) is None  # the 2-px gap is no word gap
    assert split_words(spans, 1) == [(0, 130)]


def test_render_varies_style_and_keeps_word_groups():
    strokes = word_strokes(3, np.random.default_rng(0))
    r1 = render_strokes(strokes, np.random.default_rng(1))
    r2 = render_strokes(strokes, np.random.default_rng(2))
    assert r1.image.shape != r2.image.shape or not np.array_equal(r1.image, r2.image)
    assert len(r1.word_spans) >= 3
    assert split_words(r1.word_spans, 3) is not None


def test_binarized_scans_keep_faint_strokes_and_white_paper():
    # A faint, blurred stroke on gray noisy paper: 30 levels of contrast.
    rng = np.random.default_rng(0)
    ink = np.zeros((60, 200), np.float32)
    ink[28:33, 20:180] = 1.0
    ink = cv2.GaussianBlur(ink, (0, 0), 1.2)
    ink /= ink.max()
    paper = 200.0 + rng.normal(0, 3.0, ink.shape)
    img = np.clip(paper - 30.0 * ink, 0, 255).astype(np.uint8)
    for frac in (0.3, 0.5, 0.7):
        out = _binarize(img, frac, noise=3.0)
        assert set(np.unique(out)) <= {0, 255}
        stroke, rest = out[29:32, 25:175], np.delete(out, np.s_[24:37], axis=0)
        assert (stroke == 0).mean() > 0.9, frac  # a threshold of 0.45 x paper wiped this out
        assert (rest == 0).mean() < 0.002, frac  # paper noise does not turn to ink


def test_every_rendering_shows_its_ink():
    strokes = word_strokes(3, np.random.default_rng(0))
    bilevel = 0
    for seed in range(150):
        img = render_strokes(strokes, np.random.default_rng(seed)).image
        dark = float(np.median(img)) - img.astype(np.float32)
        assert (dark > 40).mean() > 0.01, seed  # never a blank page
        bilevel += len(np.unique(img)) <= 2
    assert bilevel >= 3  # the bilevel finish was among them


def test_any_set_with_neighbouring_line_ink(tmp_path):
    words = ["cat", "dog", "bird"]
    folder = write_labels_folder(tmp_path / "f", [(f"{w}.png", text_image(w), w) for w in words])
    ds = open_dataset(f"{folder}+neighbours")
    assert isinstance(ds, WithNeighbours) and ds.texts() == words
    plain = open_dataset(str(folder))
    for i in range(3):
        a, text = ds.load(i)
        b, _ = ds.load(i)
        assert text == words[i] and np.array_equal(a, b)  # evaluation sets are fixed
        clean = plain.load(i)[0]
        assert a.shape[1] == clean.shape[1] and a.shape[0] >= clean.shape[0]
        assert (a < 128).sum() > (clean < 128).sum()  # the neighbours' ink is there
    c, _ = ds.load(0, np.random.default_rng(1))
    assert not (c.shape == a.shape and np.array_equal(c, ds.load(0)[0]))
    with pytest.raises(DatasetError):
        open_dataset("nope:x+neighbours")


def test_pen_variety_widens_training_renders_and_leaves_evaluation_alone(tmp_path):
    path = write_iam_ondb(tmp_path / "o.npz", {"train": ["one two three"]})
    ds = IamOnDB(path, "train")
    strokes = ds.strokes(0)
    plain = render_strokes(strokes, np.random.default_rng(5)).image
    assert np.array_equal(render_strokes(strokes, np.random.default_rng(5), variety=0.0).image, plain)
    varied = [render_strokes(strokes, np.random.default_rng(s), variety=1.0).image for s in range(6)]
    assert np.array_equal(varied[0], render_strokes(strokes, np.random.default_rng(0), variety=1.0).image)  # seeded
    assert all(np.percentile(v, 0.5) < np.median(v) - 60 for v in varied)  # ink shows with every pen
    assert not any(v.shape == plain.shape and np.array_equal(v, plain) for v in varied)
    evaluation = ds.load(0)[0]
    ds.variety = 1.0
    assert np.array_equal(ds.load(0)[0], evaluation)  # evaluation renders never vary
    assert not np.array_equal(ds.load(0, np.random.default_rng(1))[0], evaluation)
