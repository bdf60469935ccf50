"""The three bench sections: speed, accuracy and hardware; each returns its part of ``results.json``."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from memres.pygen.bench.esn import esn_available, esn_classify, esn_regression, make_esn
from memres.pygen.bench.settings import BENCH_TASKS, ESN_FSDD, ESN_SERIES_GRID, NOT_INSTALLED, Settings
from memres.pygen.build import BuildError, build
from memres.pygen.generate import generate
from memres.pygen.verify import check_design, load_design, random_sequences, verify, write_verilog
from memres.sw_model import progress, speech, workflow
from memres.pygen.train import check_training_memory
from memres.sw_model.atomic import atomic_write_text
from memres.sw_model.config import config_from_dict, load_config
from memres.sw_model.datasets import list_recordings, loso_folds, standard_split
from memres.sw_model.fixed import FixedReservoir, quantise_inputs
from memres.sw_model.model_file import TrainedModel
from memres.sw_model.errors import MemresError
from memres.sw_model.reservoir import FloatReservoir

__all__ = ["speed_section", "accuracy_section", "hardware_section", "golden_speed", "config_file", "lanes_for"]

logger = logging.getLogger(__name__)


class BenchTaskError(MemresError, ValueError):
    """A bench task that does not exist."""


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

    cfg = config_from_dict({"reservoir": {"n_devices": devices, "n_virtual": virtual, "alpha": 0.01,
                                          "tau": 20000.0, "state_features": True}})
    u = np.random.default_rng(0).random((batch, frames, channels))
    n = batch * frames
    out = {"devices": devices, "virtual_nodes": virtual, "batch": batch, "frames": n, "channels": channels}
    fr = FloatReservoir(cfg.reservoir, channels)
    out["backend"] = fr.backend           # numba kernels when numba imports, else numpy
    out["float_frames_per_s"] = n / _best_of(lambda: fr.run_batch(u), repeats)
    xr = FixedReservoir(cfg.reservoir, cfg.fixed, channels)
    ui = quantise_inputs(u, cfg.fixed.input_bits)
    out["fixed_frames_per_s"] = n / _best_of(lambda: xr.run_batch(ui), repeats)
    out["float_device_updates_per_s"] = out["float_frames_per_s"] * devices * virtual
    out["esn_units"] = esn_units
    if esn_available():
        esn = make_esn({"units": esn_units, "sr": 0.5, "lr": 0.3, "input_scaling": 0.1}, channels)
        seqs = list(u)
        esn.run(seqs[0])  # initialise
        out["esn_frames_per_s"] = n / _best_of(lambda: esn.run(seqs), repeats)
    else:
        out["esn_frames_per_s"] = NOT_INSTALLED
    return out


def config_file(task: str, out: Path, overrides: dict | None = None) -> Path:
    """Write the default configuration of ``task`` (with ``overrides``) to ``out/configs/TASK.json``."""
    cfg = workflow.default_config(task)
    if overrides:
        cfg = cfg.replace(**overrides)
    path = out / "configs" / f"{task}.json"
    atomic_write_text(path, json.dumps(cfg.to_dict(), indent=1))
    return path


def lanes_for(n_devices: int, wanted: int) -> int:
    """The largest power of two <= ``wanted`` and <= ``n_devices`` (at least 1)."""
    lanes = 1
    while lanes * 2 <= min(n_devices, max(1, wanted)):
        lanes *= 2
    return lanes


def speed_section(s: Settings, out: Path) -> dict:
    """Golden-model frames/s, RTL checked clocks/s, Verilog generation time."""
    t0 = time.perf_counter()
    logger.info(f"speed: golden model, N={s.speed_devices} ML={s.speed_virtual}, batch {s.speed_batch} x "
        f"{s.speed_frames} frames")
    golden = golden_speed(s.speed_devices, s.speed_virtual, s.speed_batch, s.speed_frames,
                          esn_units=s.esn_units_speed, repeats=s.speed_repeats)
    result = {"golden": golden}
    if s.rtl:
        result["generate"] = _generate_time(s, out)
        result["rtl"] = _rtl_speed(s, out)
    result["seconds"] = time.perf_counter() - t0
    return result


def _generate_time(s: Settings, out: Path) -> dict:
    cfg = workflow.default_config(s.rtl_speed_task)
    lanes = lanes_for(cfg.reservoir.n_devices, s.rtl_speed_lanes)
    src = config_file(s.rtl_speed_task, out)
    logger.info(f"speed: generating the Verilog of the {s.rtl_speed_task} default configuration, {lanes} lane(s)")
    t = time.perf_counter()
    manifest = generate(src, out / "speed" / "verilog", lanes=lanes)
    return {"task": s.rtl_speed_task, "lanes": lanes, "seconds": time.perf_counter() - t,
            "cycles_per_frame": manifest["cycles_per_frame"], "n_devices": cfg.reservoir.n_devices,
            "n_virtual": cfg.reservoir.n_virtual}


def _rtl_speed(s: Settings, out: Path) -> dict:
    """Checked clocks per second: the core of a task's default configuration (random readout) on Verilator."""
    cfg = workflow.default_config(s.rtl_speed_task)
    lanes = lanes_for(cfg.reservoir.n_devices, s.rtl_speed_lanes)
    design, _ = load_design(config_file(s.rtl_speed_task, out), lanes=lanes)
    work = (out / "speed" / "rtl").resolve()
    v = work / "memres_top.v"
    stated = write_verilog(design, v)
    rng = np.random.default_rng(1)
    seqs = [random_sequences(design, rng, 1, s.rtl_speed_frames)[0] for _ in range(s.rtl_speed_sequences)]
    seqs = [np.resize(q, (s.rtl_speed_frames, q.shape[1])) for q in seqs]   # full length: a fixed workload
    logger.info(f"speed: RTL simulation of the {s.rtl_speed_task} core ({lanes} lanes), {len(seqs)} x "
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
    cfg = load_config(path) if path else workflow.default_config(task)
    return cfg.replace(**overrides) if overrides else cfg


def _describe(cfg) -> str:
    r = cfg.reservoir
    return f"N={r.n_devices}, ML={r.n_virtual}, alpha={r.alpha:g}, dt={r.dt_ns:g} ns, config {cfg.hash()}"


def check_memory(s: Settings) -> None:
    """Refuse (:class:`sw_model.budget.MemoryBudgetError`) settings whose trainings would not fit in memory."""
    for name in s.tasks:
        if name not in BENCH_TASKS:
            continue
        task, overrides, label = BENCH_TASKS[name]
        check_training_memory(task, _config(task, overrides, s.fsdd_config if task == "fsdd" else None),
                              f"bench {label}")
        if task == "fsdd" and s.loso:
            check_training_memory(task, _config("fsdd", {}, s.loso_config or s.fsdd_config),
                                  "bench FSDD leave-one-speaker-out")


def accuracy_section(s: Settings, out: Path, bars=None) -> dict:
    """Float, integer, RTL (sample) and ESN figures per task."""
    t0 = time.perf_counter()
    bars = bars or progress.factory
    rows, extra = [], {}
    esn_ok = s.esn and esn_available()
    esn_status = "ok" if esn_ok else ("skipped" if not s.esn else NOT_INSTALLED)
    for name in s.tasks:
        if name not in BENCH_TASKS:
            raise BenchTaskError(f"unknown bench task {name!r}; choose from {', '.join(BENCH_TASKS)}")
        t = time.perf_counter()
        if name == "fsdd":
            fsdd_rows, fsdd_extra = _fsdd(s, out, bars, esn_ok, esn_status)
            rows += fsdd_rows
            extra.update(fsdd_extra)
        else:
            rows.append(_series(name, s, out, esn_ok, esn_status))
        logger.info(f"accuracy: {name} done in {time.perf_counter() - t:.0f} s")
    return {"rows": rows, **extra, "esn_status": esn_status, "seconds": time.perf_counter() - t0}


def _series(name: str, s: Settings, out: Path, esn_ok: bool, esn_status: str) -> dict:
    task, overrides, label = BENCH_TASKS[name]
    cfg = _config(task, overrides, None)
    logger.info(f"accuracy: {label} ({_describe(cfg)}): training float + integer readouts")
    t = time.perf_counter()
    model = workflow.train(task, cfg)
    path = model.save(out / "models" / f"{name}.npz")
    m = model.metrics
    row = {"task": name, "label": label, "split": "test", "metric": "nrmse", "n_test": m["n_test"],
           "config": _describe(cfg), "float": m["float"]["nrmse"], "fixed": m["fixed"]["nrmse"],
           "train_seconds": time.perf_counter() - t, "model": str(path)}
    if esn_ok:
        logger.info(f"accuracy: {label}: ESN baseline ({len(ESN_SERIES_GRID)} candidates)")
        e = esn_regression(task, cfg, read_noise=cfg.reservoir.read_noise)
        row["esn"], row["esn_params"] = e["nrmse"], e["params"]
    else:
        row["esn"] = esn_status
    if s.rtl:
        row["rtl"] = _rtl_sample(path, name, cfg, s.rtl_steps, s, out)
    return row


def _fsdd(s: Settings, out: Path, bars, esn_ok: bool, esn_status: str) -> tuple[list, dict]:

    cfg = _config("fsdd", {}, s.fsdd_config)
    root = workflow.fsdd_root(s.data)
    recs = list_recordings(root)
    logger.info(f"accuracy: FSDD ({len(recs)} recordings, {_describe(cfg)}): front-end")
    coch = workflow.cochleagrams(cfg, recs, False)
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
        logger.info(f"accuracy: FSDD standard split: ESN baseline ({ESN_FSDD['units']} units)")
        e = esn_classify(train, test, coch, cfg.readout.lambdas, progress=bars("FSDD standard split: ESN",
                                                                               len(recs)),
                         frontend=speech.frontend_config(cfg))
        std["esn"], std["esn_params"] = e["accuracy"], e["params"]
        for row, a in zip(early, e["early"]):
            row["esn"] = a
    else:
        std["esn"] = esn_status
        for row in early:
            row["esn"] = esn_status
    if s.rtl:
        std["rtl"] = _rtl_sample(path, "fsdd", cfg, s.rtl_sequences, s, out, data_dir=root)
    rows = [std]
    if s.loso:
        lcfg = _config("fsdd", {}, s.loso_config or s.fsdd_config)
        lcoch = coch if lcfg.frontend == cfg.frontend else workflow.cochleagrams(lcfg, recs, False)
        logger.info(f"accuracy: FSDD leave-one-speaker-out ({_describe(lcfg)})")
        t = time.perf_counter()
        lo = workflow.loso_metrics(lcfg, recs, lcoch, bars)
        row = {"task": "fsdd", "label": "FSDD spoken digits", "split": "loso", "metric": "accuracy",
               "n_test": len(recs), "config": _describe(lcfg), "float": lo["accuracy"],
               "fixed": lo["fixed_accuracy"], "per_speaker": lo["per_speaker"],
               "train_seconds": time.perf_counter() - t}
        if esn_ok:
            per = {}
            for speaker, tr, te in loso_folds(recs):
                per[speaker] = esn_classify(tr, te, lcoch, lcfg.readout.lambdas,
                                            progress=bars(f"ESN, leave out {speaker}", len(recs)),
                                            frontend=speech.frontend_config(lcfg))["accuracy"]
                row["per_speaker"][speaker]["esn"] = per[speaker]
            row["esn"] = float(np.mean(list(per.values())))
        else:
            row["esn"] = esn_status
        rows.append(row)
    return rows, {"early": early}


def _rtl_sample(path: Path, name: str, cfg, count: int, s: Settings, out: Path, data_dir=None) -> dict:
    """Check the RTL of a trained model on a sample of its test data, every clock against the integer model."""
    lanes = lanes_for(cfg.reservoir.n_devices, s.rtl_lanes)
    what = f"{count} test utterances" if name == "fsdd" else f"the first {count} test steps"
    logger.info(f"accuracy: {name}: RTL on Verilator ({lanes} lanes), {what}")
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

def hardware_section(s: Settings, out: Path) -> dict:
    """One bitstream per board and lane count; a design that does not fit is a row, not a failure."""
    t0 = time.perf_counter()
    source = s.hardware_source
    if source is None and not s.boards:
        return {"rows": [], "source": None, "seconds": 0.0}
    if source is None:
        model = out / "models" / "fsdd.npz"
        source = str(model) if model.is_file() else str(config_file("fsdd", out))
    rows = []
    for board in s.boards:
        for lanes in s.lanes:
            logger.info(f"hardware: {board}, {lanes} lane(s): building a bitstream of {source} (minutes)")
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
            logger.info(f"hardware: {board}, {lanes} lane(s): " + (f"Fmax {row['fmax_mhz']:.1f} MHz" if "fmax_mhz" in row
                                                            else f"failed: {row.get('error')}"))
    return {"rows": rows, "source": source, "seconds": time.perf_counter() - t0}

