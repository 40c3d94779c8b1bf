"""Real-page ground truth: ALTO and PAGE XML readers, the data set specs and their splits,
transcription markup, the one line crop, text normalization, the grown output layer and the
page-level evaluation."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from recognition.charset import IAM_CHARS, WESTERN_CHARS, Charset
from recognition.pages import cut_line, cut_polygon
from recognition.text import fold_accents, normalize_text
from tests.fixtures import write_page_set
from training.datasets import DatasetError, RealPages, open_dataset
from training.datasets.layout_xml import read_alto, read_page_file, read_pagexml
from training.datasets.real_pages import clean_transcription, reference_text, split_of
from training.train import NEW_CHAR_PENALTY, grow_logits
from worker.pipeline.evaluate import evaluate_pages, match_lines, region_ious

TEXTS = ["first line here", "the second one", "and a third"]


@pytest.mark.parametrize("version", ["v2", "v3", "v4"])
def test_alto_reader_every_version(tmp_path, version):
    root = write_page_set(tmp_path, TEXTS, "alto", version)
    page = read_alto(root / "xml" / "page_0001.xml")
    assert page.image == root / "images" / "page_0001.png"
    assert [ln.text for ln in page.lines] == TEXTS
    assert all(len(ln.polygon) == 4 and len(ln.baseline) == 2 for ln in page.lines)
    assert page.lines[0].tags == ("Main",)
    assert page.width == 1200


@pytest.mark.parametrize("version", ["2013", "2019"])
def test_pagexml_reader_follows_reading_order(tmp_path, version):
    root = write_page_set(tmp_path, TEXTS, "pagexml", version)
    page = read_pagexml(root / "xml" / "page_0001.xml")
    assert [ln.text for ln in page.lines] == TEXTS  # regions are written in reverse
    assert page.lines[0].tags == ("paragraph",)
    assert read_page_file(root / "xml" / "page_0001.xml") == page


def test_readers_refuse_other_files(tmp_path):
    bad = tmp_path / "x.xml"
    bad.write_text("<html/>")
    with pytest.raises(DatasetError, match="neither ALTO nor PAGE"):
        read_page_file(bad)
    bad.write_text("<alto")
    with pytest.raises(DatasetError):
        read_alto(bad)


def test_page_folders_as_datasets(tmp_path):
    write_page_set(tmp_path / "a", TEXTS, "alto", "v4")
    write_page_set(tmp_path / "p", TEXTS, "pagexml", "2019")
    for spec in (f"alto:{tmp_path / 'a'}", f"pagexml:{tmp_path / 'p'}:all"):
        ds = open_dataset(spec)
        assert isinstance(ds, RealPages) and ds.texts() == TEXTS
        img, text = ds.load(1)
        assert text == "the second one" and img.dtype == np.uint8 and img.shape[0] < 90  # one line, not the page


def test_splits_keep_a_writer_together():
    # copiste: the text number is the writer, whatever the page suffix or the form prefix
    assert (
        split_of("copiste", "wikitexte_0028")
        == split_of("copiste", "wikitexte_0028_2")
        == split_of("copiste", "imp_wikitexte_0028_3")
    )
    assert split_of("peraire", "test_page_12") == "test"
    assert {split_of("peraire", f"train_{i}") for i in range(40)} == {"train", "val"}
    splits = [split_of("poilus", f"will_{i}") for i in range(400)]
    assert 0.05 < splits.count("test") / 400 < 0.15 and 0.05 < splits.count("val") / 400 < 0.15


def test_transcription_markup():
    assert clean_transcription("imp_wikitexte_0090") is None  # a page id, not what the ink says
    assert clean_transcription("Efrem Zimbalist II (aussi dit Efrem ><") is None  # unreadable
    assert clean_transcription("aussi éditeur >po< de") is None  # crossed out
    assert clean_transcription("établit f(A) {-displaystyle f(A)=") is None  # formula source
    assert clean_transcription("Lettre ᑕᗅᗞ") is None  # a character no Western hand writes
    assert clean_transcription("au 320^e Régiment d’Infanterie") == "au 320e Régiment d'Infanterie"
    assert clean_transcription("  M^r  Brejnef … ⋎ là ") == "Mr Brejnef ... là"
    assert reference_text("aussi >po< de ><") == "aussi po de"
    assert reference_text("imp_wikitexte_0090") == ""


def test_text_normalization_is_one_definition():
    assert normalize_text("l\u2019e\u0301te\u0301 \u2014 \u00ab oui \u00bb\u2026") == "l'été - « oui »..."
    assert fold_accents("Élève œuvre Ça") == "Eleve oeuvre Ca"
    western, iam = Charset(WESTERN_CHARS), Charset(IAM_CHARS)
    assert western.decode(western.encode("Noël à l’hôtel [1]")) == "Noël à l'hôtel [1]"
    assert iam.normalize("Noël à l’hôtel [1]") == "Noel a l'hotel (1)"


def test_one_line_crop_paints_other_lines_out():
    page = np.full((100, 200), 230, np.uint8)
    page[20:30, 20:180] = 10  # the line
    page[40:50, 20:180] = 10  # its neighbour, inside the polygon's box
    crop = cut_polygon(page, [(15, 15), (185, 15), (185, 35), (100, 35), (100, 55), (15, 55)], margin=4)
    assert crop.shape == (41 + 8, 171 + 8)
    assert crop[4 + 10, 4 + 20] == 10  # own ink kept
    assert crop[4 + 30, 4 + 150] == 230  # the neighbour's ink outside the polygon is paper now
    assert crop[4 + 30, 4 + 50] == 10  # ... and kept inside it
    same = cut_line(page, (15, 15, 186, 56), np.ones((41, 171), bool), margin=4)
    assert (same[4:-4, 4:-4] == page[15:56, 15:186]).all()


def test_grown_output_layer_reads_as_before():
    old, new = Charset(IAM_CHARS), Charset(WESTERN_CHARS)
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(8, old.num_classes)), rng.normal(size=old.num_classes)
    k, b = grow_logits([kernel, bias], old, new)
    assert k.shape == (8, new.num_classes)
    e, e_acute = new.encode("e")[0], new.encode("é")[0]
    assert np.allclose(k[:, e], kernel[:, old.encode("e")[0]]) and np.allclose(k[:, e_acute], k[:, e])
    assert b[e_acute] == pytest.approx(b[e] - NEW_CHAR_PENALTY)
    assert np.allclose(k[:, 0], kernel[:, 0]) and b[0] == bias[0]
    x = rng.normal(size=(50, 8))
    assert (np.argmax(x @ k + b, axis=1) == np.argmax(x @ kernel + bias, axis=1)).all()


def test_region_iou_ignores_paper_and_punishes_straddling():
    polys = [[(10, 10), (190, 10), (190, 30), (10, 30)], [(10, 50), (190, 50), (190, 70), (10, 70)]]
    ious = region_ious([(0, 0, 200, 40), (0, 20, 200, 60)], polys, 200, 100, scale=1.0)
    assert ious[0, 0] > 0.95  # a roomy box around one line
    assert ious[1].max() <= 0.5  # half of each line
    assert match_lines(ious) == 1
    # A line written askew, found on the deskewed page: its turned box matches, its upright bounding box would not.
    askew = [[(0, 20), (400, 48), (400, 68), (0, 40)], [(0, 45), (400, 73), (400, 93), (0, 65)]]
    turned = [np.array([(0, 18), (400, 46), (400, 70), (0, 42)])]
    assert region_ious(turned, askew, 400, 120, scale=1.0)[0, 0] > 0.85
    assert region_ious([(0, 18, 400, 70)], askew, 400, 120, scale=1.0)[0, 0] < 0.7


def test_evaluate_pages_counts_detection_and_errors(tmp_path):
    write_page_set(tmp_path, TEXTS, "alto", "v4")

    def perfect(crops):
        assert len(crops) == len(TEXTS)
        return [type("R", (), {"text": t}) for t in TEXTS]

    res = evaluate_pages(perfect, f"alto:{tmp_path}")
    assert res["pages"] == 1 and res["lines_true"] == 3 and res["lines_found"] == 3
    assert res["detection_precision"] == res["detection_recall"] == 1.0
    assert res["page_cer"] == res["line_cer"] == 0.0
    blank = evaluate_pages(lambda crops: [type("R", (), {"text": ""})] * len(crops), f"alto:{tmp_path}")
    assert blank["page_cer"] == blank["line_cer"] == 1.0 and blank["page_wer"] == 1.0
    seen: list[tuple[str, dict]] = []
    found = evaluate_pages(None, f"alto:{tmp_path}", on_page=lambda name, counts, _t: seen.append((name, counts)))
    assert found["detection_precision"] == found["detection_recall"] == 1.0 and found["lines_found"] == 3
    assert found["page_cer"] is None and found["line_cer"] is None  # nothing was read
    assert [n for n, _ in seen] == ["page_0001"] and "page_chars" not in seen[0][1]


def test_evaluate_pages_cli_with_the_bundled_model(tmp_path):
    write_page_set(tmp_path / "set", TEXTS, "pagexml", "2019")
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((10, 10), 255, np.uint8))
    out = subprocess.run(
        [sys.executable, "-m", "worker.cli", "evaluate-pages", f"pagexml:{tmp_path / 'set'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout)[f"pagexml:{tmp_path / 'set'}"]
    assert res["detection_recall"] == 1.0 and res["lines_found"] == 3
    assert 0.0 <= res["line_cer"] < 0.5 and 0.0 <= res["page_cer"] < 0.5
    only = subprocess.run(
        [sys.executable, "-m", "worker.cli", "evaluate-pages", "--detection-only", "-v", f"pagexml:{tmp_path / 'set'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    det = json.loads(only.stdout)[f"pagexml:{tmp_path / 'set'}"]
    assert det["detection_recall"] == 1.0 and det["line_cer"] is None
    assert "3/3 lines found (3 boxes)" in only.stderr and "CER" not in only.stderr


def test_training_crops_are_sometimes_whole_boxes(tmp_path):
    write_page_set(tmp_path, TEXTS, "alto", "v4")
    page = read_alto(tmp_path / "xml" / "page_0001.xml")
    (x0, y0), _, (x1, y1), _ = page.lines[1].polygon
    xml = tmp_path / "xml" / "page_0001.xml"  # line 2's polygon leaves out the left half of its lower part
    xml.write_text(
        xml.read_text().replace(
            f'POINTS="{x0:g} {y0:g} {x1:g} {y0:g} {x1:g} {y1:g} {x0:g} {y1:g}"',
            f'POINTS="{x0:g} {y0:g} {x1:g} {y0:g} {x1:g} {y1:g} {(x0 + x1) / 2:g} {y1:g} {(x0 + x1) / 2:g} {(y0 + y1) / 2:g} {x0:g} {(y0 + y1) / 2:g}"',
        )
    )
    ds = open_dataset(f"alto:{tmp_path}")
    plain = ds.load(1)[0]
    rng = np.random.default_rng(0)
    shapes = {ds.load(1, rng)[0].tobytes() == plain.tobytes() for _ in range(40)}
    assert shapes == {True, False}  # polygon crops, and boxes cut as they are
    assert all(ds.load(1)[0].tobytes() == plain.tobytes() for _ in range(3))  # evaluation: always the polygon
