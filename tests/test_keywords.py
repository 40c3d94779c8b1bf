"""The keyword index: probable spellings from frame probabilities, stored with
the transcript, searched by probability on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from recognition.charset import Charset
from recognition.decoding import greedy_decode
from recognition.keywords import (
    DEFAULT_MIN_PROB,
    Alternative,
    LexiconMatcher,
    ctc_log_likelihoods,
    joined_alternatives,
    lexicon_queries,
    line_alternatives,
    word_alternatives,
)
from recognition.text import normalize_term
from tests.fixtures import seed_document
from worker.db import Line, WordCandidate, make_engine, session_factory, upgrade
from worker.db.queries import keyword_search
from worker.io.store import LocalStore

ROOT = Path(__file__).resolve().parents[1]
CS = Charset()
search_index = partial(keyword_search, min_prob=DEFAULT_MIN_PROB)


def frames(spec: list[dict[str, float]]) -> np.ndarray:
    """Frame probabilities from per-frame {character: probability}; the rest is blank."""
    p = np.zeros((len(spec), CS.num_classes), np.float32)
    for t, d in enumerate(spec):
        for ch, v in d.items():
            p[t, CS.space_index if ch == " " else CS.encode(ch)[0]] = v
        p[t, 0] = 1.0 - sum(d.values())
    return p


def test_a_word_present_only_as_a_second_reading_is_indexed_with_its_probability():
    probs = frames([{"c": 0.6, "e": 0.38}, {}, {"a": 0.99}, {}, {"t": 0.99}])
    decoded = greedy_decode(probs, CS)
    assert decoded.text == "cat"
    alts = {a.text: a.probability for a in word_alternatives(probs, decoded, CS, 0, 3)}
    assert alts["cat"] > alts["eat"] > 0.3 and abs(alts["cat"] + alts["eat"] - 1.0) < 0.05


def test_a_certain_word_scores_one_and_case_variants_are_one_entry():
    sure = frames([{"d": 1.0}, {"o": 1.0}, {"g": 1.0}])
    d = greedy_decode(sure, CS)
    assert [(a.text, a.probability) for a in word_alternatives(sure, d, CS, 0, 3)] == [("dog", 1.0)]
    cased = frames([{"D": 0.5, "d": 0.49}, {"o": 1.0}, {"g": 1.0}])
    alts = word_alternatives(cased, greedy_decode(cased, CS), CS, 0, 3)
    assert len(alts) == 1 and alts[0].probability > 0.95  # "Dog" and "dog" are one entry for search
    assert normalize_term("Dog,") == "dog" and normalize_term("--") == ""


def test_ctc_likelihoods_sum_the_paths_of_each_spelling():
    import itertools

    p = np.random.default_rng(0).dirichlet(np.ones(3), size=5)
    totals: dict[tuple, float] = {}
    for path in itertools.product(range(3), repeat=5):
        collapsed = tuple(k for i, k in enumerate(path) if k and (i == 0 or path[i - 1] != k))
        totals[collapsed] = totals.get(collapsed, 0.0) + float(np.prod([p[t, k] for t, k in enumerate(path)]))
    labels = [[1], [1, 1], [1, 2], [2, 1, 2], [2, 2, 2]]
    got = np.exp(ctc_log_likelihoods(p, labels))
    np.testing.assert_allclose(got, [totals.get(tuple(lab), 0.0) for lab in labels], rtol=1e-9)


def test_ctc_likelihoods_of_long_spans_do_not_underflow():
    # 1000 frames at 1/3 each (3**-1000 is below float64). The paths that read "a" are
    # blanks, at least one "a", blanks: comb(T + 1, 2) of them; "ab" has comb(T + 2, 4).
    from math import comb, log

    t = 1000
    got = ctc_log_likelihoods(np.full((t, 3), 1 / 3), [[1], [1, 2]])
    expected = [log(comb(t + 1, 2)) - t * log(3), log(comb(t + 2, 4)) - t * log(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_a_misspelt_reading_also_gives_the_lexicon_word_the_frames_support():
    # "fom": the r is there, weaker than the blank on its frame.
    probs = frames([{"f": 0.9}, {"r": 0.35}, {"o": 0.95}, {}, {"m": 0.95}])
    decoded = greedy_decode(probs, CS)
    assert decoded.text == "fom"
    lexicon = LexiconMatcher(["from", "foam", "form", "fame", "mouse", "of"])
    assert lexicon.near("Fom") == ["foam", "form", "from"] and "from" in lexicon.words and "of" not in lexicon.words
    alone = {a.text for a in word_alternatives(probs, decoded, CS, 0, 3)}
    alts = {a.text: a.probability for a in line_alternatives(probs, decoded, CS, [(0, 3)], lexicon)[0]}
    assert "from" not in alone and alts["from"] > 0.2  # the frames support the r
    assert "foam" not in alts and "form" not in alts  # no frames for their letters
    assert alts["from"] <= max(p for t, p in alts.items() if t != "from")
    sure = frames([{"d": 1.0}, {"o": 1.0}, {"g": 1.0}, {"s": 1.0}])
    read = line_alternatives(sure, greedy_decode(sure, CS), CS, [(0, 4)], LexiconMatcher(["dogs", "dots"]))
    assert [a.text for a in read[0]] == ["dogs"]


def test_a_word_read_in_two_pieces_is_also_indexed_whole():
    # "al wajs": the space is barely stronger than nothing over its frame, the y a close second.
    probs = frames([{"a": 0.95}, {}, {"l": 0.95}, {" ": 0.55}, {"w": 0.95}, {}, {"a": 0.95}, {"j": 0.5, "y": 0.4}, {"s": 0.95}])
    decoded = greedy_decode(probs, CS)
    assert decoded.text == "al wajs"
    left, right = word_alternatives(probs, decoded, CS, 0, 2), word_alternatives(probs, decoded, CS, 3, 7)
    joined = joined_alternatives(probs, decoded, CS, 2, left[0], right[0])
    assert [a.text for a in joined] == ["alwajs"]
    assert joined[0].probability == pytest.approx(0.45 * left[0].probability * right[0].probability, abs=1e-3)
    near = {
        a.text: a.probability for a in joined_alternatives(probs, decoded, CS, 2, left[0], right[0], LexiconMatcher(["always"]))
    }
    assert set(near) == {"alwajs", "always"} and near["always"] == pytest.approx(0.8 * near["alwajs"], rel=0.05)
    both = line_alternatives(probs, decoded, CS, [(0, 2), (3, 7)])
    assert "alwajs" in {a.text for a in both[0]} and "alwajs" in {a.text for a in both[1]}  # on both pieces
    assert lexicon_queries(decoded) == ["wajs", "alwajs"]  # what a batch looks up at once ("al": too short)
    sure = frames([{"a": 0.95}, {" ": 0.99}, {"w": 0.95}, {"a": 0.95}, {"y": 0.95}])
    d = greedy_decode(sure, CS)
    assert joined_alternatives(sure, d, CS, 1, Alternative("a", 0.95), Alternative("way", 0.9)) == []  # a clear space


@pytest.fixture
def indexed(tmp_path, db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    store = LocalStore(tmp_path / "store")
    lines = [
        [("Dear", 0.95), ("Mr", 0.9), ("Gaitskel", 0.5, [("Gaitskell", 0.35), ("Gaitsked", 0.1)])],
        [("the", 0.97), ("meeting", 0.8), ("is", 0.98)],
        [("on", 0.99), ("Tuesday", 0.6, [("Tuesdays", 0.2)]), ("the", 0.9), ("meeting", 0.4)],
    ]
    doc = seed_document(sessions, store, tmp_path / "page.png", lines)
    yield sessions, store, doc
    engine.dispose()


def test_search_by_probability_threshold_and_and_of_words(indexed):
    sessions, _store, doc = indexed
    with sessions() as s:
        assert s.query(WordCandidate).count() == 13  # every word, plus three other spellings
        hits = search_index(s, "gaitskell")
        assert [(h.document_id, h.page, h.line, h.probability) for h in hits] == [(doc, 1, 1, 0.35)]
        assert hits[0].words[0].text == "Gaitskell" and hits[0].words[0].index == 3 and len(hits[0].words[0].box) == 4
        assert search_index(s, "gaitskell", min_prob=0.4) == []  # a threshold above it
        assert [h.line for h in search_index(s, "MEETING")] == [2, 3]  # case-insensitive, ranked by probability
        assert [h.line for h in search_index(s, "meeting tuesday")] == [3]  # all words in one line
        assert search_index(s, "meeting tuesday")[0].probability == pytest.approx(0.4 * 0.6)
        assert [h.line for h in search_index(s, '"the meeting"')] == [2, 3]  # a phrase: next to each other
        assert search_index(s, '"meeting the"') == []
        assert [h.line for h in search_index(s, "tuesdays", min_prob=0.1)] == [3]


def test_long_words_also_match_with_a_spelling_error_ranked_below(indexed):
    sessions, *_ = indexed
    with sessions() as s:
        hits = search_index(s, "tuesdey")  # one letter off "Tuesday" (0.6): a fifth of its probability
        assert [(h.line, h.probability, h.words[0].text) for h in hits] == [(3, 0.12, "Tuesday")]
        assert [h.probability for h in search_index(s, "gaitskell")] == [0.35]  # the exact spelling, not the near one (0.1)
        assert [h.line for h in search_index(s, "meetinq")] == [2, 3] and search_index(
            s, "meet"
        ) == []  # short words (under 6 letters): exact only
        assert [h.probability for h in search_index(s, "tuesda")] == [0.12]  # 6 letters: one error
        assert search_index(s, "tuesxxy") == []  # two errors in 7 letters: too far


def test_the_parts_of_a_joined_word_are_found_and_a_reviewed_one_too(tmp_path, db_url):
    from worker.db.corrections import review_line

    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    doc = seed_document(sessions, LocalStore(tmp_path / "s"), tmp_path / "p.png", [[("MARIE-ASTRIDE", 0.8), ("Pay.-Rolls", 0.7)]])
    with sessions() as s:
        assert [(h.document_id, h.probability, h.words[0].text) for h in search_index(s, "astride")] == [(doc, 0.8, "ASTRIDE")]
        assert [h.probability for h in search_index(s, "marie-astride")] == [0.8]  # the whole, as written
        assert [h.words[0].index for h in search_index(s, "rolls")] == [2]
        assert s.query(WordCandidate).count() == 6
        review_line(s, s.query(Line).one().id, "ana", "JEAN-LUC Payrolls")
        s.commit()
        assert search_index(s, "astride") == [] and [h.probability for h in search_index(s, "luc")] == [1.0]
    engine.dispose()


def test_queries_of_every_shape_answer_without_a_traceback(indexed):
    sessions, *_ = indexed
    with sessions() as s:
        for q in ("", "   ", "!!!", '"', "'; DROP TABLE lines; --", 'meeting OR "x" NEAR(a b)', "tues*", "x" * 5000, "é ü ß"):
            assert search_index(s, q) == [] or all(h.probability >= DEFAULT_MIN_PROB for h in search_index(s, q)), q
        assert [h.line for h in search_index(s, "meeting!!")] == [2, 3]  # punctuation does not matter


def test_a_reviewed_line_replaces_its_alternatives(indexed):
    from worker.db.corrections import review_line

    sessions, *_ = indexed
    with sessions() as s:
        first = s.query(Line).order_by(Line.id).first()
        review_line(s, first.id, "ana", "Dear Mr Gaitskell")
        s.commit()
        hits = search_index(s, "gaitskell")
        assert [(h.line, h.probability) for h in hits] == [(1, 1.0)]
        near = search_index(s, "gaitskel")  # the read spelling is gone; the corrected one is near it
        assert [(h.probability, h.words[0].text) for h in near] == [(0.2, "Gaitskell")]
        assert search_index(s, "gaitsked", min_prob=0.0) == []


@pytest.mark.slow
def test_reindex_rebuilds_the_index_from_page_images(indexed):
    from recognition.predictor import Predictor
    from worker.db.corrections import review_line
    from worker.pipeline.reindex import reindex_document

    sessions, store, doc = indexed
    with sessions() as s:
        first = s.query(Line).order_by(Line.id).first()
        review_line(s, first.id, "ana", "Dear Mr Gaitskell")
        s.query(WordCandidate).filter(WordCandidate.line_id != first.id).delete()
        s.commit()
    assert reindex_document(doc, sessions, store, Predictor.load(keywords=True)) == 3
    with sessions() as s:
        reviewed = s.query(WordCandidate).filter(WordCandidate.line_id == first.id).all()
        assert sorted((c.text, c.probability) for c in reviewed) == [("Dear", 1.0), ("Gaitskell", 1.0), ("Mr", 1.0)]
        others = s.query(WordCandidate).filter(WordCandidate.line_id != first.id).all()
        assert others and all(0 < c.probability <= 1 for c in others)
        lines = {ln.id: ln for ln in s.query(Line)}
        assert all(lines[c.line_id].x0 <= c.x0 < c.x1 <= lines[c.line_id].x1 for c in others)


@pytest.mark.slow
def test_htr_search_gives_probabilities_and_exact_search_stays(tmp_path):
    env = {
        "HTR_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite'}",
        "HTR_STORE_URL": f"file://{tmp_path / 'store'}",
        "PATH": "/usr/bin:/bin",
    }

    def htr(*args):
        return subprocess.run(
            [sys.executable, "-m", "worker.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    assert htr("process", str(ROOT / "examples" / "line.png")).returncode == 0
    hits = [json.loads(r) for r in htr("search", "basic", "--json").stdout.splitlines()]
    assert len(hits) == 1 and {"document_id", "page", "line", "words", "probability"} <= set(hits[0])
    assert hits[0]["words"][0]["text"] == "basic" and 0.5 < hits[0]["probability"] <= 1.0
    exact = [json.loads(r) for r in htr("search", "basic", "--exact", "--json").stdout.splitlines()]
    assert len(exact) == 1 and exact[0]["probability"] is None
    bad = htr("search", "basic", "--min-prob", "2")
    assert bad.returncode == 2 and "probability from 0 to 1" in bad.stderr


def test_search_terms_fold_case_and_accents():
    assert normalize_term("Été") == normalize_term("ete") == "ete"
    assert normalize_term("l'Œuvre,") == "loeuvre"


def test_lexicon_holds_accented_words():
    from recognition.lm import Lexicon

    lex = Lexicon.from_texts(["Le Noël de l'élève", "été 1905"])
    assert {"noël", "élève", "été", "de", "le", "l"} <= lex.words
    assert lex.allows("él", "è") and lex.complete("l'élève") and not lex.complete("élèv")
