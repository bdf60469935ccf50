"""Synthetic benchmark tasks for the reservoir, generated in code.

Every generator takes ``n_steps`` and a ``seed`` (for
:func:`numpy.random.default_rng`), so the same arguments always give the same
data, and returns a :class:`Series` of inputs ``u`` (T, C) and targets
``y`` (T, K) aligned so that ``y[t]`` is to be predicted from ``u[0..t]``.
Initial transients of the generating systems are discarded inside the
generators.

Tasks (CLI names in :data:`TASKS`)
----------------------------------
``narma10``
    y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0..9} y(t-i) + 1.5 u(t-9) u(t) + 0.1,
    u ~ U[0, 0.5]; input u(t), target y(t+1).
``second-order``
    y(k) = 0.4 y(k-1) + 0.4 y(k-1) y(k-2) + 0.6 u(k)^3 + 0.1, u ~ U[0, 0.5]
    (Du et al. 2017); input u(k), target y(k).
``henon``
    x(n+1) = 1 - 1.4 x(n)^2 + y(n), y(n+1) = 0.3 x(n); input x(n) (optionally
    noisy), target x(n+1).
``mackey-glass``
    dx/dt = 0.2 x(t-tau) / (1 + x(t-tau)^10) - 0.1 x(t), tau = 17, sampled
    every time unit; input x(n), target x(n + horizon).

Helpers: :func:`split_series` (train/test parts with a warm-up),
:class:`InputScaler` (inputs to [0, 1] from training statistics) and
:func:`nrmse`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .frontend import MAX_INPUT_TAPS, Normaliser

__all__ = [
    "TASKS",
    "InputScaler",
    "Series",
    "henon",
    "mackey_glass",
    "make_task",
    "narma10",
    "nrmse",
    "second_order",
    "split_series",
]


@dataclass(frozen=True)
class Series:
    """Input/target time series of one task.

    Attributes
    ----------
    u : numpy.ndarray, shape (T, C)
        Inputs.
    y : numpy.ndarray, shape (T, K)
        Targets; ``y[t]`` is to be predicted from ``u[0..t]``.
    name : str
        Task name (with non-default parameters), for reports.
    washout : int, default 0
        Leading steps that only warm up the reservoir: drive it with
        ``u[:washout]`` but neither fit nor score ``y[:washout]``.
    """

    u: np.ndarray
    y: np.ndarray
    name: str
    washout: int = 0

    def __post_init__(self) -> None:
        if self.u.ndim != 2 or self.y.ndim != 2 or len(self.u) != len(self.y):
            raise ValueError(
                f"Series {self.name!r}: need u (T, C) and y (T, K) with equal T, "
                f"got {self.u.shape} and {self.y.shape}"
            )
        if not 0 <= self.washout <= len(self.u):
            raise ValueError(f"Series {self.name!r}: washout {self.washout} outside 0..{len(self.u)}")

    def __len__(self) -> int:
        return len(self.u)


def _check_n(n_steps: int, name: str) -> None:
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"{name}: n_steps must be a positive integer, got {n_steps}")


def _finite(series: Series, seed: int) -> Series:
    if not (np.all(np.isfinite(series.u)) and np.all(np.isfinite(series.y))):
        raise RuntimeError(f"{series.name} with seed {seed} diverged (non-finite values)")
    return series


def narma10(n_steps: int, seed: int = 0, discard: int = 200) -> Series:
    """NARMA10: tenth-order nonlinear autoregressive moving average.

    ``y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0..9} y(t-i) + 1.5 u(t-9) u(t) + 0.1``
    with ``u(t) ~ U[0, 0.5]`` and ``y = 0`` before the start.

    Parameters
    ----------
    n_steps : int
        Length of the returned series.
    seed : int
    discard : int, default 200
        Initial steps dropped (transient from the all-zero start).

    Returns
    -------
    Series
        ``u[k] = u(t)``, ``y[k] = y(t+1)`` with ``t = discard + k``; shapes (n_steps, 1).

    Raises
    ------
    RuntimeError
        If the recursion diverged (not observed for u in [0, 0.5]).
    """
    _check_n(n_steps, "narma10")
    rng = np.random.default_rng(seed)
    n = discard + n_steps
    u = rng.uniform(0.0, 0.5, n)
    y = np.zeros(n + 1)
    for t in range(9, n):
        y[t + 1] = (
            0.3 * y[t] + 0.05 * y[t] * y[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
        )
    s = Series(u[discard:, None], y[discard + 1 :, None], "narma10")
    return _finite(s, seed)


def second_order(n_steps: int, seed: int = 0, discard: int = 100) -> Series:
    """Second-order nonlinear dynamic system (Du et al. 2017).

    ``y(k) = 0.4 y(k-1) + 0.4 y(k-1) y(k-2) + 0.6 u(k)^3 + 0.1``,
    ``u(k) ~ U[0, 0.5]``, ``y = 0`` before the start.

    Parameters
    ----------
    n_steps : int
    seed : int
    discard : int, default 100
        Initial steps dropped.

    Returns
    -------
    Series
        ``u[k] = u(k')``, ``y[k] = y(k')`` with ``k' = discard + k``; shapes (n_steps, 1).
    """
    _check_n(n_steps, "second-order")
    rng = np.random.default_rng(seed)
    n = discard + n_steps
    u = rng.uniform(0.0, 0.5, n)
    y = np.zeros(n)
    for k in range(n):
        y1 = y[k - 1] if k >= 1 else 0.0
        y2 = y[k - 2] if k >= 2 else 0.0
        y[k] = 0.4 * y1 + 0.4 * y1 * y2 + 0.6 * u[k] ** 3 + 0.1
    return _finite(Series(u[discard:, None], y[discard:, None], "second-order"), seed)


def henon(n_steps: int, seed: int = 0, noise: float = 0.0, discard: int = 100) -> Series:
    """Henon map one-step-ahead prediction.

    ``x(n+1) = 1 - 1.4 x(n)^2 + y(n)``, ``y(n+1) = 0.3 x(n)``, started from a
    random point in [-0.1, 0.1]^2 (inside the basin of the attractor; a start
    that escapes is re-drawn).

    Parameters
    ----------
    n_steps : int
    seed : int
    noise : float, default 0.0
        Standard deviation of additive Gaussian noise on the *input*, as a
        fraction of the standard deviation of x (0.001 = 0.1 %).  The target
        stays clean.
    discard : int, default 100
        Initial iterations dropped.

    Returns
    -------
    Series
        ``u[k] = x(n) + noise``, ``y[k] = x(n+1)`` with ``n = discard + k``; shapes (n_steps, 1).
    """
    _check_n(n_steps, "henon")
    if noise < 0:
        raise ValueError(f"henon: noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    n = discard + n_steps + 1
    for _attempt in range(100):
        x = np.empty(n)
        x[0], yy = rng.uniform(-0.1, 0.1, 2)
        for i in range(n - 1):
            x[i + 1], yy = 1.0 - 1.4 * x[i] ** 2 + yy, 0.3 * x[i]
            if abs(x[i + 1]) > 10.0:
                break  # escaped to infinity: draw another start
        else:
            break
    else:  # pragma: no cover - practically impossible
        raise RuntimeError(f"henon: no bounded orbit found for seed {seed}")
    clean = x[discard : discard + n_steps]
    u = clean + noise * clean.std() * rng.standard_normal(n_steps) if noise > 0 else clean.copy()
    name = "henon" if noise == 0 else f"henon(noise={noise:g})"
    return _finite(Series(u[:, None], x[discard + 1 :, None], name), seed)


def mackey_glass(
    n_steps: int,
    seed: int = 0,
    tau: float = 17.0,
    dt: float = 1.0,
    substeps: int = 10,
    horizon: int = 1,
    discard: int = 1000,
) -> Series:
    """Mackey-Glass time-series prediction.

    Integrates ``dx/dt = 0.2 x(t-tau) / (1 + x(t-tau)^10) - 0.1 x(t)`` with the
    classical Runge-Kutta method (RK4) at step ``h = dt / substeps``, keeping
    the past in a buffer (the delayed value at a half step is the mean of its
    two neighbours), and samples every ``dt`` time units.  The initial history
    on [-tau, 0] is a constant drawn uniformly from [0.5, 1.5] (1.2 is the
    classical choice); being constant, it does not depend on the step size.

    Parameters
    ----------
    n_steps : int
        Number of samples returned.
    seed : int
    tau : float, default 17.0
        Delay (17 gives the usual mildly chaotic series); ``tau / h`` must be
        an integer.
    dt : float, default 1.0
        Sampling interval.
    substeps : int, default 10
        Integration steps per sample (h = 0.1 by default).
    horizon : int, default 1
        Prediction horizon in samples.
    discard : int, default 1000
        Initial samples dropped (transient of the random history).

    Returns
    -------
    Series
        ``u[k] = x(n dt)``, ``y[k] = x((n + horizon) dt)`` with ``n = discard + k``;
        shapes (n_steps, 1).
    """
    _check_n(n_steps, "mackey-glass")
    if substeps < 1 or dt <= 0 or tau <= 0 or horizon < 1:
        raise ValueError(
            f"mackey-glass: need substeps >= 1, dt > 0, tau > 0, horizon >= 1; "
            f"got substeps={substeps}, dt={dt}, tau={tau}, horizon={horizon}"
        )
    h = dt / substeps
    delay = round(tau / h)
    if abs(delay * h - tau) > 1e-9 * tau:
        raise ValueError(f"mackey-glass: tau={tau} is not a multiple of the step dt/substeps={h}")
    rng = np.random.default_rng(seed)
    n_samples = discard + n_steps + horizon
    n_int = (n_samples - 1) * substeps
    # x[i] = x(t_i), t_i = (i - delay) h; indices 0..delay are the history [-tau, 0].
    x = np.empty(delay + 1 + n_int)
    x[: delay + 1] = rng.uniform(0.5, 1.5)

    def f(xt: float, xd: float) -> float:
        return 0.2 * xd / (1.0 + xd**10) - 0.1 * xt

    for i in range(delay, delay + n_int):
        d0 = x[i - delay]
        d1 = x[i - delay + 1]
        dm = 0.5 * (d0 + d1)
        xi = x[i]
        k1 = f(xi, d0)
        k2 = f(xi + 0.5 * h * k1, dm)
        k3 = f(xi + 0.5 * h * k2, dm)
        k4 = f(xi + h * k3, d1)
        x[i + 1] = xi + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    samples = x[delay::substeps]
    assert len(samples) == n_samples
    u = samples[discard : discard + n_steps]
    y = samples[discard + horizon : discard + horizon + n_steps]
    name = "mackey-glass" if (tau, horizon) == (17.0, 1) else f"mackey-glass(tau={tau:g}, horizon={horizon})"
    return _finite(Series(u[:, None], y[:, None], name), seed)


#: CLI name -> generator; each is called as ``TASKS[name](n_steps, seed, **options)``.
TASKS: dict[str, Callable[..., Series]] = {
    "narma10": narma10,
    "second-order": second_order,
    "henon": henon,
    "mackey-glass": mackey_glass,
}


def make_task(name: str, n_steps: int, seed: int = 0, **options: Any) -> Series:
    """Generate a task by its CLI name (see :data:`TASKS`).

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the known names.
    """
    try:
        gen = TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None
    return gen(n_steps, seed, **options)


def split_series(
    series: Series, n_train: int, n_test: int, washout: int = 0
) -> tuple[Series, Series]:
    """Cut a series into a training and a test part, each with a warm-up.

    Layout (indices into ``series``)::

        [0, washout)                          training warm-up
        [washout, washout + n_train)          training steps (fitted)
        [n_train, washout + n_train)          test warm-up (end of the training region)
        [washout + n_train, ... + n_test)     test steps (scored)

    Both returned series carry ``washout`` as their :attr:`Series.washout`;
    drive the reservoir with all of ``u`` and use only ``y[washout:]``.  The
    test warm-up re-uses past inputs only, so no test target leaks into
    training and the fitted and scored steps are disjoint.

    Parameters
    ----------
    series : Series
    n_train, n_test : int
        Fitted / scored steps (>= 1).
    washout : int, default 0

    Returns
    -------
    train, test : Series
        Of lengths ``washout + n_train`` and ``washout + n_test``.

    Raises
    ------
    ValueError
        If the series is shorter than ``washout + n_train + n_test``.
    """
    if n_train < 1 or n_test < 1 or washout < 0:
        raise ValueError(f"need n_train, n_test >= 1 and washout >= 0, got {n_train}, {n_test}, {washout}")
    need = washout + n_train + n_test
    if len(series) < need:
        raise ValueError(
            f"series {series.name!r} has {len(series)} steps; washout {washout} + "
            f"n_train {n_train} + n_test {n_test} = {need} needed"
        )
    a, b, c = 0, washout + n_train, washout + n_train + n_test
    train = Series(series.u[a:b], series.y[a:b], series.name + "[train]", washout)
    test = Series(series.u[b - washout : c], series.y[b - washout : c], series.name + "[test]", washout)
    return train, test


@dataclass(frozen=True)
class InputScaler(Normaliser):
    """Maps each input channel to [0, 1] from training statistics (the reservoir expects [0, 1]).

    A :class:`~sw_model.frontend.Normaliser` whose bounds default to the
    minimum and maximum (percentiles 0 and 100) of the *training* inputs: the
    synthetic tasks have bounded inputs, so no outlier protection is needed.
    Values outside the training range (test data) are clipped.

    With ``taps > 1`` (config ``frontend.input_taps``) the output of step t is
    the scaled inputs of steps t, t-1, .., t-taps+1 side by side (``taps``
    times the channels; before the first step the delay line holds 0): the
    reservoir's mask then mixes the recent past into every pulse.

    Examples
    --------
    >>> train, test = split_series(narma10(1200, seed=1), 800, 300, washout=100)
    >>> scaler = InputScaler.fit(train.u)
    >>> u_test = scaler.transform(test.u)
    """

    @classmethod
    def fit(
        cls,
        seqs: Sequence[np.ndarray] | np.ndarray,
        lower_pct: float = 0.0,
        upper_pct: float = 100.0,
        taps: int = 1,
    ) -> InputScaler:
        """Fit on training inputs: one (T, C) array or a sequence of them."""
        base = super().fit(seqs, lower_pct, upper_pct)
        return cls(base.lo, base.hi, base.lower_pct, base.upper_pct, taps=int(taps))

    taps: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.taps <= MAX_INPUT_TAPS:
            raise ValueError(f"taps must be in 1..{MAX_INPUT_TAPS}, got {self.taps}")

    @property
    def n_outputs(self) -> int:
        """Width of :meth:`transform`'s output: channels times taps."""
        return self.n_channels * self.taps

    def transform(self, seq: np.ndarray) -> np.ndarray:
        """Scale a (T, C) sequence to [0, 1] per channel and spread it over the delay line: (T, C taps)."""
        x = super().transform(seq)
        if self.taps == 1:
            return x
        past = np.concatenate([np.zeros((self.taps - 1, x.shape[1])), x])
        return np.concatenate([past[self.taps - 1 - j:len(past) - j] for j in range(self.taps)], axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "taps": self.taps}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        if d.get("kind", cls.__name__) != cls.__name__:
            raise ValueError(f"dictionary describes a {d['kind']!r}, not a {cls.__name__!r}")
        base = Normaliser.from_dict({**d, "kind": Normaliser.__name__})
        return cls(base.lo, base.hi, base.lower_pct, base.upper_pct, taps=int(d.get("taps", 1)))


def nrmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Normalised root-mean-square error.

    ``sqrt(mean((y - yhat)^2)) / std(y)`` computed per output column (``std``
    with ``ddof=0``) and averaged over columns.  0 is perfect; predicting the
    mean of ``y`` gives 1.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray, shape (T,) or (T, K)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On a shape mismatch, an empty input or a constant target column.
    """
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.shape != yp.shape:
        raise ValueError(f"nrmse: shapes differ: y_true {yt.shape}, y_pred {yp.shape}")
    if yt.ndim == 1:
        yt, yp = yt[:, None], yp[:, None]
    if yt.ndim != 2 or yt.shape[0] == 0:
        raise ValueError(f"nrmse: need a non-empty (T,) or (T, K) array, got shape {yt.shape}")
    std = yt.std(axis=0)
    if np.any(std == 0):
        raise ValueError("nrmse: a target column is constant (std 0)")
    return float(np.mean(np.sqrt(np.mean((yt - yp) ** 2, axis=0)) / std))
