"""scripts/device_pack.py: the training data packed to travel to a lent GPU and unpacked there
reads as the original (points exactly, XML exactly, scans as JPEG at their own size)."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from tests.fixtures import write_iam_ondb, write_page_set
from training.datasets import open_dataset

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("device_pack", ROOT / "scripts" / "device_pack.py")
device_pack = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_pack)


def test_pack_and_unpack_give_back_the_data_the_readers_read(tmp_path):
    src = tmp_path / "shared"
    (src / "iam-ondb").mkdir(parents=True)
    write_iam_ondb(src / "iam-ondb" / "iam-ondb.npz", {"train": ["one two", "three"], "val": ["four"]})
    write_page_set(src / "real-pages" / "copiste", ["Le chat dort", "sur la table"], name="wikitexte_0001")
    write_page_set(src / "real-pages" / "peraire", ["un seul auteur"], name="train_0001")  # not packed
    (tmp_path / "fonts").mkdir()
    device_pack.pack(src, tmp_path / "fonts", tmp_path / "pack")
    assert not list((tmp_path / "pack").rglob("*peraire*")) and list((tmp_path / "pack" / "a").rglob("*.xml.gz"))

    data = tmp_path / "there" / "data"
    device_pack.unpack(tmp_path / "pack" / "a", tmp_path / "pack" / "b", data, tmp_path / "there" / "fonts")
    before, after = np.load(src / "iam-ondb" / "iam-ondb.npz"), np.load(data / "iam-ondb" / "iam-ondb.npz")
    assert sorted(before.files) == sorted(after.files)
    for k in before.files:
        assert np.array_equal(before[k], after[k]), k
    xml = "real-pages/copiste/xml/wikitexte_0001.xml"
    assert (data / xml).read_bytes() == (src / xml).read_bytes()
    page = cv2.imread(str(src / "real-pages/copiste/images/wikitexte_0001.png"), cv2.IMREAD_GRAYSCALE)
    packed = cv2.imread(str(data / "real-pages/copiste/images/wikitexte_0001.jpg"), cv2.IMREAD_GRAYSCALE)
    assert packed.shape == page.shape and np.abs(packed.astype(int) - page).mean() < 4
    rng = np.random.default_rng(0)
    for name in ("copiste:test", "iam-ondb:train"):
        a, b = open_dataset(name, src), open_dataset(name, data)
        assert [a.load(i, rng)[1] for i in range(len(a))] == [b.load(i, rng)[1] for i in range(len(b))]
