"""Ridge readout from Gram sums, folding, and integer quantisation."""

import numpy as np
import pytest

from memres.sw_model import kernels
from memres.sw_model.readout import Gram, Quantiser, RidgeSolver, quantise, ridge, upper_inverse_factor


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


def test_cholesky_solve_equals_the_eigendecomposition():
    # Each lambda is solved by Cholesky; the closed form over the eigenvectors gives the same readout.
    x, y = _data(2, n=400, f=30, k=4)
    x[:, 7] = x[:, 6] * 2.0 + 1.0          # collinear pair: nearly singular at small lambda
    g = Gram(30, 4)
    g.add(x, y)
    solver = RidgeSolver(g)
    evals, evecs = np.linalg.eigh(solver.zz)
    for lam in (1e-6, 1e-2, 10.0):
        w, b = solver.solve(lam)
        z = evecs @ ((evecs.T @ solver.zy) / (np.maximum(evals, 0.0) + lam * solver.n)[:, None])
        np.testing.assert_allclose(w[solver.live] * solver.sd[solver.live, None], z, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(b, solver.ymean - solver.mean @ w)


def test_indefinite_system_falls_back_to_eigenvalues():
    x, y = _data(3, n=50, f=6, k=2)
    g = Gram(6, 2)
    g.add(x, y)
    solver = RidgeSolver(g)
    solver.zz = solver.zz - np.eye(6) * (np.linalg.eigvalsh(solver.zz)[0] + 1.0)   # one eigenvalue -1
    w, _ = solver.solve(1e-9)
    assert solver._eig is not None and np.all(np.isfinite(w))


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not kernels.AVAILABLE, reason="numba not available"))])
def test_error_compensated_rounding_backends_agree(backend):
    x, y = _data(4, n=300, f=40, k=5)
    g = Gram(40, 5)
    g.add(x, y)
    w, b = ridge(g, 1e-4)
    q = Quantiser(g)
    scale = np.abs(w).max() / 127
    got = kernels.quantise_rows(w / scale, q.u, 127, backend)
    # the loop written out: round row j, carry its error onto rows j+1.. through U
    work, want = w / scale, np.zeros(w.shape, dtype=np.int64)
    for j in range(len(work)):
        want[j] = np.clip(np.floor(work[j] + 0.5), -127, 127)
        work[j + 1:] -= np.outer(q.u[j, j + 1:], (work[j] - want[j]) / q.u[j, j])
    np.testing.assert_array_equal(got, want)
    assert np.abs(got).max() == 127


def test_upper_inverse_factor_is_the_cholesky_factor_of_the_inverse():
    x, _ = _data(5, n=200, f=25)
    cov = np.cov(x.T) + 1e-3 * np.eye(25)
    u = upper_inverse_factor(cov)
    assert np.array_equal(u, np.triu(u)) and np.all(np.diag(u) > 0)
    inv = np.linalg.inv(cov)
    np.testing.assert_allclose(u.T @ u, inv, rtol=1e-9, atol=1e-12 * np.abs(inv).max())
    np.testing.assert_allclose(u, np.linalg.cholesky(inv).T, rtol=1e-7, atol=1e-10 * np.abs(u).max())
