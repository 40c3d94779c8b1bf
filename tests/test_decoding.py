import numpy as np

from recognition.calibration import Calibrator
from recognition.charset import Charset
from recognition.decoding import beam_decode, greedy_decode
from recognition.lm import CharNgramLM, Lexicon
from recognition.predictor import Predictor
from recognition.preprocess import Normalized, PreprocessConfig

CS = Charset("ab ")  # a=1, b=2, space=3, blank=0


def frames(*rows):
    """Rows of (blank, a, b, space) probabilities."""
    m = np.array(rows, np.float64)
    return m / m.sum(axis=1, keepdims=True)


def test_greedy_merges_repeats_and_drops_blanks():
    p = frames([0, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0])
    d = greedy_decode(p, CS)
    assert d.text == "aab b"
    assert d.char_frames[0] == (0, 1)  # the repeated "a" spans frames 0-1
    assert len(d.char_probs) == 5


def test_greedy_char_probabilities():
    p = frames([0.1, 0.9, 0, 0], [0.3, 0.7, 0, 0])
    d = greedy_decode(p, CS)
    assert d.text == "a"
    assert abs(d.char_probs[0] - 0.9) < 1e-6


def test_beam_sums_paths_that_greedy_misses():
    # Greedy reads blank,blank (""), but "a" collects more mass over its paths:
    # P("") = 0.6*0.6 = .36, P("a") = .4*.4 + .4*.6 + .6*.4 = .64
    p = frames([0.6, 0.4, 0, 0], [0.6, 0.4, 0, 0])
    assert greedy_decode(p, CS).text == ""
    assert beam_decode(p, CS, beam_width=4).text == "a"


def test_beam_agrees_with_greedy_on_clear_input():
    p = frames([0.02, 0.95, 0.02, 0.01], [0.9, 0.05, 0.03, 0.02], [0.02, 0.02, 0.95, 0.01])
    assert beam_decode(p, CS).text == greedy_decode(p, CS).text == "ab"


def test_lexicon_constrains_words():
    # The optics prefer "ab" slightly; only "bb" is a word.
    p = frames([0, 0.55, 0.45, 0], [1, 0, 0, 0], [0, 0, 1, 0])
    assert beam_decode(p, CS).text == "ab"
    assert beam_decode(p, CS, lexicon=Lexicon(["bb"])).text == "bb"


def test_lexicon_falls_back_when_nothing_fits():
    p = frames([0, 1, 0, 0])
    assert beam_decode(p, CS, lexicon=Lexicon(["bbb"])).text == "a"


def test_char_lm_breaks_ties():
    p = frames([0, 0.5, 0.5, 0], [1, 0, 0, 0], [0, 0.5, 0.5, 0])
    lm = CharNgramLM.train(["ab ab ab ab", "ab"], order=3)
    assert beam_decode(p, CS, lm=lm, lm_weight=1.0).text == "ab"


def test_char_lm_is_a_distribution():
    lm = CharNgramLM.train(["the cat sat", "the hat"], order=4)
    for ctx in ["", "th", "the c", "zz"]:
        total = sum(np.exp(lm.log_prob(ctx, c)) for c in lm.vocab if c != "\x03") + np.exp(lm.log_prob(ctx, None))
        assert abs(total - 1.0) < 1e-6


def test_lm_and_lexicon_round_trip(tmp_path):
    lm = CharNgramLM.train(["hello world"], order=3)
    lm.save(tmp_path / "lm.json.gz")
    assert abs(CharNgramLM.load(tmp_path / "lm.json.gz").score("hello") - lm.score("hello")) < 1e-9
    lex = Lexicon.from_texts(["Hello , world"])
    lex.save(tmp_path / "lex.txt")
    assert Lexicon.load(tmp_path / "lex.txt").words == {"hello", "world"}
    loaded = CharNgramLM.load(tmp_path / "lm.json.gz")
    loaded.save(tmp_path / "copy.json.gz")  # saved again as it came: the same bytes (a fine-tune's bundle)
    assert (tmp_path / "copy.json.gz").read_bytes() == (tmp_path / "lm.json.gz").read_bytes()
    CharNgramLM.load(tmp_path / "copy.json.gz").save(tmp_path / "copy.json.gz")  # onto itself: left as it is
    assert (tmp_path / "copy.json.gz").read_bytes() == (tmp_path / "lm.json.gz").read_bytes()
    loaded.save(tmp_path / "plain.json")  # another format: written
    assert abs(CharNgramLM.load(tmp_path / "plain.json").score("hello") - lm.score("hello")) < 1e-9


def test_words_split_at_spaces_with_spans_and_confidences():
    # "ab b": frames 0-1 "a", 2 "b", 3 space, 4-5 "b"
    p = frames([0.1, 0.9, 0, 0], [0.1, 0.9, 0, 0], [0.2, 0, 0.8, 0], [0, 0, 0, 1], [0.4, 0, 0.6, 0], [0.4, 0, 0.6, 0])
    pred = Predictor(model=None, charset=CS, preprocess=PreprocessConfig(), stride=4, calibration=Calibrator.identity())
    rec = pred._result(greedy_decode(p, CS), Normalized(np.zeros((40, 24)), x0=10, scale=2.0, hpad=0))
    assert [w.text for w in rec.words] == ["ab", "b"]
    assert rec.words[0].x0 == 10.0 and rec.words[0].x1 == 10 + 12 / 2.0
    assert rec.words[1].x0 == 10 + 16 / 2.0
    assert rec.words[0].confidence > rec.words[1].confidence
    assert min(w.confidence for w in rec.words) <= rec.confidence <= max(w.confidence for w in rec.words)
