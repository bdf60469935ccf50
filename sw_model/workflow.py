"""Train and evaluate models for the named tasks; what the ``memres`` commands call.

Each task has a default configuration (:data:`TASK_DEFAULTS`), the one
``memres train --task NAME`` uses without ``--config``; a configuration file
overrides it. :func:`train` returns a :class:`~sw_model.model_file.TrainedModel`
and its metrics; :func:`evaluate` recomputes the test figures of a saved
model from its configuration, its fitted preprocessing and its readouts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from . import classify, plots, regression, speech
from .config import ModelConfig, config_from_dict
from .datasets import DatasetError, list_recordings, loso_folds, standard_split
from .fixed import FixedReservoir, quantise_inputs
from .frontend import Normaliser, load_fsdd_features
from .model_file import TrainedModel
from .readout import IntReadout
from .reservoir import FloatReservoir
from .tasks import InputScaler

TASK_NAMES = ("fsdd", "narma10", "second-order", "henon", "mackey-glass")

#: Default configuration per task (overrides of the ModelConfig defaults).
TASK_DEFAULTS: dict[str, dict] = {
    # Weak pulses (alpha = 0.01) give memory over about ten frames (domain.md section 6) with
    # relaxation times inside the ESO range; the short pulse interval (dt = 0.5 ns) keeps
    # r = 0.997-0.998, so relaxation acts over hundreds of pulses.
    "fsdd": {"reservoir": {"n_devices": 200, "n_virtual": 10, "alpha": 0.01, "dt_ns": 0.5,
                           "tau": {"mode": "uniform", "low_ns": 159.0, "high_ns": 278.0},
                           "state_features": True}},
    # NARMA10 needs products of inputs ten steps apart; uncoupled devices forget within a few steps,
    # so a 12-step delay line on the host (frontend.input_taps) puts the recent past into every
    # pulse, and short relaxation times keep the devices fast (NRMSE 0.53 -> 0.18, docs/results.md).
    "narma10": {"reservoir": {"n_devices": 100, "n_virtual": 4, "alpha": 0.01, "v_min": -1.5,
                              "tau": {"mode": "log-spaced", "low_ns": 50.0, "high_ns": 1000.0},
                              "state_features": True},
                "frontend": {"input_taps": 12},
                # Weak pulses move the state by ~0.1 % per pulse: the integer model needs finer
                # state, tables and inputs to follow (NRMSE 0.68 with the 16-bit defaults, 0.59 here).
                "fixed": {"weight_bits": 12, "state_bits": 20, "decay_bits": 20, "lut_bits": 20,
                          "current_bits": 16, "input_bits": 12, "pulse_bits": 12}},
    "second-order": {"reservoir": {"n_devices": 40, "n_virtual": 10, "v_min": -1.0},
                     "fixed": {"weight_bits": 12}},
    "henon": {"reservoir": {"n_devices": 25, "n_virtual": 4, "v_min": -1.0},
              "fixed": {"weight_bits": 12}},
    "mackey-glass": {"reservoir": {"n_devices": 40, "n_virtual": 10, "v_min": -1.0},
                     "fixed": {"weight_bits": 12}},
}

#: Default FSDD location: the shared copy beside the project checkout.
DEFAULT_FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd"

Progress = Callable[[str, int], Callable[[int], None]]


def _no_progress(description: str, total: int) -> Callable[[int], None]:
    return lambda n: None


def default_config(task: str) -> ModelConfig:
    if task not in TASK_DEFAULTS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASK_NAMES)}")
    return config_from_dict(TASK_DEFAULTS[task])


class FsddNotFoundError(DatasetError, FileNotFoundError):
    """The FSDD folder does not exist (a user error, and still a FileNotFoundError for callers)."""


def fsdd_root(data_dir: str | Path | None) -> Path:
    root = Path(data_dir) if data_dir is not None else DEFAULT_FSDD
    if not root.exists():
        raise FsddNotFoundError(f"FSDD not found at {root}: pass --data DIR, or fetch it with 'memres data fsdd DIR'")
    return root


def cochleagrams(cfg: ModelConfig, recs, show: bool) -> dict[str, np.ndarray]:
    feats = load_fsdd_features(recs, speech.frontend_config(cfg), progress=show)
    return {str(r.path): f for r, f in zip(recs, feats)}


# --- training ---------------------------------------------------------------

def train(task: str, cfg: ModelConfig | None = None, *, data_dir: str | Path | None = None,
          split: str = "standard", seed: int = 0, noise: float = 0.0,
          progress: Progress = _no_progress, show_frontend_progress: bool = False) -> TrainedModel:
    """Train float and integer readouts for ``task``; metrics are in ``model.metrics``."""
    cfg = cfg if cfg is not None else default_config(task)
    if split not in ("standard", "loso"):
        raise ValueError(f"split {split!r} is not known: use 'standard' or 'loso'")
    if task == "fsdd":
        return _train_fsdd(cfg, fsdd_root(data_dir), split, progress, show_frontend_progress)
    if split != "standard":
        raise ValueError(f"--split loso applies to fsdd only, not {task!r}")
    data = regression.make_data(task, cfg, seed=seed, noise=noise)
    res = regression.train_regression(cfg, data)
    return TrainedModel(
        task=task, config=cfg, n_inputs=res.scaler.n_outputs, n_outputs=data.series.y.shape[1],
        w_float=res.w_float, b_float=res.b_float, readout_int=res.readout_int,
        preprocessing=res.scaler.to_dict(),
        task_params={"seed": seed, "noise": noise, "n_train": data.n_train, "n_test": data.n_test},
        metrics={"task": task, **res.metrics(), "notes": cfg.reservoir.notes()},
    )


def _train_fsdd(cfg: ModelConfig, root: Path, split: str, progress: Progress, show: bool) -> TrainedModel:
    recs = list_recordings(root)
    coch = cochleagrams(cfg, recs, show)
    train_recs, test_recs = standard_split(recs)
    tick = progress("standard split: float + integer reservoir", 2 * len(recs))
    res = speech.train_split(cfg, train_recs, test_recs, coch, progress=tick)
    metrics = {"task": "fsdd", "split": split, **res.metrics(), "notes": cfg.reservoir.notes()}
    if split == "loso":
        metrics["loso"] = loso_metrics(cfg, recs, coch, progress)
    return TrainedModel(
        task="fsdd", config=cfg, n_inputs=len(res.normaliser.lo), n_outputs=speech.N_CLASSES,
        w_float=res.w_float, b_float=res.b_float, readout_int=res.readout_int,
        preprocessing=res.normaliser.to_dict(), task_params={"data": str(root)}, metrics=metrics,
    )


def loso_metrics(cfg: ModelConfig, recs, coch, progress: Progress) -> dict:
    per = {}
    for speaker, tr, te in loso_folds(recs):
        tick = progress(f"leave out {speaker}", 2 * len(recs))
        m = speech.train_split(cfg, tr, te, coch, progress=tick).metrics()
        per[speaker] = {"float": m["float"]["accuracy"], "fixed": m["fixed"]["accuracy"]}
    return {
        "accuracy": float(np.mean([v["float"] for v in per.values()])),
        "fixed_accuracy": float(np.mean([v["fixed"] for v in per.values()])),
        "per_speaker": per,
    }


# --- evaluation ---------------------------------------------------------------

def evaluate(model: TrainedModel, *, data_dir: str | Path | None = None,
             plots_dir: str | Path | None = None, progress: Progress = _no_progress) -> dict:
    """Recompute the test metrics of a saved model (and write PNG plots if asked)."""
    if model.readout_int is None or model.w_float is None:
        raise ValueError("this model has no trained readout to evaluate")
    if model.task == "fsdd":
        root = fsdd_root(data_dir if data_dir is not None else model.task_params.get("data"))
        return _evaluate_fsdd(model, root, plots_dir, progress)
    return _evaluate_regression(model, plots_dir)


def _evaluate_fsdd(model: TrainedModel, root: Path, plots_dir, progress: Progress) -> dict:
    cfg = model.config
    recs = list_recordings(root)
    _, test = standard_split(recs)
    coch = cochleagrams(cfg, test, False)
    norm = Normaliser.from_dict(model.preprocessing)
    u = [norm.transform(coch[str(r.path)]) for r in test]
    labels = np.array([r.digit for r in test])
    res_f = FloatReservoir(cfg.reservoir, model.n_inputs)
    res_x = FixedReservoir(cfg.reservoir, cfg.fixed, model.n_inputs)
    u_int = [quantise_inputs(x, cfg.fixed.input_bits) for x in u]
    tick = progress("test set: float + integer reservoir", 2 * len(test))
    # Only the per-sequence sums are needed: the reservoirs accumulate them without keeping features.
    ends = np.array([classify.prefix_ends(len(x)) for x in u])
    sf = classify.SequenceSums(res_f.sequence_sums(u, ends), ends)
    tick(len(test))
    sat = classify.Saturation.of(res_x.k)
    sx = classify.SequenceSums(res_x.sequence_sums(u_int, ends), ends, sat)
    long = [i for i, x in enumerate(u_int) if len(x) > sat.max_frames]
    # Beyond max_frames the hardware's sums may saturate: decisions_int needs those sequences' frames.
    for j, feats in res_x.run([u_int[i] for i in long]):
        sx.frames[long[j]] = np.asarray(feats)
    tick(len(test))
    dec_f = classify.decisions_float(sf, model.w_float, model.b_float)
    dec_x = classify.decisions_int(sx, model.readout_int)
    acc_f, acc_x = classify.accuracy(dec_f, labels), classify.accuracy(dec_x, labels)
    metrics = {
        "task": "fsdd", "n_test": len(test),
        "float": {"accuracy": float(acc_f[-1])}, "fixed": {"accuracy": float(acc_x[-1])},
        "early": [{"fraction": fr, "float": float(a), "fixed": float(b)}
                  for fr, a, b in zip(classify.EARLY_FRACTIONS, acc_f, acc_x)],
        "confusion_fixed": classify.confusion(labels, dec_x[:, -1], speech.N_CLASSES).tolist(),
    }
    if plots_dir is not None:
        metrics["plots"] = plots.fsdd_plots(Path(plots_dir), model, labels, dec_f, dec_x, u[0])
    return metrics


def _evaluate_regression(model: TrainedModel, plots_dir) -> dict:
    cfg, tp = model.config, model.task_params
    data = regression.make_data(model.task, cfg, n_train=tp["n_train"], n_test=tp["n_test"],
                                seed=tp["seed"], noise=tp["noise"])
    scaler = InputScaler.from_dict(model.preprocessing)
    xf, xi = regression.features(cfg, data, scaler)
    te = data.test_rows
    y = data.series.y[te]
    pred_f = xf[te] @ model.w_float + model.b_float
    ro: IntReadout = model.readout_int
    pred_x = ro(xi[te]) * ro.scale
    metrics = {"task": model.task, "n_test": int(len(y)),
               "float": {"nrmse": regression.nrmse(y, pred_f)}, "fixed": {"nrmse": regression.nrmse(y, pred_x)}}
    if plots_dir is not None:
        u = scaler.transform(data.series.u)
        metrics["plots"] = plots.regression_plots(Path(plots_dir), model, y, pred_f, pred_x, u[:200])
    return metrics

