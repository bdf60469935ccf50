"""The echo state network baseline (reservoirpy, optional): the same inputs, splits and readout."""

from __future__ import annotations

from typing import Callable

import numpy as np

from memres.pygen.bench.settings import ESN_FSDD, ESN_SERIES_GRID
from memres.sw_model import classify, regression, speech
from memres.sw_model.frontend import FrontEndConfig
from memres.sw_model.readout import RidgeSolver, ridge

__all__ = ["esn_available", "make_esn", "esn_states", "esn_classify", "esn_regression"]


def esn_available() -> bool:
    """Whether reservoirpy (an optional dependency: ``pip install -e '.[bench]'``) can be imported."""
    try:
        import reservoirpy.nodes  # noqa: F401 - optional dependency, looked up when asked
    except ImportError:
        return False
    return True


def make_esn(params: dict, n_inputs: int, seed: int = 0):
    """A reservoirpy ``Reservoir`` with ``params`` (units, sr, lr, input_scaling)."""
    from reservoirpy.nodes import Reservoir  # optional dependency (see esn_available)
    return Reservoir(params["units"], sr=params["sr"], lr=params["lr"], input_scaling=params["input_scaling"],
                     input_dim=n_inputs, seed=seed)


def esn_states(esn, u: np.ndarray) -> np.ndarray:
    """States of the ESN over one sequence, started from the zero state."""
    if esn.initialized:
        esn.reset()
    return np.asarray(esn.run(u))


def esn_classify(train, test, cochleagrams: dict, lambdas, params: dict = ESN_FSDD,
                 progress: Callable[[int], None] | None = None,
                 frontend: FrontEndConfig = FrontEndConfig()) -> dict:
    """An ESN on the same front-end output, split, normaliser and readout as :func:`sw_model.speech.train_split`.

    The ESN replaces the reservoir; everything else is the float path of the
    memristive model: frame scores summed per utterance, ridge readout with lambda
    chosen by the same 5-fold cross-validation by take (``frontend``: the model's front-end
    settings, so both see the same input). Returns accuracy and early figures.
    """
    data = speech.prepare_split(train, test, cochleagrams, frontend)
    esn = make_esn(params, data.u[0].shape[1])
    runs = ((i, esn_states(esn, x)) for i, x in enumerate(data.u))
    choice, _, _, dec = speech.float_decisions(data, runs, params["units"], lambdas, progress)
    acc = classify.accuracy(dec, data.labels[data.test_idx])
    return {"accuracy": float(acc[-1]), "early": [float(a) for a in acc], "lambda": choice.lam, "params": params}


def esn_regression(task: str, cfg, *, seed: int = 0, read_noise: float = 0.0,
                   grid=ESN_SERIES_GRID) -> dict:
    """An ESN on the same series, input scaling, rows and lambda grid as :func:`sw_model.regression.train_regression`.

    Each candidate of ``grid`` gets its lambda on the validation rows (the last
    fifth of the training part); the candidate with the best validation NRMSE
    is refitted on the whole training part and scored on the test part.
    ``read_noise``: relative Gaussian noise on every state read (as the reservoir's ``read_noise``).
    """
    data = regression.make_data(task, cfg, seed=seed)
    u = regression.fit_scaler(data, cfg).transform(data.series.u)
    y = data.series.y
    fit, val = regression.fit_rows(data)
    tr, te = data.train_rows, data.test_rows
    best = None
    for i, params in enumerate(grid):
        x = esn_states(make_esn(params, u.shape[1], seed=seed), u)
        if read_noise:
            x = x * (1.0 + read_noise * np.random.default_rng([seed, 2, i]).standard_normal(x.shape))
        solve = RidgeSolver(regression.gram_of(x[fit], y[fit])).solve
        for lam in cfg.readout.lambdas:
            w, b = solve(lam)
            score = regression.nrmse(y[val], x[val] @ w + b)
            if best is None or score < best[0]:
                best = (score, lam, params, x)
    score, lam, params, x = best
    w, b = ridge(regression.gram_of(x[tr], y[tr]), lam)
    return {"nrmse": regression.nrmse(y[te], x[te] @ w + b), "val_nrmse": score, "lambda": lam, "params": params}

