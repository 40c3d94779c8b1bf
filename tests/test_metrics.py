from training.metrics import SLICES, align_words, rates, slice_rates


def test_words_align_to_their_nearest_reading():
    ref = "Informal talks with MACLEOD ,".split()
    assert align_words(ref, "formal talk wih MACLEO".split()) == ["formal", "talk", "wih", "MACLEO", ""]
    assert align_words(["a", "b"], ["x", "a", "b"]) == ["a", "b"]  # an inserted word pairs with nothing
    assert align_words([], ["x"]) == []


def test_slices_count_their_words_and_errors():
    refs = ['Informal talks with MACLEOD, said "yes".', "PRESIDENT"]
    hyps = ["formal talks with MACLEOD said yes.", "PRESIDENT"]
    out = slice_rates(refs, hyps, list(SLICES))
    assert out["caps"]["words"] == 3 and out["caps"]["exact_words"] == 1 / 3  # Informal, MACLEOD,, PRESIDENT
    assert out["caps"]["cer"] == (2 + 1 + 0) / (8 + 8 + 9)
    assert out["allcaps"]["words"] == 2 and out["allcaps"]["cer"] == 1 / 17
    assert out["punct"]["words"] == 2 and out["punct"]["cer"] == (1 + 2) / (8 + 6)


def test_rates_ignore_spacing_differences():
    assert rates(["a  b"], [" a b "])["cer"] == 0.0
