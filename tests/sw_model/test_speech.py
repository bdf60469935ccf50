"""Sequence classification: no leakage of test data into anything fitted; early decisions."""

from pathlib import Path

import numpy as np

from memres.sw_model import classify, speech
from memres.sw_model.config import config_from_dict
from memres.sw_model.datasets import Recording
from memres.sw_model.frontend import Normaliser


def _fake(seed=0):
    """Tiny fake 'cochleagrams': 3 speakers x 10 digits x takes 0-9, class-dependent tone."""
    rng = np.random.default_rng(seed)
    recs, coch = [], {}
    for spk in ("a", "b", "c"):
        for d in range(10):
            for take in range(10):
                r = Recording(Path(f"/fake/{d}_{spk}_{take}.wav"), d, spk, take)
                t = int(rng.integers(6, 14))
                x = rng.normal(0, 1, (t, 4)) + np.array([np.sin(d), np.cos(d), d / 5, -d / 5])
                recs.append(r)
                coch[str(r.path)] = x
    return recs, coch


CFG = config_from_dict({"reservoir": {"n_devices": 6, "n_virtual": 2, "state_features": True},
                        "readout": {"lambdas": [1e-4, 1e-2]}})


def test_test_data_never_reaches_anything_fitted():
    recs, coch = _fake()
    train = [r for r in recs if r.take >= 3]
    test = [r for r in recs if r.take < 3]
    a = speech.train_split(CFG, train, test, coch)
    assert a.normaliser == Normaliser.fit([coch[str(r.path)] for r in train])
    # Scramble every test sequence: the fitted parts must not move.
    coch2 = dict(coch)
    for r in test:
        coch2[str(r.path)] = coch[str(r.path)] * 10 + 3
    b = speech.train_split(CFG, train, test, coch2)
    assert b.normaliser == a.normaliser
    np.testing.assert_array_equal(a.w_float, b.w_float)
    np.testing.assert_array_equal(a.readout_int.w, b.readout_int.w)
    assert a.lam_float == b.lam_float and a.lam_fixed == b.lam_fixed


def test_learns_the_fake_task_and_reports_early_fractions():
    recs, coch = _fake()
    train = [r for r in recs if r.take >= 3]
    test = [r for r in recs if r.take < 3]
    m = speech.train_split(CFG, train, test, coch).metrics()
    assert m["float"]["accuracy"] > 0.5 and m["fixed"]["accuracy"] > 0.5
    assert [e["fraction"] for e in m["early"]] == [0.25, 0.5, 0.75, 1.0]


def test_prefix_ends():
    assert classify.prefix_ends(4).tolist() == [1, 2, 3, 4]
    assert classify.prefix_ends(1).tolist() == [1, 1, 1, 1]
    assert classify.prefix_ends(10).tolist() == [3, 5, 8, 10]


def test_integer_decisions_break_ties_towards_lowest_class():
    sums = classify.SequenceSums(np.zeros((1, 4, 2), dtype=np.int64), np.ones((1, 4), dtype=np.int64))
    from memres.sw_model.readout import IntReadout
    ro = IntReadout(np.zeros((2, 3), dtype=np.int64), np.array([5, 7, 7]), 1.0)
    assert classify.decisions_int(sums, ro).tolist() == [[1, 1, 1, 1]]
