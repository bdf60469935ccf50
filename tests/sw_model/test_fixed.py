"""The integer model: follows the contract, tracks the float model, never overflows."""

import numpy as np
import pytest

from memres.sw_model import device
from memres.sw_model.config import config_from_dict
from memres.sw_model.fixed import (FixedReservoir, bits_signed, build_constants, cell_update, derive_widths,
                            feature_bounds, pulse_codes, quantise_inputs, rshift_round)
from memres.sw_model.reservoir import FloatReservoir


def _cfg(**res):
    return config_from_dict({"reservoir": {"n_devices": 6, "n_virtual": 3, **res}})


def test_rshift_round_is_round_half_up_for_both_signs():
    x = np.array([-4, -3, -2, -1, 0, 1, 2, 3, 5])
    assert list(rshift_round(x, 1)) == [-2, -1, -1, 0, 0, 1, 1, 2, 3]
    assert list(rshift_round(x, 0)) == list(x)


def test_bits_signed():
    assert bits_signed(-128, 127) == 8 and bits_signed(-129, 0) == 9 and bits_signed(0, 128) == 9


def test_integer_features_track_float_model():
    cfg = _cfg(alpha=0.05, tau=2000.0, state_features=True)
    u = np.random.default_rng(0).random((4, 30, 5))
    xf = FloatReservoir(cfg.reservoir, 5).run_batch(u)
    k = build_constants(cfg.reservoir, cfg.fixed, 5)
    xi = FixedReservoir(cfg.reservoir, cfg.fixed, 5).run_batch(quantise_inputs(u, 8))
    ml_n = 18
    cur = xi[..., :ml_n] / 2 ** cfg.fixed.current_bits * k.f_scale
    assert np.corrcoef(cur.ravel(), xf[..., :ml_n].ravel())[0, 1] > 0.999
    st = xi[..., ml_n:] / 2 ** cfg.fixed.current_bits
    assert np.abs(st - xf[..., ml_n:]).max() < 0.01


def test_cell_update_matches_hand_computation():
    cfg = _cfg()
    k = build_constants(cfg.reservoir, cfg.fixed, 2)
    g = np.array([0, 1000, k.g0, k.g_max, 40000, 12345])
    q = np.array([0, 5, k.q_max, 1, 700, 300])
    g_new, i = cell_update(k, g, q)
    for n in range(6):
        decay = k.g0 + ((int(k.r[n]) * (int(g[n]) - k.g0) + (1 << 15)) >> 16)
        move = (int(k.a_lut[q[n]]) * (int(k.h_lut[q[n]]) * k.g_max - int(g[n])) + (1 << 15)) >> 16
        exp_g = min(max(decay + move, 0), k.g_max)
        s = 16 + 16 - 12
        assert g_new[n] == exp_g
        assert i[n] == (exp_g * int(k.f_lut[q[n]]) + (1 << (s - 1))) >> s


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_extreme_inputs_long_sequences_stay_in_declared_widths(level):
    cfg = config_from_dict({"reservoir": {"n_devices": 5, "n_virtual": 2, "v_min": -3.0, "alpha": 0.5,
                                          "state_features": True, "idle_ns": 10.0}})
    u = np.full((1, 2000, 4), level)
    fr = FixedReservoir(cfg.reservoir, cfg.fixed, 4)
    feats, states = fr.run_batch(quantise_inputs(u, 8), record_states=True)
    k = fr.k
    lo, hi = feature_bounds(k)
    assert feats.min() >= lo and feats.max() <= hi
    assert states.min() >= 0 and states.max() <= k.g_max
    w = derive_widths(k, 3)
    assert -(1 << (w.feature - 1)) <= lo and hi < (1 << (w.feature - 1))


def test_saturation_reached_and_held_at_full_scale():
    cfg = config_from_dict({"reservoir": {"n_devices": 3, "n_virtual": 1, "alpha": 5.0, "tau": 1e9},
                            "fixed": {"state_bits": 8}})
    k = build_constants(cfg.reservoir, cfg.fixed, 1)
    g = np.full(3, k.g0)
    q = np.full(3, k.q_max)
    for _ in range(200):
        g, _ = cell_update(k, g, q)
    assert np.all(g <= k.g_max) and np.all(g >= k.g_max - 2)


def test_worst_case_readout_fits_derived_widths():
    cfg = config_from_dict({"reservoir": {"n_devices": 8, "n_virtual": 4, "state_features": True},
                            "fixed": {"max_frames": 100}})
    k = build_constants(cfg.reservoir, cfg.fixed, 3)
    w = derive_widths(k, 4)
    lo, hi = feature_bounds(k)
    wmax = (1 << (cfg.fixed.weight_bits - 1)) - 1
    frame = k.n_features * max(-lo, hi) * wmax * 2  # dot product plus the largest bias
    assert frame <= (1 << (w.frame_acc - 1)) - 1
    assert frame * 100 <= (1 << (w.seq_acc - 1)) - 1
    assert frame * 100 * 2 > (1 << (w.seq_acc - 1)) - 1, "not grossly oversized"


def test_pulse_codes_clamp_and_center():
    cfg = _cfg()
    k = build_constants(cfg.reservoir, cfg.fixed, 4)
    zero = pulse_codes(k, np.zeros(4, dtype=np.int64))
    assert np.all(zero == (k.q_max + 1) // 2)
    full = pulse_codes(k, np.full(4, k.u_max))
    assert full.min() >= 0 and full.max() <= k.q_max


def test_alpha_spread_refused_by_integer_model():
    cfg = _cfg(alpha_spread=0.1)
    with pytest.raises(ValueError, match="alpha_spread"):
        build_constants(cfg.reservoir, cfg.fixed, 2)


def test_luts_follow_device_law():
    cfg = _cfg(v_min=-2.0)
    k = build_constants(cfg.reservoir, cfg.fixed, 2)
    v = cfg.reservoir.v_min + np.arange(k.q_max + 1) * 5.0 / k.q_max
    np.testing.assert_allclose(k.a_lut / 2 ** 16, device.switching_rate(v, 0.23), atol=2 ** -16)
    assert k.h_lut[0] == 0 and k.h_lut[-1] == 1
    assert k.f_lut.min() < 0 < k.f_lut.max() == 1 << 16
