"""Float device law and reservoir: bounds, relaxation, taus, masks, batching."""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from memres.sw_model import device
from memres.sw_model.config import config_from_dict
from memres.sw_model.reservoir import FloatReservoir, device_params


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=200), st.floats(0.5, 0.9999), st.floats(0.001, 1.0))
def test_state_stays_in_unit_interval(volts, r, alpha):
    """G stays in [0, 1] whenever a(V) <= r (the update is then a convex mix); the law never clips."""
    assume(alpha * 5 / (alpha * 5 + 1) <= r)
    g = np.float64(0.5)
    for v in volts:
        g, _ = device.pulse(g, np.float64(v), r, 0.5, alpha, 9.13, 0.32)
        assert 0.0 <= g <= 1.0


def test_law_is_not_clipped_outside_its_convex_region():
    """With a(V) > r (very strong pulses, fast relaxation) the published law leaves [0, 1]."""
    g, _ = device.pulse(np.float64(0.5), np.float64(3.0), 0.5, 0.5, 1.0, 9.13, 0.32)
    g, _ = device.pulse(g, np.float64(-4.0), 0.5, 0.5, 1.0, 9.13, 0.32)
    assert g < 0.0


def test_relaxation_without_pulse_matches_closed_form():
    r, g0 = 0.97, 0.5
    g = np.float64(0.9)
    for k in range(1, 80):
        g, i = device.pulse(g, np.float64(0.0), r, g0, 0.23, 9.13, 0.32)
        assert i == 0.0
        assert g == pytest.approx(g0 + r ** k * (0.9 - g0), rel=0, abs=1e-13)


def test_constant_pulse_reaches_published_fixed_point():
    # domain reference: at 2 V the fixed point is ((1-r)G0 + lam)/(1 - r + lam) = 0.98462
    g = np.float64(0.5)
    for _ in range(500):
        g, _ = device.pulse(g, np.float64(2.0), 0.99, 0.5, 0.23, 9.13, 0.32)
    assert g == pytest.approx(0.98462, abs=1e-5)


def test_tau_modes_and_spread():
    base = {"n_devices": 6, "dt_ns": 50.0}
    p = device_params(config_from_dict({"reservoir": {**base, "tau": 200}}).reservoir, 3)
    assert np.allclose(p.r, np.exp(-50 / 200))
    p = device_params(config_from_dict({"reservoir": {**base, "tau": {"mode": "compositions",
                                                                         "values_ns": [159, 278]}}}).reservoir, 3)
    assert list(p.tau_ns) == [159, 278] * 3
    p = device_params(config_from_dict({"reservoir": {**base, "tau": {"mode": "log-spaced"}}}).reservoir, 3)
    assert p.tau_ns[0] == pytest.approx(159) and p.tau_ns[-1] == pytest.approx(278)
    u = device_params(config_from_dict({"reservoir": {**base}}).reservoir, 3)
    assert np.all((u.tau_ns >= 159) & (u.tau_ns <= 278))
    s = device_params(config_from_dict({"reservoir": {**base, "tau_spread": 0.1}}).reservoir, 3)
    assert not np.allclose(s.tau_ns, u.tau_ns)
    assert np.array_equal(s.mask, u.mask), "a spread does not reshuffle the mask"


def test_mask_is_seeded_plus_minus_one():
    cfg = config_from_dict({"reservoir": {"n_devices": 5, "n_virtual": 3}}).reservoir
    a, b = device_params(cfg, 4), device_params(cfg, 4)
    assert a.mask.shape == (4, 3, 5) and set(np.unique(a.mask)) == {-1.0, 1.0}
    assert np.array_equal(a.mask, b.mask)
    c = device_params(config_from_dict({"reservoir": {"n_devices": 5, "n_virtual": 3, "seed": 1}}).reservoir, 4)
    assert not np.array_equal(a.mask, c.mask)


def test_batch_equals_one_by_one_and_features_layout():
    cfg = config_from_dict({"reservoir": {"n_devices": 4, "n_virtual": 3, "state_features": True,
                                          "idle_ns": 30.0}}).reservoir
    res = FloatReservoir(cfg, 2)
    rng = np.random.default_rng(0)
    seqs = [rng.random((t, 2)) for t in (5, 9, 2)]
    got = dict(res.run(seqs))
    for i, s in enumerate(seqs):
        alone = res.run_batch(s[None])[0]
        np.testing.assert_array_equal(got[i], alone)
        assert alone.shape == (len(s), 4 * 3 + 4)
    # hand-run the first frame of sequence 0
    v = res.voltages(seqs[0][0])
    g = np.full(4, cfg.g0)
    for m in range(3):
        g, i = device.pulse(g, v[m], res.params.r, cfg.g0, res.params.alpha, cfg.kp, cfg.kn)
        np.testing.assert_allclose(got[0][0, m * 4:(m + 1) * 4], i)
    np.testing.assert_allclose(got[0][0, 12:], g)


def test_read_noise_changes_currents_only_when_asked():
    base = {"n_devices": 4, "n_virtual": 2}
    u = np.random.default_rng(1).random((1, 6, 3))
    clean = FloatReservoir(config_from_dict({"reservoir": base}).reservoir, 3).run_batch(u)
    noisy = FloatReservoir(config_from_dict({"reservoir": {**base, "read_noise": 0.01}}).reservoir, 3).run_batch(u)
    rel = np.abs(noisy - clean)[clean != 0] / np.abs(clean[clean != 0])
    assert 0.001 < rel.mean() < 0.03
