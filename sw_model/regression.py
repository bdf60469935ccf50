"""Time-series tasks (NARMA10, second-order system, Henon, Mackey-Glass): per-step regression.

The reservoir runs over one continuous series (state carried from the
training part into the test part, as in the authors' code). The input scaler
and the readout see the training part only; the first ``washout`` steps only
warm the reservoir up. Lambda is chosen on the last fifth of the training
part; the integer readout's lambda is chosen after quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ModelConfig
from .fixed import FixedReservoir, bias_limit, quantise_inputs
from .frontend import FrontEndConfig
from .classify import int_readouts
from .readout import Gram, IntReadout, RidgeSolver, ridge
from .reservoir import FloatReservoir
from .tasks import InputScaler, Series, make_task, nrmse

#: Default lengths (steps) of the training and test parts.
N_TRAIN, N_TEST = 2000, 1000


@dataclass
class RegressionData:
    series: Series
    n_train: int
    n_test: int
    washout: int

    @property
    def train_rows(self) -> slice:
        return slice(self.washout, self.washout + self.n_train)

    @property
    def test_rows(self) -> slice:
        return slice(self.washout + self.n_train, self.washout + self.n_train + self.n_test)


def make_data(task: str, cfg: ModelConfig, n_train: int = N_TRAIN, n_test: int = N_TEST,
              seed: int = 0, noise: float = 0.0) -> RegressionData:
    """Generate the series of a task, long enough for washout + train + test."""
    washout = cfg.readout.washout
    options = {"noise": noise} if task == "henon" else {}
    if noise and task != "henon":
        raise ValueError(f"input noise is offered for the henon task only, not {task!r}")
    series = make_task(task, washout + n_train + n_test, seed=seed, **options)
    return RegressionData(series, n_train, n_test, washout)


def fit_scaler(data: RegressionData, cfg: ModelConfig) -> InputScaler:
    """The input scaler of the training part, with the delay line of ``frontend.input_taps``."""
    taps = FrontEndConfig(**cfg.frontend).input_taps
    return InputScaler.fit(data.series.u[:data.washout + data.n_train], taps=taps)


def fit_rows(data: RegressionData) -> tuple[slice, slice]:
    """Rows used to fit and to validate lambda, both inside the training part."""
    start, stop = data.train_rows.start, data.train_rows.stop
    cut = stop - max(1, data.n_train // 5)
    return slice(start, cut), slice(cut, stop)


def gram_of(x: np.ndarray, y: np.ndarray) -> Gram:
    g = Gram(x.shape[1], y.shape[1])
    g.add(x, y)
    return g


@dataclass
class RegressionResult:
    scaler: InputScaler
    lam_float: float
    lam_fixed: float
    w_float: np.ndarray
    b_float: np.ndarray
    readout_int: IntReadout | None
    y_test: np.ndarray
    pred_float: np.ndarray
    pred_fixed: np.ndarray | None

    def metrics(self) -> dict:
        out = {"n_test": int(len(self.y_test)),
               "float": {"nrmse": nrmse(self.y_test, self.pred_float), "lambda": self.lam_float}}
        if self.pred_fixed is not None:
            out["fixed"] = {"nrmse": nrmse(self.y_test, self.pred_fixed), "lambda": self.lam_fixed}
        return out


def features(cfg: ModelConfig, data: RegressionData, scaler: InputScaler) -> tuple[np.ndarray, np.ndarray]:
    """Float and integer features of the whole series, (T, F) each."""
    u = scaler.transform(data.series.u)
    xf = FloatReservoir(cfg.reservoir, u.shape[1]).run_batch(u[None])[0]
    u_int = quantise_inputs(u, cfg.fixed.input_bits)
    xi = FixedReservoir(cfg.reservoir, cfg.fixed, u.shape[1]).run_batch(u_int[None])[0]
    return xf, xi


def train_regression(cfg: ModelConfig, data: RegressionData, with_fixed: bool = True) -> RegressionResult:
    """Fit float and integer ridge readouts on the training part; predict the test part."""
    scaler = fit_scaler(data, cfg)
    xf, xi = features(cfg, data, scaler)
    y = data.series.y
    fit, val = fit_rows(data)
    tr, te = data.train_rows, data.test_rows
    lambdas = cfg.readout.lambdas

    def val_score(pred: np.ndarray) -> float:
        return nrmse(y[val], pred)

    solve = RidgeSolver(gram_of(xf[fit], y[fit])).solve
    scores = {lam: val_score(xf[val] @ w + b) for lam in lambdas for w, b in [solve(lam)]}
    lam_f = min(scores, key=lambda lam: (scores[lam], -lam))
    w, b = ridge(gram_of(xf[tr], y[tr]), lam_f)
    pred_f = xf[te] @ w + b

    ro, pred_x, lam_x = None, None, float("nan")
    if with_fixed:
        k = FixedReservoir(cfg.reservoir, cfg.fixed, scaler.n_outputs).k
        make = int_readouts(cfg.fixed.weight_bits, bias_limit(k))
        on_fit = make(gram_of(xi[fit], y[fit]))
        scores = {lam: val_score(r(xi[val]) * r.scale) for lam in lambdas for r in [on_fit(lam)]}
        lam_x = min(scores, key=lambda lam: (scores[lam], -lam))
        ro = make(gram_of(xi[tr], y[tr]))(lam_x)
        pred_x = ro(xi[te]) * ro.scale
    return RegressionResult(scaler, lam_f, lam_x, w, b, ro, y[te], pred_f, pred_x)
