"""Tests of sw_model.tasks: generators follow their definitions, helpers behave."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memres.sw_model.tasks import (
    TASKS,
    InputScaler,
    Series,
    henon,
    mackey_glass,
    make_task,
    narma10,
    nrmse,
    second_order,
    split_series,
)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_deterministic_per_seed(name: str) -> None:
    a = make_task(name, 500, seed=3)
    b = make_task(name, 500, seed=3)
    c = make_task(name, 500, seed=4)
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.u, c.u)
    assert a.u.shape == (500, 1) and a.y.shape == (500, 1)
    assert np.all(np.isfinite(a.u)) and np.all(np.isfinite(a.y))


def test_registry_names() -> None:
    assert set(TASKS) == {"narma10", "second-order", "henon", "mackey-glass"}
    with pytest.raises(ValueError, match="narma10"):
        make_task("narma20", 10)


def test_narma10_recurrence() -> None:
    s = narma10(400, seed=7)
    # index k holds input u(t) and target y(t+1) for t = t_k, so
    # y(t) = y[k-1], y(t-i) = y[k-1-i], u(t) = u[k], u(t-9) = u[k-9]
    u, y = s.u[:, 0], s.y[:, 0]
    assert u.min() >= 0.0 and u.max() <= 0.5
    for k in [10, 57, 200, 399]:
        expect = 0.3 * y[k - 1] + 0.05 * y[k - 1] * np.sum(y[k - 10 : k]) + 1.5 * u[k - 9] * u[k] + 0.1
        assert y[k] == pytest.approx(expect, rel=1e-12)


def test_second_order_recurrence() -> None:
    s = second_order(300, seed=2)
    u, y = s.u[:, 0], s.y[:, 0]
    assert u.min() >= 0.0 and u.max() <= 0.5
    for k in [2, 3, 150, 299]:
        expect = 0.4 * y[k - 1] + 0.4 * y[k - 1] * y[k - 2] + 0.6 * u[k] ** 3 + 0.1
        assert y[k] == pytest.approx(expect, rel=1e-12)


def test_henon_map() -> None:
    s = henon(1000, seed=5)
    x, target = s.u[:, 0], s.y[:, 0]
    np.testing.assert_array_equal(target[:-1], x[1:])  # target is the next input
    # x(n+1) = 1 - 1.4 x(n)^2 + 0.3 x(n-1)
    np.testing.assert_allclose(target[1:], 1 - 1.4 * x[1:] ** 2 + 0.3 * x[:-1], rtol=0, atol=1e-12)
    assert -1.5 < x.min() < -1.0 and 1.0 < x.max() < 1.5  # the Henon attractor's extent


@pytest.mark.parametrize("noise", [0.001, 0.05])
def test_henon_noise_level(noise: float) -> None:
    clean = henon(20000, seed=9)
    noisy = henon(20000, seed=9, noise=noise)
    np.testing.assert_array_equal(noisy.y, clean.y)  # targets stay clean
    err = noisy.u[:, 0] - clean.u[:, 0]
    assert abs(err.mean()) < 4 * noise * clean.u.std() / np.sqrt(len(err))
    assert err.std() / clean.u.std() == pytest.approx(noise, rel=0.03)
    assert noisy.name != clean.name
    with pytest.raises(ValueError):
        henon(10, noise=-0.1)


def test_mackey_glass_bounded_and_chaotic() -> None:
    s = mackey_glass(2000, seed=0)
    x = s.u[:, 0]
    np.testing.assert_array_equal(s.y[:-1, 0], x[1:])  # horizon 1
    assert 0.2 < x.min() and x.max() < 1.5
    assert x.std() > 0.1  # not a fixed point
    # not periodic either: peak heights take many different values
    peaks = x[1:-1][(x[1:-1] > x[:-2]) & (x[1:-1] > x[2:])]
    assert len(peaks) > 20 and len(np.unique(np.round(peaks, 3))) > 0.8 * len(peaks)
    # sensitive to the initial history: other seeds end up far apart
    other = mackey_glass(2000, seed=1).u[:, 0]
    assert np.abs(other - x).max() > 0.3


def test_mackey_glass_derivative_matches_equation() -> None:
    """Central differences of the sampled series follow the delay equation."""
    s = mackey_glass(600, seed=2, substeps=20)
    x = s.u[:, 0]
    tau = 17
    n = np.arange(tau + 1, len(x) - 1)
    dxdt = (x[n + 1] - x[n - 1]) / 2.0
    rhs = 0.2 * x[n - tau] / (1 + x[n - tau] ** 10) - 0.1 * x[n]
    # sampling at dt = 1 makes the central difference only approximate
    assert np.sqrt(np.mean((dxdt - rhs) ** 2)) < 0.05 * np.std(rhs)


def test_mackey_glass_options() -> None:
    s = mackey_glass(300, seed=0, horizon=5)
    np.testing.assert_array_equal(s.y[:-5, 0], s.u[5:, 0])
    # a finer integration step gives (nearly) the same trajectory
    fine = mackey_glass(300, seed=0, substeps=40, discard=0)
    coarse = mackey_glass(300, seed=0, substeps=10, discard=0)
    assert np.abs(fine.u - coarse.u).max() < 1e-3
    with pytest.raises(ValueError, match="tau"):
        mackey_glass(10, tau=17.05)


def test_split_series_layout() -> None:
    s = second_order(1000, seed=0)
    train, test = split_series(s, n_train=600, n_test=300, washout=50)
    assert (len(train), len(test)) == (650, 350)
    assert train.washout == test.washout == 50
    np.testing.assert_array_equal(train.u, s.u[:650])
    np.testing.assert_array_equal(test.u, s.u[600:950])
    # fitted steps [50, 650) and scored steps [650, 950) are disjoint and adjacent
    np.testing.assert_array_equal(train.y[train.washout :], s.y[50:650])
    np.testing.assert_array_equal(test.y[test.washout :], s.y[650:950])
    with pytest.raises(ValueError, match="needed"):
        split_series(s, 900, 200, washout=0)


def test_series_validation() -> None:
    with pytest.raises(ValueError):
        Series(np.zeros((5, 1)), np.zeros((4, 1)), "bad")
    with pytest.raises(ValueError):
        Series(np.zeros(5), np.zeros((5, 1)), "bad")


def test_input_scaler_train_only() -> None:
    s = mackey_glass(1500, seed=0)
    train, test = split_series(s, 1000, 400, washout=0)
    scaler = InputScaler.fit(train.u)
    assert scaler.lo[0] == train.u.min() and scaler.hi[0] == train.u.max()
    z = scaler.transform(train.u)
    assert z.min() == 0.0 and z.max() == 1.0
    zt = scaler.transform(test.u)
    lo, hi = train.u.min(), train.u.max()
    np.testing.assert_allclose(zt, np.clip((test.u - lo) / (hi - lo), 0, 1))
    assert InputScaler.fit(test.u) != scaler
    d = json.loads(json.dumps(scaler.to_dict()))
    assert d["kind"] == "InputScaler"
    assert InputScaler.from_dict(d) == scaler


def test_nrmse() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(2.0, 3.0, size=(1000, 2))
    assert nrmse(y, y) == 0.0
    assert nrmse(y, np.broadcast_to(y.mean(axis=0), y.shape)) == pytest.approx(1.0)
    pred = y + rng.normal(0, 0.3, size=y.shape)
    by_hand = np.mean([np.sqrt(np.mean((y[:, k] - pred[:, k]) ** 2)) / y[:, k].std() for k in range(2)])
    assert nrmse(y, pred) == pytest.approx(by_hand)
    assert nrmse(y[:, 0], pred[:, 0]) == pytest.approx(nrmse(y[:, :1], pred[:, :1]))
    with pytest.raises(ValueError):
        nrmse(y, y[:, :1])
    with pytest.raises(ValueError):
        nrmse(np.ones(10), np.ones(10))


def test_input_scaler_delay_line() -> None:
    u = np.column_stack([np.arange(10.0), 100.0 - np.arange(10.0)])
    scaler = InputScaler.fit(u, taps=3)
    x = scaler.transform(u)
    assert x.shape == (10, 6) and scaler.n_outputs == 6
    plain = InputScaler.fit(u).transform(u)
    # step t holds the scaled inputs of t, t-1, t-2 side by side; before the start the line holds 0
    np.testing.assert_array_equal(x[:, 0:2], plain)
    np.testing.assert_array_equal(x[2:, 2:4], plain[1:-1])
    np.testing.assert_array_equal(x[3:, 4:6], plain[1:-2])
    np.testing.assert_array_equal(x[:2, 4:6], 0.0)
    assert InputScaler.from_dict(json.loads(json.dumps(scaler.to_dict()))) == scaler
    with pytest.raises(ValueError, match="taps"):
        InputScaler.fit(u, taps=0)
