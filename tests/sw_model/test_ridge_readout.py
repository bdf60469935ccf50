"""Ridge readout from Gram sums, folding, and integer quantisation."""

import numpy as np

from memres.sw_model.readout import Gram, quantise, ridge


def _data(seed=0, n=500, f=12, k=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(5.0, 2.0, (n, f)) * rng.uniform(0.01, 100, f)
    w = rng.normal(size=(f, k))
    y = x @ w + 3.0 + 0.01 * rng.normal(size=(n, k))
    return x, y


def test_ridge_small_lambda_equals_least_squares():
    x, y = _data()
    g = Gram(12, 3)
    g.add(x[:200], y[:200])
    g.add(x[200:], y[200:])
    w, b = ridge(g, 1e-12)
    a = np.c_[x, np.ones(len(x))]
    sol = np.linalg.lstsq(a, y, rcond=None)[0]
    np.testing.assert_allclose(x @ w + b, a @ sol, rtol=1e-6, atol=1e-6)


def test_ridge_penalty_shrinks_and_ignores_constant_features():
    x, y = _data()
    x[:, 3] = 7.0
    g = Gram(12, 3)
    g.add(x, y)
    w_small, _ = ridge(g, 1e-6)
    w_big, _ = ridge(g, 10.0)
    assert w_small[3].tolist() == [0, 0, 0]
    assert np.linalg.norm(w_big) < np.linalg.norm(w_small)


def test_quantised_readout_close_to_float_with_error_compensation():
    x, y = _data(1)
    g = Gram(12, 3)
    g.add(x, y)
    w, b = ridge(g, 1e-6)
    plain = quantise(w, b, 8, 1 << 40)
    comp = quantise(w, b, 8, 1 << 40, gram=g)
    ref = x @ w + b
    err_plain = np.abs(plain(x.round().astype(np.int64)) * plain.scale - ref).mean()
    err_comp = np.abs(comp(x.round().astype(np.int64)) * comp.scale - ref).mean()
    assert np.abs(comp.w).max() == 127
    assert err_comp < err_plain


def test_bias_saturates_at_limit():
    w = np.array([[1.0]])
    ro = quantise(w, np.array([1e9]), 8, 1000)
    assert ro.b[0] == 1000
