import numpy as np

from recognition.charset import Charset
from recognition.preprocess import PreprocessConfig
from tests.fixtures import text_image
from training.augment import augment, neighbours
from training.datasets import open_dataset
from training.datasets.folder import write_labels_folder
from training.sequence import TrainSequence


def dark(img):
    return img < np.median(img) - 60


def test_augment_keeps_a_gray_crop_with_its_ink_and_is_reproducible():
    img = text_image("augment")
    outs = [augment(img, np.random.default_rng(s)) for s in range(20)]
    for out in outs:
        assert out.dtype == np.uint8 and out.ndim == 2
        assert 0.3 < dark(out).sum() / dark(img).sum() < 3.0  # warped, thinned or thickened, not lost
    assert any(o.shape != img.shape or not np.array_equal(o, img) for o in outs)
    assert np.array_equal(augment(img, np.random.default_rng(3)), outs[3])


def test_neighbours_add_ink_at_the_edges_and_keep_the_crop():
    img = text_image("middle line")
    above, below = text_image("gypsy jog"), text_image("Tall Bold")
    h, w = img.shape
    seen_top = seen_bottom = 0
    for s in range(10):
        out = neighbours(img, above, below, np.random.default_rng(s))
        assert out.dtype == np.uint8 and out.shape[1] == w and out.shape[0] >= h
        # The crop sits unchanged or darkened (never lighter) somewhere in the output.
        fits = [y for y in range(out.shape[0] - h + 1) if (out[y : y + h].astype(int) <= img.astype(int) + 1).all()]
        assert fits
        y = fits[0]
        band = np.zeros(out.shape[0], bool)
        band[y : y + h] = True
        extra = dark(out).sum() - dark(img).sum()
        assert extra > 0  # ink of the neighbours was added
        seen_top += dark(out[: max(1, y + h // 4)]).sum() > dark(img[: h // 4]).sum()
        seen_bottom += dark(out[y + h - h // 4 :]).sum() > dark(img[h - h // 4 :]).sum()
        # The middle of the crop, where its own writing is, is untouched.
        assert np.array_equal(out[y + h // 3 : y + h - h // 3], img[h // 3 : h - h // 3])
    assert seen_top >= 5 and seen_bottom >= 5
    assert np.array_equal(neighbours(img, None, None, np.random.default_rng(0)), img)
    assert neighbours(np.zeros((0, 0), np.uint8), above, below, np.random.default_rng(0)).size == 0


def test_training_sequence_gives_crops_neighbouring_ink_on_request(tmp_path):
    words = ["cat", "dog", "bird", "fish"]
    folder = write_labels_folder(tmp_path / "f", [(f"{w}.png", text_image(w), w) for w in words])
    pre = PreprocessConfig(height=32, fit_limit=0.75, core_refine=2)
    args = ([(open_dataset(str(folder)), 1.0)], Charset(), pre, 4)
    plain = TrainSequence(*args, batch_size=4, steps=1, augment_strength=0.0)
    ctx = TrainSequence(*args, batch_size=4, steps=1, augment_strength=0.0, neighbours=1.0)
    (x0, _y0), (x1, _y1) = plain[0], ctx[0]
    assert x1.shape[1] == 32 and x1.dtype == np.float32
    assert not np.array_equal(x0, x1)
    assert np.array_equal(plain[0][0], x0) and np.array_equal(ctx[0][0], x1)  # reproducible
