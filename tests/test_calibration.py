import numpy as np

from recognition.calibration import Calibrator, isotonic_fit, raw_word_score, reliability_table


def test_isotonic_fit_is_monotone_and_pools_violators():
    _kx, ky = isotonic_fit(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]))
    assert np.all(np.diff(ky) >= 0)
    assert ky[0] == 0.0 and ky[-1] == 1.0


def test_calibrated_confidence_matches_accuracy():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 1, 20000)
    truth = rng.uniform(0, 1, raw.size) < raw**3  # overconfident raw scores
    cal = Calibrator.fit(raw[:10000], truth[:10000])
    conf = cal(raw[10000:])
    rows = {r["bin"]: r for r in reliability_table(conf, truth[10000:])}
    high = rows[">=0.90"]
    assert high["words"] > 100
    assert high["share_exact"] >= 0.88
    for r in rows.values():
        if r["words"] > 200:
            assert abs(r["mean_confidence"] - r["share_exact"]) < 0.05


def test_calibrator_round_trip_and_identity():
    cal = Calibrator.fit(np.array([0.2, 0.8]), np.array([0, 1]))
    again = Calibrator.from_json(cal.to_json())
    assert np.allclose(again(np.linspace(0, 1, 11)), cal(np.linspace(0, 1, 11)))
    assert Calibrator.from_json(None)(0.3) == 0.3


def test_raw_word_score_is_lowered_by_weakest_char():
    assert raw_word_score([0.99, 0.99, 0.99]) > raw_word_score([0.99, 0.99, 0.3])
    assert raw_word_score([]) == 0.0
