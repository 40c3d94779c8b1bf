"""Synthetic handwriting from fonts: the catalogue, the installed faces, text, rendering, datasets."""

import numpy as np
import pytest

from recognition.charset import IAM_CHARS, Charset
from tests.fixtures import write_data_root
from training.datasets import open_dataset
from training.fonts.catalogue import CATALOGUE, SPLITS
from training.fonts.faces import find_faces, glyph_mask, is_caps_only, missing_chars
from training.fonts.render import render_text
from training.fonts.text import TextSource, sample_line, sample_word


@pytest.fixture(scope="module")
def faces():
    found, skipped = find_faces()
    return found, skipped


def test_at_least_forty_ofl_fonts_are_installed_and_usable(faces):
    found, skipped = faces
    assert skipped == {}, skipped
    assert len(found) >= 40
    assert {f.entry.split for f in found} == set(SPLITS)
    for face in found:
        assert face.license_file is not None
        assert "SIL Open Font License" in face.license_file.read_text(errors="replace")


def test_every_charset_character_renders_in_every_font(faces):
    found, _ = faces
    for face in found:
        for path in face.files:
            assert missing_chars(path) == "", (face.name, path.name)
            for ch in IAM_CHARS.replace(" ", ""):
                assert glyph_mask(str(path), ch).size > 0, (face.name, ch)


def test_missing_glyphs_are_reported(faces):
    path = faces[0][0].files[0]
    assert missing_chars(path, "a\u4e00b") == "\u4e00"  # a CJK ideograph: the .notdef box


def test_font_families_are_disjoint_across_splits():
    by_split = {s: {e.family for e in CATALOGUE if e.split == s} for s in SPLITS}
    assert all(by_split.values())
    assert not (by_split["train"] & by_split["val"])
    assert not (by_split["train"] & by_split["test"])
    assert not (by_split["val"] & by_split["test"])
    assert len({e.package for e in CATALOGUE}) == len(CATALOGUE)


def test_fonts_without_lowercase_are_detected_by_glyph_shape(faces):
    found, _ = faces
    by_name = {f.name: f for f in found}
    assert is_caps_only(by_name["amatic-sc"].files[0])
    for name in ("caveat", "patrick-hand", "dancing-script", "kalam"):
        assert not is_caps_only(by_name[name].files[0]), name
    assert by_name["amatic-sc"].caps_only and not by_name["caveat"].caps_only


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from training.datasets.iam_ondb import IamOnDB

    root = write_data_root(tmp_path_factory.mktemp("data"))
    return TextSource.build(IamOnDB(root / "iam-ondb" / "iam-ondb.npz", "train").texts(), ["BILEL"])


def test_text_has_the_mix_of_forms_and_letters(source):
    rng = np.random.default_rng(0)
    lines = [sample_line(source, rng) for _ in range(600)]
    words = [w for t in lines for w in t.split()]
    charset = Charset()
    assert all(charset.normalize(t) == t and t for t in lines)
    assert all(len(t) <= 60 for t in lines)
    assert sum(w[:1].isupper() and w[1:].islower() for w in words) > 0.05 * len(words)  # Capitalised
    assert sum(w.isupper() and len(w) > 2 for w in words) > 0.05 * len(words)  # ALL-CAPS
    assert sum(any(c.isdigit() for c in w) for w in words) > 0.03 * len(words)  # digits, dates, amounts
    assert sum(any(c in ",.;:!?\"'()-/#" for c in w) for w in words) > 0.05 * len(words)
    assert any(":" in t for t in lines)  # form fields
    assert "Bilel" in source.proper
    assert " " not in sample_word(source, rng)


def test_rendered_text_has_ink_and_word_spans(faces):
    face = faces[0][0]
    rng = np.random.default_rng(3)
    out = render_text("Mr. Smith paid 12.50", face, rng, cap_px=30)
    img = out.image
    assert img.dtype == np.uint8 and img.ndim == 2
    assert (img < 128).mean() > 0.01
    assert len(out.word_spans) == 4
    assert all(a < b for a, b in out.word_spans) and all(out.word_spans[i][1] <= out.word_spans[i + 1][0] for i in range(3))
    labelled = render_text("SMITH", face, np.random.default_rng(3), cap_px=30, field_label="NOM :")
    assert labelled.image.shape[1] > render_text("SMITH", face, np.random.default_rng(3), cap_px=30).image.shape[1]


def test_fonts_datasets_use_their_split_and_load_deterministically(tmp_path, faces):
    root = write_data_root(tmp_path)
    test = open_dataset("fonts:test", root)
    assert {f.entry.split for f in test.faces} == {"test"}
    assert len(test) == 600
    a, text = test.load(7)
    b, _ = test.load(7)
    assert np.array_equal(a, b) and text == test.items[7].text
    words = open_dataset("fonts-words:val", root)
    img, word = words.load(3)
    assert " " not in word and img.shape[0] < 200
    # A face without lowercase is given capitals only.
    train = open_dataset("fonts:train", root)
    caps = [i for i in range(len(train)) if train.faces[i % len(train.faces)].caps_only]
    assert caps and all(train.items[i].text == train.items[i].text.upper() for i in caps)
