"""``memres bench``: measure the whole system (accuracy, speed, hardware) beside an echo state network.

::

    memres bench [--out DIR] [--sections speed,accuracy,hardware] [--tasks fsdd,henon,...] [--quick]
                 [--loso/--no-loso] [--loso-config FILE] [--boards icebreaker,ulx3s|none] [--lanes 1,2,4]
                 [--json] [-q]

Three sections, each runnable alone and each written to the report as soon
as it finishes (the cheap ones run first, so they never wait on a board build):

* **speed**: golden-model frames per second (float, integer) against a
  reservoirpy echo state network on the same input; checked clocks per second
  of the RTL simulation (Verilator); the time to generate the Verilog.
* **accuracy**: per task the float model, the integer model and the RTL (a
  sample, checked bit-exact against the integer model every clock), beside a
  reservoirpy ESN trained on the same features and splits with the same
  readout and lambda selection. FSDD: standard split, early recognition
  (25/50/75/100 % of each utterance), leave-one-speaker-out; NARMA10, the
  second-order system, Henon (noise-free and with 0.1 % read noise),
  Mackey-Glass: test NRMSE.
* **hardware**: per board and lane count, a bitstream (:func:`pygen.build.build`,
  which skips tools whose inputs did not change): Fmax, utilisation, frames
  per second, real-time factor, build time.

Output in ``--out``: ``results.json`` (everything), ``report.md`` (tables, the
command, the git commit, the machine) and PNG plots. reservoirpy is optional
(``pip install -e '.[bench]'``); without it the ESN figures read "not installed".
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["Settings", "run_bench", "speed_section", "accuracy_section", "hardware_section", "golden_speed",
           "esn_available", "esn_classify", "esn_regression", "write_report", "add_arguments", "run",
           "SECTIONS", "BENCH_TASKS"]

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("speed", "accuracy", "hardware")
#: Benchmark task name -> (workflow task, configuration overrides, label).
BENCH_TASKS: dict[str, tuple[str, dict, str]] = {
    "fsdd": ("fsdd", {}, "FSDD spoken digits"),
    "narma10": ("narma10", {}, "NARMA10"),
    "second-order": ("second-order", {}, "second-order system"),
    "henon": ("henon", {}, "Henon map"),
    "henon-noise": ("henon", {"reservoir": {"read_noise": 0.001}}, "Henon map, 0.1 % read noise"),
    "mackey-glass": ("mackey-glass", {}, "Mackey-Glass"),
}
#: Relative read noise of the "henon-noise" task; the ESN's states get the same (multiplicative) noise.
READ_NOISE = 0.001
#: ESN of the speech task (a fixed, common choice: 500 tanh units).
ESN_FSDD = {"units": 500, "sr": 0.9, "lr": 0.3, "input_scaling": 0.5}
#: ESN candidates of the time-series tasks; the one with the best validation NRMSE is used
#: (validated on the same rows, with the same lambda grid, as the reservoir's readout).
ESN_SERIES_GRID = (
    {"units": 200, "sr": 0.9, "lr": 0.3, "input_scaling": 0.5},
    {"units": 200, "sr": 0.95, "lr": 1.0, "input_scaling": 0.5},
    {"units": 500, "sr": 0.9, "lr": 1.0, "input_scaling": 0.2},
)
NOT_INSTALLED = "not installed"

Log = Callable[[str], None]


@dataclass
class Settings:
    """What a bench run measures (the defaults are the full run; :meth:`quick` the test's)."""

    tasks: tuple[str, ...] = tuple(BENCH_TASKS)
    loso: bool = True
    fsdd_config: str | None = None        # FSDD configuration (default: the task's built-in one)
    loso_config: str | None = None        # configuration of the LOSO runs (default: fsdd_config)
    data: str | None = None               # FSDD folder
    esn: bool = True
    rtl: bool = True
    rtl_lanes: int = 8                    # capped at the largest power of two <= N
    rtl_sequences: int = 10               # FSDD test utterances simulated
    rtl_steps: int = 200                  # time-series test steps simulated
    boards: tuple[str, ...] = ("icebreaker", "ulx3s")
    lanes: tuple[int, ...] = (1,)
    hardware_source: str | None = None    # model or configuration built (default: fsdd model, else its config)
    speed_devices: int = 40
    speed_virtual: int = 10
    speed_batch: int = 256
    speed_frames: int = 43
    speed_repeats: int = 3
    esn_units_speed: int = 500
    rtl_speed_task: str = "fsdd"          # whose default configuration the RTL clocks/s are measured on
    rtl_speed_lanes: int = 8
    rtl_speed_sequences: int = 8
    rtl_speed_frames: int = 20
    quick: bool = False

    @classmethod
    def quick_settings(cls, **over) -> "Settings":
        """Small and fast: Henon only, no LOSO, no boards, a tiny speed run (the test's settings)."""
        base = dict(tasks=("henon",), loso=False, boards=(), rtl_lanes=1, rtl_steps=20, speed_devices=10,
                    speed_virtual=4, speed_batch=16, speed_frames=20, speed_repeats=1, esn_units_speed=100,
                    rtl_speed_task="henon", rtl_speed_lanes=1, rtl_speed_sequences=4, rtl_speed_frames=10,
                    quick=True)
        base.update(over)
        return cls(**base)


# --- machine and provenance -----------------------------------------------------------------

def machine_info() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    info = {"cpus": os.cpu_count(), "cpu_model": model, "system": f"{platform.system()} {platform.release()}",
            "machine": platform.machine(), "python": platform.python_version(), "numpy": numpy.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import reservoirpy
        info["reservoirpy"] = reservoirpy.__version__
    except ImportError:
        info["reservoirpy"] = NOT_INSTALLED
    return info


def git_info() -> dict:
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "sw_model",
                                                                       "pygen", "hdl", "testbenches"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


# --- the echo state network baseline ----------------------------------------------------------

def esn_available() -> bool:
    try:
        import reservoirpy.nodes  # noqa: F401
    except ImportError:
        return False
    return True


def _esn(params: dict, n_inputs: int, seed: int = 0):
    from reservoirpy.nodes import Reservoir
    return Reservoir(params["units"], sr=params["sr"], lr=params["lr"], input_scaling=params["input_scaling"],
                     input_dim=n_inputs, seed=seed)


def _esn_states(esn, u: np.ndarray) -> np.ndarray:
    """States of the ESN over one sequence, started from the zero state."""
    if esn.initialized:
        esn.reset()
    return np.asarray(esn.run(u))


def esn_classify(train, test, cochleagrams: dict, lambdas, params: dict = ESN_FSDD,
                 progress: Callable[[int], None] | None = None) -> dict:
    """An ESN on the same front-end output, split, normaliser and readout as :func:`sw_model.speech.train_split`.

    The ESN replaces the reservoir; everything else is the float path of the
    memristive model: frame scores summed per utterance, ridge readout with lambda
    chosen by the same 5-fold cross-validation by take. Returns accuracy and early figures.
    """
    from sw_model import classify, speech

    data = speech.prepare_split(train, test, cochleagrams)
    esn = _esn(params, data.u[0].shape[1])
    runs = ((i, _esn_states(esn, x)) for i, x in enumerate(data.u))
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
    from sw_model import regression
    from sw_model.readout import RidgeSolver, ridge

    data = regression.make_data(task, cfg, seed=seed)
    u = regression.fit_scaler(data).transform(data.series.u)
    y = data.series.y
    fit, val = regression._fit_rows(data)
    tr, te = data.train_rows, data.test_rows
    best = None
    for i, params in enumerate(grid):
        x = _esn_states(_esn(params, u.shape[1], seed=seed), u)
        if read_noise:
            x = x * (1.0 + read_noise * np.random.default_rng([seed, 2, i]).standard_normal(x.shape))
        solve = RidgeSolver(regression._gram(x[fit], y[fit])).solve
        for lam in cfg.readout.lambdas:
            w, b = solve(lam)
            score = regression.nrmse(y[val], x[val] @ w + b)
            if best is None or score < best[0]:
                best = (score, lam, params, x)
    score, lam, params, x = best
    w, b = ridge(regression._gram(x[tr], y[tr]), lam)
    return {"nrmse": regression.nrmse(y[te], x[te] @ w + b), "val_nrmse": score, "lambda": lam, "params": params}


# --- speed ---------------------------------------------------------------------------------------

def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def golden_speed(devices: int = 40, virtual: int = 10, batch: int = 256, frames: int = 43, channels: int = 32,
                 esn_units: int = 500, repeats: int = 3) -> dict:
    """Frames per second of the float and integer golden models and of a reservoirpy ESN, same random input.

    The input has the shape of the FSDD front-end output (32 channels, 43 frames
    per sequence), in a batch; the best of ``repeats`` runs counts.
    """
    from sw_model.config import config_from_dict
    from sw_model.fixed import FixedReservoir, quantise_inputs
    from sw_model.reservoir import FloatReservoir

    cfg = config_from_dict({"reservoir": {"n_devices": devices, "n_virtual": virtual, "alpha": 0.01,
                                          "tau": 20000.0, "state_features": True}})
    u = np.random.default_rng(0).random((batch, frames, channels))
    n = batch * frames
    out = {"devices": devices, "virtual_nodes": virtual, "batch": batch, "frames": n, "channels": channels}
    fr = FloatReservoir(cfg.reservoir, channels)
    out["float_frames_per_s"] = n / _best_of(lambda: fr.run_batch(u), repeats)
    xr = FixedReservoir(cfg.reservoir, cfg.fixed, channels)
    ui = quantise_inputs(u, cfg.fixed.input_bits)
    out["fixed_frames_per_s"] = n / _best_of(lambda: xr.run_batch(ui), repeats)
    out["float_device_updates_per_s"] = out["float_frames_per_s"] * devices * virtual
    out["esn_units"] = esn_units
    if esn_available():
        esn = _esn({"units": esn_units, "sr": 0.5, "lr": 0.3, "input_scaling": 0.1}, channels)
        seqs = list(u)
        esn.run(seqs[0])  # initialise
        out["esn_frames_per_s"] = n / _best_of(lambda: esn.run(seqs), repeats)
    else:
        out["esn_frames_per_s"] = NOT_INSTALLED
    return out


def _config_file(task: str, out: Path, overrides: dict | None = None) -> Path:
    from sw_model import workflow
    cfg = workflow.default_config(task)
    if overrides:
        cfg = cfg.replace(**overrides)
    path = out / "configs" / f"{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg.to_dict(), indent=1))
    return path


def _lanes_for(n_devices: int, wanted: int) -> int:
    lanes = 1
    while lanes * 2 <= min(n_devices, max(1, wanted)):
        lanes *= 2
    return lanes


def speed_section(s: Settings, out: Path, log: Log) -> dict:
    """Golden-model frames/s, RTL checked clocks/s, Verilog generation time."""
    t0 = time.perf_counter()
    log(f"speed: golden model, N={s.speed_devices} ML={s.speed_virtual}, batch {s.speed_batch} x "
        f"{s.speed_frames} frames")
    golden = golden_speed(s.speed_devices, s.speed_virtual, s.speed_batch, s.speed_frames,
                          esn_units=s.esn_units_speed, repeats=s.speed_repeats)
    result = {"golden": golden}
    if s.rtl:
        result["generate"] = _generate_time(s, out, log)
        result["rtl"] = _rtl_speed(s, out, log)
    result["seconds"] = time.perf_counter() - t0
    return result


def _generate_time(s: Settings, out: Path, log: Log) -> dict:
    from pygen.generate import generate
    from sw_model import workflow
    cfg = workflow.default_config(s.rtl_speed_task)
    lanes = _lanes_for(cfg.reservoir.n_devices, s.rtl_speed_lanes)
    src = _config_file(s.rtl_speed_task, out)
    log(f"speed: generating the Verilog of the {s.rtl_speed_task} default configuration, {lanes} lane(s)")
    t = time.perf_counter()
    manifest = generate(src, out / "speed" / "verilog", lanes=lanes)
    return {"task": s.rtl_speed_task, "lanes": lanes, "seconds": time.perf_counter() - t,
            "cycles_per_frame": manifest["cycles_per_frame"], "n_devices": cfg.reservoir.n_devices,
            "n_virtual": cfg.reservoir.n_virtual}


def _rtl_speed(s: Settings, out: Path, log: Log) -> dict:
    """Checked clocks per second: the core of a task's default configuration (random readout) on Verilator."""
    from pygen.verify import check_design, load_design, random_sequences, write_verilog
    from sw_model import workflow
    cfg = workflow.default_config(s.rtl_speed_task)
    lanes = _lanes_for(cfg.reservoir.n_devices, s.rtl_speed_lanes)
    design, _ = load_design(_config_file(s.rtl_speed_task, out), lanes=lanes)
    work = (out / "speed" / "rtl").resolve()
    v = work / "memres_top.v"
    stated = write_verilog(design, v)
    rng = np.random.default_rng(1)
    seqs = [random_sequences(design, rng, 1, s.rtl_speed_frames)[0] for _ in range(s.rtl_speed_sequences)]
    seqs = [np.resize(q, (s.rtl_speed_frames, q.shape[1])) for q in seqs]   # full length: a fixed workload
    log(f"speed: RTL simulation of the {s.rtl_speed_task} core ({lanes} lanes), {len(seqs)} x "
        f"{s.rtl_speed_frames} frames on Verilator (the first build takes a while)")
    t = time.perf_counter()
    rep = check_design(design, v, seqs, sim="verilator", run_dir=work, seed=1, stated=stated)
    return {"task": s.rtl_speed_task, "lanes": lanes, "passed": rep["passed"], "cycles": rep["cycles"],
            "compared": rep["compared"], "sim_seconds": rep["seconds"],
            "cycles_per_second": rep["cycles_per_second"], "cycles_per_cpu_second": rep.get("cycles_per_cpu_second"),
            "build_seconds": rep["build_seconds"], "build_cached": rep["build_cached"],
            "wall_seconds": time.perf_counter() - t}


# --- accuracy --------------------------------------------------------------------------------------

def _config(task: str, overrides: dict, path: str | None):
    from sw_model import workflow
    from sw_model.config import load_config
    cfg = load_config(path) if path else workflow.default_config(task)
    return cfg.replace(**overrides) if overrides else cfg


def _describe(cfg) -> str:
    r = cfg.reservoir
    return f"N={r.n_devices}, ML={r.n_virtual}, alpha={r.alpha:g}, dt={r.dt_ns:g} ns, config {cfg.hash()}"


def accuracy_section(s: Settings, out: Path, log: Log, bars=None) -> dict:
    """Float, integer, RTL (sample) and ESN figures per task."""
    t0 = time.perf_counter()
    bars = bars or (lambda description, total: (lambda n: None))
    rows, extra = [], {}
    esn_ok = s.esn and esn_available()
    esn_status = "ok" if esn_ok else ("skipped" if not s.esn else NOT_INSTALLED)
    for name in s.tasks:
        if name not in BENCH_TASKS:
            raise ValueError(f"unknown bench task {name!r}; choose from {', '.join(BENCH_TASKS)}")
        t = time.perf_counter()
        if name == "fsdd":
            fsdd_rows, fsdd_extra = _fsdd(s, out, log, bars, esn_ok, esn_status)
            rows += fsdd_rows
            extra.update(fsdd_extra)
        else:
            rows.append(_series(name, s, out, log, esn_ok, esn_status))
        log(f"accuracy: {name} done in {time.perf_counter() - t:.0f} s")
    return {"rows": rows, **extra, "esn_status": esn_status, "seconds": time.perf_counter() - t0}


def _series(name: str, s: Settings, out: Path, log: Log, esn_ok: bool, esn_status: str) -> dict:
    from sw_model import workflow
    task, overrides, label = BENCH_TASKS[name]
    cfg = _config(task, overrides, None)
    log(f"accuracy: {label} ({_describe(cfg)}): training float + integer readouts")
    t = time.perf_counter()
    model = workflow.train(task, cfg)
    path = model.save(out / "models" / f"{name}.npz")
    m = model.metrics
    row = {"task": name, "label": label, "split": "test", "metric": "nrmse", "n_test": m["n_test"],
           "config": _describe(cfg), "float": m["float"]["nrmse"], "fixed": m["fixed"]["nrmse"],
           "train_seconds": time.perf_counter() - t, "model": str(path)}
    if esn_ok:
        log(f"accuracy: {label}: ESN baseline ({len(ESN_SERIES_GRID)} candidates)")
        e = esn_regression(task, cfg, read_noise=cfg.reservoir.read_noise)
        row["esn"], row["esn_params"] = e["nrmse"], e["params"]
    else:
        row["esn"] = esn_status
    if s.rtl:
        row["rtl"] = _rtl_sample(path, name, cfg, s.rtl_steps, s, out, log)
    return row


def _fsdd(s: Settings, out: Path, log: Log, bars, esn_ok: bool, esn_status: str) -> tuple[list, dict]:
    from sw_model import speech, workflow
    from sw_model.datasets import list_recordings, loso_folds, standard_split
    from sw_model.model_file import TrainedModel

    cfg = _config("fsdd", {}, s.fsdd_config)
    root = workflow.fsdd_root(s.data)
    recs = list_recordings(root)
    log(f"accuracy: FSDD ({len(recs)} recordings, {_describe(cfg)}): front-end")
    coch = workflow._cochleagrams(cfg, recs, False)
    train, test = standard_split(recs)
    t = time.perf_counter()
    res = speech.train_split(cfg, train, test, coch, progress=bars("FSDD standard split: float + integer",
                                                                    2 * len(recs)))
    m = res.metrics()
    model = TrainedModel(task="fsdd", config=cfg, n_inputs=len(res.normaliser.lo), n_outputs=speech.N_CLASSES,
                         w_float=res.w_float, b_float=res.b_float, readout_int=res.readout_int,
                         preprocessing=res.normaliser.to_dict(), task_params={"data": str(root)},
                         metrics={"task": "fsdd", "split": "standard", **m})
    path = model.save(out / "models" / "fsdd.npz")
    std = {"task": "fsdd", "label": "FSDD spoken digits", "split": "standard", "metric": "accuracy",
           "n_test": m["n_test"], "config": _describe(cfg), "float": m["float"]["accuracy"],
           "fixed": m["fixed"]["accuracy"], "train_seconds": time.perf_counter() - t, "model": str(path)}
    early = [{"fraction": e["fraction"], "float": e["float"], "fixed": e["fixed"]} for e in m["early"]]
    if esn_ok:
        log(f"accuracy: FSDD standard split: ESN baseline ({ESN_FSDD['units']} units)")
        e = esn_classify(train, test, coch, cfg.readout.lambdas, progress=bars("FSDD standard split: ESN",
                                                                               len(recs)))
        std["esn"], std["esn_params"] = e["accuracy"], e["params"]
        for row, a in zip(early, e["early"]):
            row["esn"] = a
    else:
        std["esn"] = esn_status
        for row in early:
            row["esn"] = esn_status
    if s.rtl:
        std["rtl"] = _rtl_sample(path, "fsdd", cfg, s.rtl_sequences, s, out, log, data_dir=root)
    rows = [std]
    if s.loso:
        lcfg = _config("fsdd", {}, s.loso_config or s.fsdd_config)
        lcoch = coch if lcfg.frontend == cfg.frontend else workflow._cochleagrams(lcfg, recs, False)
        log(f"accuracy: FSDD leave-one-speaker-out ({_describe(lcfg)})")
        t = time.perf_counter()
        lo = workflow._loso(lcfg, recs, lcoch, bars)
        row = {"task": "fsdd", "label": "FSDD spoken digits", "split": "loso", "metric": "accuracy",
               "n_test": len(recs), "config": _describe(lcfg), "float": lo["accuracy"],
               "fixed": lo["fixed_accuracy"], "per_speaker": lo["per_speaker"],
               "train_seconds": time.perf_counter() - t}
        if esn_ok:
            per = {}
            for speaker, tr, te in loso_folds(recs):
                per[speaker] = esn_classify(tr, te, lcoch, lcfg.readout.lambdas,
                                            progress=bars(f"ESN, leave out {speaker}", len(recs)))["accuracy"]
                row["per_speaker"][speaker]["esn"] = per[speaker]
            row["esn"] = float(np.mean(list(per.values())))
        else:
            row["esn"] = esn_status
        rows.append(row)
    return rows, {"early": early}


def _rtl_sample(path: Path, name: str, cfg, count: int, s: Settings, out: Path, log: Log, data_dir=None) -> dict:
    """Check the RTL of a trained model on a sample of its test data, every clock against the integer model."""
    from pygen.verify import verify
    lanes = _lanes_for(cfg.reservoir.n_devices, s.rtl_lanes)
    what = f"{count} test utterances" if name == "fsdd" else f"the first {count} test steps"
    log(f"accuracy: {name}: RTL on Verilator ({lanes} lanes), {what}")
    t = time.perf_counter()
    r = verify(path, lanes=lanes, sequences=count, random_count=0, waves=False, data_dir=data_dir,
               out_dir=(out / "rtl" / name).resolve())
    row = {"passed": r["passed"], "lanes": lanes, "sequences": r["sequences"], "frames": r["frames"],
           "cycles": r["cycles"], "compared": r["compared"], "mismatches": r["mismatches"],
           "cycles_per_second": r["cycles_per_second"], "wall_seconds": time.perf_counter() - t,
           "build_seconds": r["runs"][0]["build_seconds"], "stimulus": r["stimulus"]}
    if "accuracy" in r:
        row["accuracy"] = r["accuracy"]
        row["matches_integer_model"] = r["matches_integer_model"]
    return row


# --- hardware ----------------------------------------------------------------------------------------

def hardware_section(s: Settings, out: Path, log: Log) -> dict:
    """One bitstream per board and lane count; a design that does not fit is a row, not a failure."""
    from pygen.build import BuildError, build
    t0 = time.perf_counter()
    source = s.hardware_source
    if source is None and not s.boards:
        return {"rows": [], "source": None, "seconds": 0.0}
    if source is None:
        model = out / "models" / "fsdd.npz"
        source = str(model) if model.is_file() else str(_config_file("fsdd", out))
    rows = []
    for board in s.boards:
        for lanes in s.lanes:
            log(f"hardware: {board}, {lanes} lane(s): building a bitstream of {source} (minutes)")
            row = {"board": board, "lanes": lanes, "source": source}
            t = time.perf_counter()
            try:
                r = build(source, board, out / "hardware" / f"{board}-{lanes}lanes", lanes=lanes)
                row["ok"] = True
            except BuildError as e:
                r = e.report or {}
                row["ok"], row["error"] = False, str(e)
            row["seconds"] = time.perf_counter() - t
            for key in ("device", "clock_mhz", "fmax_mhz", "meets_clock", "utilisation", "cycles_per_frame",
                        "frames_per_s", "frames_per_s_at_fmax", "realtime_factor", "link_frames_per_s", "reused"):
                if key in r:
                    row[key] = r[key]
            rows.append(row)
            log(f"hardware: {board}, {lanes} lane(s): " + (f"Fmax {row['fmax_mhz']:.1f} MHz" if "fmax_mhz" in row
                                                            else f"failed: {row.get('error')}"))
    return {"rows": rows, "source": source, "seconds": time.perf_counter() - t0}


# --- report ------------------------------------------------------------------------------------------

def _num(v, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v if v is not None
                                                                                            else "-")


def _pct(v) -> str:
    return f"{100 * v:.2f} %" if isinstance(v, (int, float)) else str(v if v is not None else "-")


def _rtl_text(r: dict | None, metric: str) -> str:
    if not r:
        return "not run"
    if not r["passed"]:
        return f"**MISMATCH** ({r['mismatches']} after {r['cycles']:,} clocks)"
    text = (f"bit-exact on {r['sequences']} sequence(s), {r['frames']:,} frames, {r['compared']:,} values "
            f"({r['cycles']:,} clocks)")
    if "accuracy" in r:
        text += (f"; RTL accuracy on them {_pct(r['accuracy'])}, decisions "
                 f"{'equal to' if r['matches_integer_model'] else 'DIFFERENT FROM'} the integer model's")
    return text


def write_report(out: Path, results: dict) -> Path:
    """Write ``report.md`` and the PNG plots from ``results`` (any subset of sections)."""
    plots = _plots(out, results)
    results["plots"] = [str(p.name) for p in plots]
    L = ["# memres bench", ""]
    m, g = results["machine"], results["git"]
    L += [f"Command: `{results['command']}`", "",
          f"Commit: `{g.get('commit')}`" + (" (with uncommitted changes)" if g.get("dirty") else ""), "",
          f"Machine: {m['cpus']} CPU(s), {m['cpu_model']}, {m['system']}, Python {m['python']}, numpy {m['numpy']}, "
          f"reservoirpy {m['reservoirpy']}; load average at the start {m.get('load_average')}; {m['date']}.", ""]
    if results["settings"].get("quick"):
        L += ["**Quick run** (`--quick`): tiny settings for a smoke test; these are not results.", ""]
    sec = results["sections"]
    for name, md in (("accuracy", lambda: _accuracy_md(sec["accuracy"])),
                     ("speed", lambda: _speed_md(sec["speed"], sec.get("hardware"))),
                     ("hardware", lambda: _hardware_md(sec["hardware"]))):
        if name in sec:
            body = md()
            L += body[:2] + _measured_md(sec[name].get("measured"), results["command"]) + body[2:]
    if plots:
        L += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = out / "report.md"
    path.write_text("\n".join(L) + "\n")
    return path


def _measured_md(m: dict | None, command: str) -> list[str]:
    if not m:
        return []
    text = f"Measured {m['date']}, load average {m.get('load_average')} at the start, {m.get('load_average_end')} at the end"
    if m.get("command") != command:
        text += f", by an earlier run: `{m['command']}` (commit `{(m.get('commit') or '')[:10]}`)"
    return [text + ".", ""]


def _accuracy_md(a: dict) -> list[str]:
    L = ["## Accuracy", "",
         "Float and integer: the golden models (`sw_model`). RTL: the generated Verilog simulated on Verilator "
         "for a sample of the test data and compared with the integer model on every clock. ESN: a reservoirpy "
         "echo state network in place of the memristive reservoir, on the same inputs, splits, readout and "
         "lambda selection.", "",
         "| task | split | configuration | metric | float | integer | ESN | RTL (sample) |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in a["rows"]:
        f = _pct if r["metric"] == "accuracy" else (lambda v: _num(v, ".4f"))
        L.append(f"| {r['label']} | {r['split']} ({r['n_test']} {'utterances' if r['task'] == 'fsdd' else 'steps'})"
                 f" | {r['config']} | {'accuracy' if r['metric'] == 'accuracy' else 'NRMSE'} | {f(r['float'])} | "
                 f"{f(r['fixed'])} | {f(r['esn'])} | "
                 f"{_rtl_text(r.get('rtl'), r['metric']) if r['split'] != 'loso' else 'same core as standard'} |")
    L.append("")
    configs = {r["split"]: r["config"] for r in a["rows"] if r["task"] == "fsdd"}
    if "loso" in configs and configs["loso"] != configs.get("standard"):
        L += [f"FSDD leave-one-speaker-out ran on another configuration ({configs['loso']}) than the standard "
              f"split ({configs.get('standard')}), to keep its six trainings short (`--loso-config`).", ""]
    esn_params = {r["task"]: r.get("esn_params") for r in a["rows"] if r.get("esn_params")}
    if esn_params:
        L += ["ESN settings (reservoirpy `Reservoir`, tanh, ridge readout on its states): " +
              "; ".join(f"{k}: {v['units']} units, spectral radius {v['sr']}, leak {v['lr']}, input scaling "
                        f"{v['input_scaling']}" for k, v in esn_params.items()) +
              ". Time series: the candidate with the best validation NRMSE of a 3-point grid. "
              "With read noise the ESN's states get the same relative noise. For NARMA10 the ESN uses 200-500 "
              "units against the reservoir's N x ML features.", ""]
    if a.get("early"):
        L += ["### Early recognition (FSDD standard split, accuracy after a fraction of each utterance)", "",
              "| fraction | float | integer | ESN |", "| --- | --- | --- | --- |"]
        for e in a["early"]:
            L.append(f"| {e['fraction']:.0%} | {_pct(e['float'])} | {_pct(e['fixed'])} | {_pct(e['esn'])} |")
        L.append("")
    for r in a["rows"]:
        if r["split"] == "loso":
            L += ["### Leave-one-speaker-out per speaker", "", "| speaker | float | integer | ESN |",
                  "| --- | --- | --- | --- |"]
            for sp, v in r["per_speaker"].items():
                L.append(f"| {sp} | {_pct(v['float'])} | {_pct(v['fixed'])} | {_pct(v.get('esn', r['esn']))} |")
            L.append("")
    L += [f"Section time: {a['seconds']:.0f} s.", ""]
    return L


def _speed_md(sp: dict, hw: dict | None) -> list[str]:
    gs = sp["golden"]
    L = ["## Speed", "",
         f"Golden model: N={gs['devices']}, ML={gs['virtual_nodes']}, a batch of {gs['batch']} random sequences of "
         f"{gs['frames'] // gs['batch']} frames x {gs['channels']} channels (the FSDD front-end's shape); best of "
         "the repeats. ESN: reservoirpy, same input.", "",
         "| system | frames/s |", "| --- | --- |",
         f"| float golden model (numpy, batched) | {_num(gs['float_frames_per_s'], ',.0f')} |",
         f"| integer golden model (numpy int64) | {_num(gs['fixed_frames_per_s'], ',.0f')} |",
         f"| reservoirpy ESN, {gs['esn_units']} units | {_num(gs['esn_frames_per_s'], ',.0f')} |", ""]
    if "rtl" in sp:
        r, gen = sp["rtl"], sp["generate"]
        L += ["| step | figure |", "| --- | --- |",
              f"| Verilog generation, {gen['task']} default (N={gen['n_devices']}, ML={gen['n_virtual']}), "
              f"{gen['lanes']} lanes | {gen['seconds']:.1f} s |",
              f"| RTL simulation, checked every clock (Verilator, {r['task']} core, {r['lanes']} lanes) | "
              f"{r['cycles_per_second']:,.0f} clocks/s ({r['cycles']:,} clocks, {r['compared']:,} values, "
              f"{'pass' if r['passed'] else 'MISMATCH'}) |",
              f"| Verilator build of that core | {r['build_seconds']:.1f} s"
              f"{' (cached)' if r['build_cached'] else ''} |"]
        if hw and hw.get("rows"):
            for h in hw["rows"]:
                L.append(f"| bitstream build, {h['board']}, {h['lanes']} lane(s) | {h['seconds']:.0f} s"
                         f"{' (reused)' if h.get('reused') else ''} |")
        else:
            L.append("| bitstream build | not run in this bench (see the hardware section / docs/boards.md) |")
        L.append("")
    L += [f"Section time: {sp['seconds']:.0f} s.", ""]
    return L


def _hardware_md(hw: dict) -> list[str]:
    L = ["## Hardware", ""]
    if not hw["rows"]:
        return L + ["No boards built (`--boards none`); docs/boards.md has the measured builds.", ""]
    L += [f"Source: `{hw['source']}`.", ""]
    L += ["| board | lanes | fits / meets clock | clock (MHz) | Fmax (MHz) | utilisation | clocks/frame | "
          "frames/s | real-time factor | build |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for h in hw["rows"]:
        util = ", ".join(f"{k} {v}" if not isinstance(v, dict) else f"{k} {v.get('used')}/{v.get('available')}"
                         for k, v in (h.get("utilisation") or {}).items())
        ok = "yes" if h["ok"] else f"no: {h.get('error', '')[:120]}"
        L.append(f"| {h['board']} | {h['lanes']} | {ok} | {_num(h.get('clock_mhz'), '.1f')} | "
                 f"{_num(h.get('fmax_mhz'), '.2f')} | {util or '-'} | {_num(h.get('cycles_per_frame'), 'd')} | "
                 f"{_num(h.get('frames_per_s'), ',.0f')} | {_num(h.get('realtime_factor'), '.3g')} | "
                 f"{h['seconds']:.0f} s{' (reused)' if h.get('reused') else ''} |")
    return L + [""]


def _plots(out: Path, results: dict) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        made.append(out / name)
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)

    sec = results["sections"]
    colours = {"float": "tab:blue", "integer": "tab:orange", "ESN": "tab:green"}

    def val(v):
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan

    acc = sec.get("accuracy")
    if acc and acc["rows"]:
        cls = [r for r in acc["rows"] if r["metric"] == "accuracy"]
        reg = [r for r in acc["rows"] if r["metric"] == "nrmse"]
        fig, axes = plt.subplots(1, int(bool(cls)) + int(bool(reg)), figsize=(5 + 4 * bool(cls and reg), 3.8),
                                 squeeze=False)
        panels = [(cls, "accuracy (%)", 100.0, lambda r: f"FSDD {r['split']}"),
                  (reg, "test NRMSE (lower is better)", 1.0, lambda r: r["task"])]
        k = 0
        for rows, ylabel, scale, name in panels:
            if not rows:
                continue
            ax = axes[0][k]
            k += 1
            x = np.arange(len(rows))
            for j, (key, lab) in enumerate((("float", "float"), ("fixed", "integer"), ("esn", "ESN"))):
                ax.bar(x + (j - 1) * 0.27, [scale * val(r[key]) for r in rows], 0.27, label=lab,
                       color=colours[lab])
            ax.set_xticks(x, [name(r) for r in rows], rotation=20, ha="right")
            ax.set_ylabel(ylabel)
            if scale == 1.0:
                ax.set_yscale("log")
            else:
                ax.set_ylim(0, 100)
            ax.legend(fontsize=8)
        fig.suptitle("Accuracy: memristive reservoir (float, integer = RTL) vs ESN")
        save(fig, "accuracy.png")
    if acc and acc.get("early"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        fr = [100 * e["fraction"] for e in acc["early"]]
        for key, lab in (("float", "float"), ("fixed", "integer"), ("esn", "ESN")):
            ax.plot(fr, [100 * val(e[key]) for e in acc["early"]], "o-", label=lab, color=colours[lab])
        ax.set_xlabel("part of each utterance heard (%)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title("FSDD early recognition (standard split)")
        ax.legend()
        save(fig, "early.png")
    sp = sec.get("speed")
    if sp:
        g = sp["golden"]
        names = ["float", "integer", f"ESN {g['esn_units']}"]
        vals = [val(g["float_frames_per_s"]), val(g["fixed_frames_per_s"]), val(g["esn_frames_per_s"])]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.bar(names, vals, color=[colours["float"], colours["integer"], colours["ESN"]])
        ax.set_ylabel("frames per second")
        ax.set_title(f"Golden model speed (N={g['devices']}, ML={g['virtual_nodes']})")
        save(fig, "speed.png")
    hw = sec.get("hardware")
    if hw and any("fmax_mhz" in r for r in hw["rows"]):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        for board in sorted({r["board"] for r in hw["rows"]}):
            rows = [r for r in hw["rows"] if r["board"] == board and "fmax_mhz" in r]
            a1.plot([r["lanes"] for r in rows], [r["fmax_mhz"] for r in rows], "o-", label=board)
            a2.plot([r["lanes"] for r in rows], [r.get("frames_per_s_at_fmax", np.nan) for r in rows], "o-",
                    label=board)
        a1.set_xlabel("lanes")
        a1.set_ylabel("Fmax (MHz)")
        a2.set_xlabel("lanes")
        a2.set_ylabel("frames/s at Fmax")
        a2.set_yscale("log")
        a1.legend()
        save(fig, "hardware.png")
    return made


# --- the run -------------------------------------------------------------------------------------------

def run_bench(s: Settings, out: str | Path, sections=SECTIONS, *, command: str = "", log: Log | None = None,
              bars=None, keep: bool = True) -> dict:
    """Run ``sections`` (in the order speed, accuracy, hardware), writing the report after each.

    ``keep``: sections not run now are kept from ``out/results.json`` of an earlier
    run (each section records its own command, date and load), so a slow section
    can be measured once and a cheap one re-run beside it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = log or (lambda msg: None)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    results = {"command": command, "machine": machine_info(), "git": git_info(), "settings": asdict(s),
               "sections": {}}
    old = {}
    if keep and (out / "results.json").is_file():
        try:
            old = json.loads((out / "results.json").read_text())
        except ValueError:
            old = {}
    kept = {k: v for k, v in (old.get("sections") or {}).items()
            if k in SECTIONS and k not in sections and isinstance(v, dict)}
    for v in kept.values():
        v.setdefault("measured", {"command": old.get("command"), "commit": (old.get("git") or {}).get("commit"),
                                  "date": (old.get("machine") or {}).get("date"),
                                  "load_average": (old.get("machine") or {}).get("load_average")})
    runners = {"speed": lambda: speed_section(s, out, log), "accuracy": lambda: accuracy_section(s, out, log, bars),
               "hardware": lambda: hardware_section(s, out, log)}

    def save() -> None:
        results["sections"] = {k: results["sections"].get(k, kept.get(k)) for k in SECTIONS
                               if k in results["sections"] or k in kept}
        results["report"] = str(write_report(out, results))
        (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")

    for name in SECTIONS:
        if name in sections:
            started = {"command": command, "commit": results["git"].get("commit"),
                       "date": machine_info()["date"], "load_average": _load(), "quick": s.quick}
            results["sections"][name] = {**runners[name](), "measured": {**started, "load_average_end": _load()}}
            save()
    if not sections or not results["sections"]:
        save()
    return results


def _load():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip() and x.strip().lower() != "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", default="bench-out", metavar="DIR",
                        help="output folder: report.md, results.json, PNGs, models, RTL runs (default bench-out)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default all)")
    parser.add_argument("--tasks", help=f"comma-separated subset of {','.join(BENCH_TASKS)} (default all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings for a smoke test: henon only, no LOSO, no boards, small speed runs")
    parser.add_argument("--loso", action=argparse.BooleanOptionalAction, default=None,
                        help="FSDD leave-one-speaker-out (default: on, off with --quick)")
    parser.add_argument("--fsdd-config", metavar="FILE", help="FSDD configuration (default: the built-in one)")
    parser.add_argument("--loso-config", metavar="FILE",
                        help="configuration of the LOSO runs (default: --fsdd-config); a smaller one keeps LOSO short")
    parser.add_argument("--data", help="FSDD folder (default ../shared/data/fsdd beside the checkout)")
    parser.add_argument("--boards", help="comma-separated boards for the hardware section, or 'none' "
                                         "(default icebreaker,ulx3s)")
    parser.add_argument("--lanes", help="comma-separated lane counts for the hardware section (default 1)")
    parser.add_argument("--hardware-source", metavar="FILE",
                        help="model or configuration to build (default: the bench's FSDD model, else its configuration)")
    parser.add_argument("--rtl-lanes", type=int, help="lanes of the RTL checked in the accuracy section (default 8)")
    parser.add_argument("--rtl-sequences", type=int, help="FSDD test utterances simulated in RTL (default 10)")
    parser.add_argument("--rtl-steps", type=int, help="time-series test steps simulated in RTL (default 200)")
    parser.add_argument("--no-rtl", action="store_true", help="no RTL simulation")
    parser.add_argument("--no-esn", action="store_true", help="no echo state network baseline")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the sections of an earlier run in --out (default: keep those not run now)")
    from pygen.cli import add_output_flags
    add_output_flags(parser, "print one JSON object with the results on stdout", "no progress messages")


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, tuple[str, ...]]:
    over = {}
    if args.tasks:
        over["tasks"] = _list(args.tasks)
    if args.loso is not None:
        over["loso"] = args.loso
    if args.boards is not None:
        over["boards"] = _list(args.boards)
    if args.lanes:
        over["lanes"] = tuple(int(x) for x in _list(args.lanes))
    for key in ("fsdd_config", "loso_config", "data", "hardware_source", "rtl_lanes", "rtl_sequences", "rtl_steps"):
        if getattr(args, key) is not None:
            over[key] = getattr(args, key)
    if args.no_rtl:
        over["rtl"] = False
    if args.no_esn:
        over["esn"] = False
    s = Settings.quick_settings(**over) if args.quick else Settings(**over)
    unknown = [t for t in s.tasks if t not in BENCH_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(BENCH_TASKS)}")
    sections = _list(args.sections)
    bad = [x for x in sections if x not in SECTIONS]
    if bad:
        raise ValueError(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    return s, sections


def command_line(args: argparse.Namespace) -> str:
    """The ``memres bench`` command that repeats this run (from the parsed options)."""
    parts = ["memres bench"]
    if args.sections != ",".join(SECTIONS):
        parts += ["--sections", args.sections]
    if args.quick:
        parts.append("--quick")
    if args.loso is not None:
        parts.append("--loso" if args.loso else "--no-loso")
    for key in ("tasks", "fsdd_config", "loso_config", "data", "boards", "lanes", "hardware_source", "rtl_lanes",
                "rtl_sequences", "rtl_steps"):
        if getattr(args, key) is not None:
            parts += ["--" + key.replace("_", "-"), str(getattr(args, key))]
    parts += [flag for flag, on in (("--no-rtl", args.no_rtl), ("--no-esn", args.no_esn)) if on]
    parts += ["-o", args.out]
    return " ".join(shlex.quote(p) if i else p for i, p in enumerate(parts))


def run(args: argparse.Namespace) -> int:
    from pygen.cli import emit, err, progress_bars
    s, sections = settings_from_args(args)
    command = command_line(args)
    log = (lambda msg: None) if args.quiet else (lambda msg: err.print(f"[bold]bench[/] {msg}"))
    with progress_bars(not args.quiet) as bars:
        results = run_bench(s, args.out, sections, command=command, log=log, bars=bars, keep=not args.fresh)
    emit(args, results, lambda r: err.print(f"report: {r['report']}"))
    return 0


if __name__ == "__main__":
    from pygen.cli import main
    sys.exit(main(["bench", *sys.argv[1:]]))
