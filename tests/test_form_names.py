import numpy as np
import pytest

from tests.fixtures import write_form_names
from training.datasets import DatasetError, FormNames, open_dataset
from training.datasets.form_names import SPLITS, split_of


def test_form_names_split_by_file_number(tmp_path):
    root = write_form_names(tmp_path / "form-names")
    train = FormNames(root, "train")
    assert [it.text for it in train.items] == ["BILEL", "JEAN-ROCH"]  # UNREADABLE left out
    assert [it.text for it in FormNames(root, "val").items] == ["LEA"]  # EMPTY left out
    assert [it.text for it in open_dataset("form-names:test", tmp_path).items] == ["O'NEIL"]
    img, text = train.load(1)
    assert img.dtype == np.uint8 and img.ndim == 2 and text == "JEAN-ROCH"
    assert train.level == "words" and not train.neighbour_ink


def test_form_names_split_blocks_cover_the_set_once():
    numbers = range(1, 1201)
    assert all(sum(a <= n <= b for a, b in SPLITS.values()) == 1 for n in numbers)
    assert split_of("images/VALIDATION_0840.jpg") == "train"
    assert split_of("images/VALIDATION_0841.jpg") == "val"
    assert split_of("images/VALIDATION_1021.jpg") == "test"
    assert split_of("images/other.jpg") is None


def test_form_names_errors(tmp_path):
    with pytest.raises(DatasetError, match="labels.tsv"):
        FormNames(tmp_path, "train")
    root = write_form_names(tmp_path / "fn")
    with pytest.raises(DatasetError, match="split"):
        FormNames(root, "dev")
    (root / "labels.tsv").write_text("no tab here\n")
    with pytest.raises(DatasetError, match="TAB"):
        FormNames(root, "train")
