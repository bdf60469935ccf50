"""``memres verify``: simulate a generated core and compare it with the integer model, transaction by transaction.

::

    memres verify MODEL [--verilog FILE] [--sim verilator|icarus] [--engine native|cocotb] [--seeds N]
                  [--waves] [--lanes N] [--readout parallel|serial] [--json]

    verify("model.npz", lanes=8)          # -> {"cycles": ..., "compared": ..., "mismatches": 0, ...}

Generates the Verilog (or takes ``--verilog``: a hand-edited design, or a
netlist written by a synthesis tool), runs it (Verilator with the native C++
testbench, or cocotb) with random valid gaps and back-pressure, records every
transaction and compares them with :mod:`testbenches.predict` (see
``docs/verification.md``). Stimulus: for a model, its test data (FSDD test
utterances through the model's normaliser, or the regression series' test
part) plus random sequences; for a configuration, random sequences and a
random readout written through the ``load`` port. The first mismatch of a
run is reported with the clock, the signal or cell, expected and got, the
seed, a command that reproduces it, and a waveform.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from memres.hdl.verilog import TRACE_PAYLOAD, TRACE_VALID, design_core, to_verilog
from memres.pygen.console import MODEL_HELP, MODEL_METAVAR, add_output_flags
from memres.pygen.options import HardwareOptions
from memres.testbenches import native
from memres.testbenches.check import compare, format_mismatch, write_report
from memres.testbenches.harness import HARNESS_TOP, harness_verilog
from memres.testbenches.job import Job, save_job
from memres.testbenches.record import prepare
from memres.testbenches.verilator_coverage import COVERAGE_ARGS, COVERAGE_FILE, format_summary, merge, read_coverage, \
    summarise, uncovered
from memres.hdl.top import core_timing
from memres.testbenches.predict import Design, random_readout, read_ports
from memres.testbenches.stimulus import CORNER_HANDSHAKES, STIMULI, corner_reloads, corner_sequences, \
    corner_reset, random_sequences, saturation_runs
from memres.sw_model.atomic import check_output_path, json_default
from memres.sw_model.errors import MemresError
from amaranth.hdl import Shape
from memres.pygen.source import SourceError, load_source
from memres.sw_model import classify
from memres.sw_model import regression, speech, workflow
from memres.sw_model.datasets import list_recordings, standard_split
from memres.sw_model.fixed import FixedReservoir
from memres.sw_model.fixed import quantise_inputs
from memres.sw_model.frontend import Normaliser, load_fsdd_features
from memres.sw_model.tasks import InputScaler
from memres.testbenches.runner import run_cocotb, yosys_cell_model
from memres.hdl.boards import BOARDS
from memres.pygen import verified
from memres.pygen.boardcheck import check_uart, summary as uart_summary

__all__ = ["VerifyError", "verify", "check_design", "resolve_engine", "ENGINES", "load_design", "random_sequences", "model_test_data",
           "write_verilog", "check_output_folder", "add_arguments", "run", "summary"]

REPO = Path(__file__).resolve().parents[1]
TOP = "memres_top"
#: A mismatch later than this many clocks is replayed for the waveform with its sequence alone
#: (a full-length waveform of a large core would be gigabytes).
WAVE_CYCLE_LIMIT = 200_000
#: Verilator flags for a given Verilog (``--verilog``): a flattened synthesis netlist has bit-level
#: combinational paths through one vector, which Verilator reports as UNOPTFLAT (a speed remark).
NETLIST_WAIVERS = ("-Wno-UNOPTFLAT",)


class VerifyError(MemresError, ValueError):
    """The inputs cannot be verified (unknown file, Verilog of another core, ...); the message says why."""


# --- design and stimulus ---------------------------------------------------------------

def load_design(source: str | Path, *, lanes: int = 1, n_inputs: int | None = None,
                n_outputs: int | None = None, seed: int = 1, readout: str = "parallel",
                weight_ram: str = "block") -> tuple[Design, object]:
    """The :class:`Design` of a model (its readout, baked) or configuration (random readout, loaded).

    ``readout``: the crossbar variant of the core (``"parallel"`` or ``"serial"``); ``weight_ram``: where
    the serial readout keeps its weights (``"block"``, or ``"spram"`` as on the iCEBreaker).
    Returns ``(design, model or None)``.
    """

    try:
        src = load_source(source, n_inputs, n_outputs)
    except SourceError as e:
        raise VerifyError(str(e)) from None
    if not src.is_model:
        k = src.n_outputs
        d = Design(src.config, src.n_inputs, k, lanes, np.zeros((0, k), dtype=np.int64), np.zeros(k, dtype=np.int64),
                   baked=False, source=str(src.path), readout_mode=readout, weight_ram=weight_ram)
        d.w, d.b = random_readout(d.params, np.random.default_rng(seed))
        return d, None
    d = Design(src.config, src.n_inputs, src.n_outputs, lanes, src.weights, src.biases, baked=True,
               source=str(src.path), readout_mode=readout, weight_ram=weight_ram)
    return d, src.model


def model_test_data(model, *, data_dir=None, limit: int | None = None) -> dict:
    """The test inputs of a model as integer codes: ``{"seqs", "labels" (or None), "kind", "indices"}``.

    FSDD: the standard split's test utterances through the model's normaliser
    (``limit`` of them, evenly spaced over the 300). Regression tasks: the test
    part of the series as one sequence.
    """

    cfg = model.config
    bits = cfg.fixed.input_bits
    if model.task == "fsdd":
        root = workflow.fsdd_root(data_dir if data_dir is not None else model.task_params.get("data"))
        _, test = standard_split(list_recordings(root))
        idx = np.arange(len(test))
        if limit is not None and limit < len(test):
            idx = np.unique(np.linspace(0, len(test) - 1, max(limit, 1)).round().astype(int))
        test = [test[i] for i in idx]
        feats = load_fsdd_features(test, speech.frontend_config(cfg), progress=False)
        norm = Normaliser.from_dict(model.preprocessing)
        seqs = [quantise_inputs(norm.transform(f), bits).astype(np.int64) for f in feats]
        return {"seqs": seqs, "labels": np.array([r.digit for r in test]), "kind": "fsdd test utterances",
                "indices": idx.tolist()}
    tp = model.task_params
    data = regression.make_data(model.task, cfg, n_train=tp["n_train"], n_test=tp["n_test"], seed=tp["seed"],
                                noise=tp["noise"])
    u = InputScaler.from_dict(model.preprocessing).transform(data.series.u)
    seq = quantise_inputs(u[data.test_rows], bits).astype(np.int64)
    if limit is not None:
        seq = seq[:max(1, limit)]
    return {"seqs": [seq], "labels": None, "kind": f"{model.task} test series", "indices": [0]}


def write_verilog(design: Design, path: str | Path) -> dict:
    """Generate the core of ``design`` (readout baked, or zero when it is to be loaded); return timing figures."""
    core = design_core(design)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(to_verilog(core))
    return {"cycles_per_frame": core.cycles_per_frame, "latency": core.latency}


def _check_ports(design: Design, verilog: Path) -> bool:
    """Check the Verilog's ports against the design; return whether it has the trace port."""
    p = design.params
    try:
        ports = read_ports(verilog, TOP)
    except ValueError as e:
        raise VerifyError(f"{verilog}: {e}") from None
    want = {"frames__payload": Shape.cast(p.frame_layout).width, "results__payload": Shape.cast(p.result_layout).width,
            "load__payload": Shape.cast(p.load_layout).width}
    for name in ("clk", "rst", "frames__valid", "frames__ready", "results__valid", "results__ready",
                 "load__valid", "load__ready"):
        want[name] = 1
    has_trace = TRACE_VALID.format(lane=0) in ports
    if has_trace:
        for lane in range(p.lanes):
            want[TRACE_VALID.format(lane=lane)] = 1
            want[TRACE_PAYLOAD.format(lane=lane)] = Shape.cast(p.trace_entry_layout).width
    for name, width in want.items():
        if name not in ports:
            raise VerifyError(f"{verilog}: module {TOP} has no port {name}; is it a memres core?")
        if ports[name][1] != width:
            raise VerifyError(f"{verilog}: port {name} is {ports[name][1]} bits wide; the core of "
                              f"{Path(design.source).name} with {p.lanes} lane(s) has {width}")
    if has_trace and _trace_lanes(ports) != p.lanes:
        raise VerifyError(f"{verilog}: module {TOP} has trace ports for {_trace_lanes(ports)} lanes; the core of "
                          f"{Path(design.source).name} has {p.lanes} lane(s)")
    return has_trace


def _trace_lanes(ports: dict) -> int:
    """Lanes of a core's ports: its trace streams ``trace__0__valid``, ``trace__1__valid``, ... (0 without)."""
    lanes = 0
    while TRACE_VALID.format(lane=lanes) in ports:
        lanes += 1
    return lanes


def lanes_of_verilog(verilog: str | Path) -> int | None:
    """The lane count of a core's Verilog, from its trace ports; None without them.

    A core generated before the trace became one stream per lane has one ``trace__valid`` port,
    ``lanes`` bits wide: its lanes are read from that width (and it is checked without its trace).
    """
    ports = read_ports(verilog, TOP)
    legacy = ports["trace__valid"][1] if "trace__valid" in ports else None
    return _trace_lanes(ports) or legacy


# --- one simulation ----------------------------------------------------------------------

#: How a run is simulated: ``native`` (Verilator's model driven by a C++ testbench, fast) or ``cocotb``.
ENGINES = ("native", "cocotb")


def resolve_engine(sim: str, engine: str | None) -> str:
    """The engine of a run on ``sim``: native on Verilator unless cocotb is asked for; cocotb on Icarus."""
    if engine is None:
        return "native" if sim == "verilator" else "cocotb"
    if engine not in ENGINES:
        raise VerifyError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "native" and sim != "verilator":
        raise VerifyError("the native engine needs --sim verilator (Icarus runs under cocotb)")
    return engine


def check_design(design: Design, verilog: str | Path, seqs: list[np.ndarray], *, seed: int = 1,
                 sim: str = "verilator", run_dir: str | Path, waves: bool | str = False,
                 timing: bool = True, p_valid: float = 0.7, p_ready: float = 0.7, label: str = "",
                 reproduce: str = "", timeout: float | None = None, trace: bool | None = None,
                 build_args: tuple[str, ...] = (), stated: dict | None = None, reloads=(),
                 coverage: bool = False, max_cycles: int = 0, engine: str | None = None, resets=(),
                 scramble_loads: bool = False) -> dict:
    """Simulate ``verilog`` on ``seqs`` and compare every transaction; return the run's report (see check.py).

    ``engine``: ``"native"`` (Verilator with the C++ testbench of ``testbenches/native_tb.cpp``; the
    default on Verilator) or ``"cocotb"`` (the default, and the only engine, on Icarus).

    ``waves``: False, True (always), or "on_failure" (re-run a failing run with waves; mismatches
    beyond :data:`WAVE_CYCLE_LIMIT` clocks are replayed with the failing sequence alone).
    ``stated``: ``{"latency", "cycles_per_frame"}`` the hardware states (manifest, core; default
    ``hdl.top.core_timing`` of the design); the run's timing probe must measure the same.
    ``reloads``: ``(before_frame, w, b)`` readouts written through ``load`` while frames flow.
    ``resets``: ``(frame, delay)`` resets in the middle of a sequence (``testbenches.job.Job.resets``).
    ``scramble_loads``: every readout's ``load`` beats in a random order, with beats addressed outside the
    readout among them (``testbenches.job.load_schedule``).
    ``coverage``: build with Verilator's line, branch and toggle coverage (``report["coverage_file"]``).
    ``max_cycles``: clocks after which a run that has not delivered every result is a mismatch
    (``progress``); 0: derived from the stimulus (generous).
    """
    engine = resolve_engine(sim, engine)
    if coverage:
        if sim != "verilator":
            raise VerifyError("coverage needs --sim verilator")
        build_args = (*build_args, *COVERAGE_ARGS)
    run_dir = Path(run_dir).resolve()    # the simulator runs in another working directory
    run_dir.mkdir(parents=True, exist_ok=True)
    verilog = Path(verilog).resolve()
    has_trace = _check_ports(design, verilog) if trace is None else trace
    # The run measures latency and interval against the figures the hardware states (the manifest's or
    # the core's when given, else those of the core the design generates).
    if not stated:
        t = core_timing(design.params)
        stated = {"latency": t.latency, "cycles_per_frame": t.cycles_per_frame}
    load = design.needs_load
    job = Job(design, seqs, seed=seed, p_valid=p_valid, p_ready=p_ready, timing=timing, trace=has_trace,
              load=load, reloads=list(reloads), report=str(run_dir / "report.json"), label=label, reproduce=reproduce,
              max_cycles=max_cycles, resets=list(resets), scramble_loads=scramble_loads,
              latency=int(stated["latency"]), cycles_per_frame=int(stated["cycles_per_frame"]))
    report = _simulate(verilog, job, run_dir, sim, waves is True, timeout, build_args, engine)
    report["run_dir"] = str(run_dir)
    report["sim"] = sim
    if coverage and (run_dir / COVERAGE_FILE).is_file():
        report["coverage_file"] = str(run_dir / COVERAGE_FILE)
    if not report["passed"] and waves == "on_failure":
        m = report["first_mismatch"]
        wave_dir = run_dir / "waves"
        rerun = Job(**{**job.__dict__, "stop_at": m["cycle"] + 2})    # the same run, up to its mismatch
        if m["cycle"] > WAVE_CYCLE_LIMIT and m.get("where", "").startswith("sequence "):
            s = int(m["where"].split()[1])
            rerun = Job(**{**job.__dict__, "seqs": [seqs[s]], "stop_at": 0, "resets": [], "reloads": []})
            report["wave_note"] = (f"mismatch after {m['cycle']} clocks: the waveform replays sequence {s} "
                                   f"alone with the same seed")
        rerun.report = str(wave_dir / "report.json")
        rep2 = _simulate(verilog, rerun, wave_dir, sim, True, timeout, build_args, engine)
        report["wave"] = rep2.get("wave")
        report["wave_reproduced"] = not rep2["passed"]
    if report.get("wave") and report.get("first_mismatch"):
        report["first_mismatch"]["wave"] = report["wave"]
    return report


def _simulate(verilog: Path, job: Job, run_dir: Path, sim: str, waves: bool, timeout,
              build_args: tuple[str, ...] = (), engine: str = "native") -> dict:
    """One run of ``job``: the native engine (Verilator, C++ testbench) or cocotb; the report of the comparison."""
    job_path = save_job(run_dir, job)
    harness = run_dir / f"{HARNESS_TOP}.v"
    harness.write_text(harness_verilog(job.design, job.trace))
    Path(job.report).unlink(missing_ok=True)
    (run_dir / COVERAGE_FILE).unlink(missing_ok=True)
    t0 = time.perf_counter()
    sources = [harness, verilog]
    if job.design.weight_ram == "spram":
        # The SB_SPRAM256KA blocks run on Yosys' own model of the cell (its negedge-POWEROFF block
        # uses blocking assignments: BLKSEQ waived for it).
        sources.append(yosys_cell_model("ice40", "SB_SPRAM256KA", run_dir))
        build_args = (*build_args, "-Wno-BLKSEQ")
    if engine == "native":
        build = native.build(job.design, sources, trace=job.trace, waves=waves, build_args=build_args)
        _, exps, stims = prepare(job)
        wave = run_dir / f"{HARNESS_TOP}.{build.wave_format}" if build.wave_format else None
        rec = native.run_native(build, job, stims, run_dir, wave=wave, timeout=timeout)
        report = compare(job, rec, exps)
        write_report(job, report)
        report.update(build_seconds=build.seconds, build_cached=build.cached, wall_seconds=time.perf_counter() - t0,
                      log=str(run_dir / "sim.log"), build_dir=str(build.build_dir))
        if wave is not None and wave.is_file():
            report["wave"] = str(wave)
        return report
    env = {"MEMRES_VERIFY_JOB": str(job_path),
           "PYTHONPATH": os.pathsep.join([str(REPO), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                      if p]])}
    res = run_cocotb(sources, HARNESS_TOP, "memres.testbenches.cocotb_core", test_dir=None, sim=sim, env=env, waves=waves,
                     run_dir=run_dir, timeout=timeout, build_args=build_args if sim == "verilator" else ())
    if not Path(job.report).is_file():
        raise RuntimeError(f"the simulation wrote no report:\n{res.summary()}")
    report = json.loads(Path(job.report).read_text())
    report["build_seconds"] = res.build.seconds
    report["build_cached"] = res.build.cached
    report["build_dir"] = str(res.build.build_dir)
    report["wall_seconds"] = time.perf_counter() - t0
    report["log"] = str(res.log_path)
    if res.wave_path is not None:
        report["wave"] = str(res.wave_path)
    if report["passed"] and not res.passed:
        raise RuntimeError(f"the checker passed but cocotb reports a failure:\n{res.summary()}")
    return report


# --- the command ------------------------------------------------------------------------------

def verify(source: str | Path, *, verilog: str | Path | None = None, sim: str = "verilator", seeds: int = 1,
           seed: int = 1, waves: bool | str = "on_failure", lanes: int | None = None,
           out_dir: str | Path = "memres-verify", sequences: int | None = None, random_count: int = 8,
           max_len: int = 10, n_inputs: int | None = None, n_outputs: int | None = None, data_dir=None,
           p_valid: float = 0.7, p_ready: float = 0.7, timing: bool = True,
           timeout: float | None = None, log=None, readout: str | None = None, stimulus: str = "random",
           coverage: bool = False, engine: str | None = None, board: str | None = None, uart: int = 0,
           baud: int | None = None, clock_mhz: float | None = None, command: str | None = None,
           record: bool = True) -> dict:
    """Verify the core of a model or configuration file; return a summary dict.

    Keys: ``passed``, ``cycles``, ``compared``, ``mismatches``, ``first_mismatch`` (or None),
    ``runs`` (one report per seed), ``sequences``, ``frames``, ``seconds``, ``cycles_per_second``,
    and for FSDD models ``accuracy`` (of the RTL's decisions) and ``matches_integer_model``.

    ``seeds`` runs: seed ``seed + i``; every run drives ``random_count`` random
    sequences, run 0 of a model first its test data (``sequences`` of them,
    default all, 0 for none); a configuration gets a random readout per run
    (loaded through ``load``). A run follows from its seed alone, so the
    ``reproduce`` command of a report repeats it exactly. ``verilog``: check this file
    instead of generating one (its lanes are read from its trace port). ``readout``:
    ``"parallel"`` or ``"serial"``; default the ``manifest.json`` beside ``verilog``
    (``parameters.readout``), else parallel. ``stimulus``: ``"random"`` or ``"corners"``
    (:func:`testbenches.stimulus.corner_sequences` before the random sequences, and run ``i`` with the
    handshake rates ``CORNER_HANDSHAKES[seed % 4]`` instead of ``p_valid``/``p_ready``, every readout's
    ``load`` beats scrambled with beats addressed outside the readout among them). ``coverage``: build
    with Verilator's coverage and add ``coverage`` (per block and kind, runs merged) and
    ``coverage_uncovered`` (branches never taken) to the result. ``engine``: see :func:`check_design`.

    ``board``: check the core ``memres build --board`` makes for that board with the same ``lanes`` and
    ``readout`` (default the board's: :meth:`hdl.boards.BoardSpec.core_options`, the one choice both
    commands call), weight memory included (the iCEBreaker's serial readout in SPRAM, simulated on Yosys'
    own ``SB_SPRAM256KA`` model). ``uart``: then also stream that many sequences through the board top
    (link + core) on the bit-level UART simulation (:func:`pygen.boardcheck.check_uart`, at ``baud``,
    default the fastest the board clock makes; ``clock_mhz`` as ``memres build``), into ``result["uart"]``.
    ``record``: store what was checked under the core's identity (:mod:`pygen.verified`; a generated core
    only), where ``memres build`` finds it; ``command``: the command line it records.
    """
    engine = resolve_engine(sim, engine)
    if uart and board is None:
        raise VerifyError("--uart needs --board: it simulates that board's top (link + core)")
    if uart < 0:
        raise VerifyError(f"--uart must be 0 or more sequences, not {uart}")
    weight_ram = "block"
    if board is not None:
        if board not in BOARDS:
            raise VerifyError(f"unknown board {board!r}: choose one of {', '.join(BOARDS)}")
        if verilog is not None:
            raise VerifyError("--board checks the core memres build generates for the board; --verilog checks "
                              "a given file: use one of them")
        opts = BOARDS[board].core_options(lanes=lanes, readout=readout)
        lanes, readout, weight_ram = opts.lanes, opts.readout, opts.weight_ram
    if seeds < 1:
        raise VerifyError(f"seeds must be at least 1, not {seeds}")
    if stimulus not in STIMULI:
        raise VerifyError(f"stimulus must be one of {', '.join(STIMULI)}, not {stimulus!r}")
    if coverage and sim != "verilator":
        raise VerifyError("--coverage needs --sim verilator")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda msg: None)
    given = verilog is not None
    if verilog is not None:
        verilog = Path(verilog)
        if not verilog.is_file():
            raise VerifyError(f"Verilog file {verilog} does not exist")
        found = lanes_of_verilog(verilog)
        if lanes is None:
            lanes = found or 1
    lanes = 1 if lanes is None else int(lanes)
    manifest_path = verilog.parent / "manifest.json" if verilog is not None else None
    if readout is None and manifest_path is not None and manifest_path.is_file():
        readout = json.loads(manifest_path.read_text()).get("parameters", {}).get("readout")
    readout = readout or "parallel"
    design0, model = load_design(source, lanes=lanes, n_inputs=n_inputs, n_outputs=n_outputs, seed=seed,
                                 readout=readout, weight_ram=weight_ram)
    try:
        design0.params
    except ValueError as e:
        raise VerifyError(str(e)) from None
    stated = None
    if verilog is None:
        verilog = out / "memres_top.v"
        say(f"generating {verilog} ({lanes} lane(s), {readout} readout, weights in {weight_ram} RAM"
            + (f": the {board} build's core)" if board else ")"))
        stated = write_verilog(design0, verilog)
    elif (verilog.parent / "manifest.json").is_file():
        m = json.loads((verilog.parent / "manifest.json").read_text())
        if "latency" in m and "cycles_per_frame" in m:
            stated = {"latency": m["latency"], "cycles_per_frame": m["cycles_per_frame"]}
            say(f"timing stated by {verilog.parent / 'manifest.json'}: latency {m['latency']}, "
                f"{m['cycles_per_frame']} clocks per frame")
            t = core_timing(design0.params)
            if timing and (t.latency, t.cycles_per_frame) != (stated["latency"], stated["cycles_per_frame"]):
                raise VerifyError(f"the {design0.params.readout.value} core of this design has latency "
                                  f"{t.latency}, {t.cycles_per_frame} clocks per frame; the hardware states "
                                  f"{stated['latency']} and {stated['cycles_per_frame']}")
    test = None
    if model is not None and sequences != 0:
        try:
            test = model_test_data(model, data_dir=data_dir, limit=sequences)
        except (FileNotFoundError, KeyError) as e:
            say(f"no test data ({e}); random stimulus only")
    runs = []
    t0 = time.perf_counter()
    for i in range(seeds):
        # Everything of run s follows from s alone (so `--seed s --seeds 1` repeats it): the random readout
        # of a configuration from default_rng(s), the random sequences from default_rng([s, 1]).
        s = seed + i
        design = design0
        if not design0.baked and i > 0:
            w, b = random_readout(design0.params, np.random.default_rng(s))
            design = Design(design0.config, design0.n_inputs, design0.n_outputs, lanes, w, b, False,
                            design0.source, readout, design0.weight_ram)
        seqs, n_test = [], 0
        with_test = i == 0 and test is not None
        if with_test:
            seqs = list(test["seqs"])
            n_test = len(seqs)
        pv, pr = p_valid, p_ready
        if stimulus == "corners":
            seqs += corner_sequences(design, np.random.default_rng([s, 1]), random_count, max_len)
            pv, pr = CORNER_HANDSHAKES[s % len(CORNER_HANDSHAKES)]
        else:
            seqs += random_sequences(design, np.random.default_rng([s, 1]), random_count, max_len)
        reloads = []
        # corners: a reset in the middle of a sequence (before the saturating runs)
        resets = [r for r in [corner_reset(design0, seqs, np.random.default_rng([s, 3]))] if r] \
            if stimulus == "corners" else []
        n_frames = sum(map(len, seqs))
        if not design0.baked and n_frames >= 2:
            # a configuration's core: also switch to another random readout while frames flow
            r_rng = np.random.default_rng([s, 2])
            reloads = corner_reloads(design0, r_rng, n_frames) if stimulus == "corners" else \
                [(int(r_rng.integers(1, n_frames)), *random_readout(design0.params, r_rng))]
            # last, readouts and long sequences that drive the sequence sums into their clamps
            for w, b, sat in (saturation_runs(design0) if stimulus == "corners" else ()):
                reloads.append((n_frames, w, b))
                seqs.append(sat)
                n_frames += len(sat)
        repro = _reproduce(source, verilog if given else None, sim, s, lanes,
                           sequences if with_test or test is None else 0, n_inputs, n_outputs, random_count,
                           readout, out / "reproduce", board) + (" --stimulus corners" if stimulus == "corners" else "") + \
            (" --engine cocotb" if engine == "cocotb" and sim == "verilator" else "")
        clocks = n_frames * core_timing(design0.params).cycles_per_frame
        say(f"run {i + 1}/{seeds}: seed {s}, {len(seqs)} sequences, {n_frames} frames on {sim}, "
            f"about {clocks:,} clocks" + (" (long: use more --lanes or fewer --sequences for a quicker check)"
                                          if clocks > 5_000_000 else ""))
        rep = check_design(design, verilog, seqs, seed=s, sim=sim, run_dir=out / f"run{s}", waves=waves,
                           timing=timing, p_valid=pv, p_ready=pr, label=f"seed {s}", reproduce=repro,
                           timeout=timeout, build_args=NETLIST_WAIVERS if given else (), stated=stated,
                           reloads=reloads, coverage=coverage, engine=engine, resets=resets,
                           scramble_loads=stimulus == "corners")
        rep["test_sequences"] = n_test
        runs.append(rep)
        if not rep["passed"]:
            break
    result = {
        "passed": all(r["passed"] for r in runs) and len(runs) == seeds,
        "cycles": sum(r["cycles"] for r in runs),
        "compared": sum(r["compared"] for r in runs),
        "mismatches": sum(r["mismatches"] for r in runs),
        "first_mismatch": next((r["first_mismatch"] for r in runs if r["first_mismatch"]), None),
        "sequences": sum(r["sequences"] for r in runs),
        "frames": sum(r["frames_accepted"] for r in runs),
        "trace_writes": sum(r["trace_writes_checked"] for r in runs),
        "results": sum(r["results_checked"] for r in runs),
        "seconds": time.perf_counter() - t0,
        "sim": sim, "engine": engine, "lanes": lanes, "readout": readout, "verilog": str(verilog), "source": str(source),
        "out_dir": str(out),
        "stimulus": ((test["kind"] + " + ") if test is not None else "") +
                    ("corners + random" if stimulus == "corners" else "random"),
        "design": design0.describe(), "runs": runs, "timing_stated": stated,
    }
    if coverage:
        points = merge(*(read_coverage(r["coverage_file"]) for r in runs if r.get("coverage_file")))
        result["coverage"] = summarise(points, exclude=(HARNESS_TOP,))
        result["coverage_uncovered"] = uncovered(points, "branch", exclude=(HARNESS_TOP,), files=(Path(verilog),))
        result["stimulus_mode"] = stimulus
    sim_seconds = sum(r["seconds"] for r in runs)
    result["cycles_per_second"] = result["cycles"] / sim_seconds if sim_seconds else 0.0
    if test is not None and test["labels"] is not None and runs[0]["passed"]:
        result.update(_fsdd_figures(model, design0, test, runs[0]))
    result["board"] = board
    result["weight_ram"] = weight_ram
    identity = None
    command = command or (f"pygen.verify.verify({str(source)!r}, board={board!r}, lanes={lanes}, "
                          f"readout={readout!r}, sequences={sequences}, random_count={random_count}, seed={seed})")
    if record and not given:
        identity = verified.core_identity(design0)
        result["core_key"] = identity["key"]
        result["record"] = str(verified.store(identity, "core", _record_of(result), command=command, board=board))
    if uart and not result["passed"]:
        say("the core check failed: the board top is not streamed over the UART")
    if uart and result["passed"]:
        uart_test = None
        if model is not None and model.task == "fsdd":
            uart_test = model_test_data(model, data_dir=data_dir, limit=uart)
        rep = check_uart(source, board, uart, design=design0, test=uart_test, lanes=lanes, readout=readout,
                         baud=baud, clock_mhz=clock_mhz, seed=seed, work_dir=out / "uart", log=say)
        result["uart"] = rep
        result["passed"] = result["passed"] and rep["passed"]
        if identity is not None:
            verified.store(identity, "uart", rep, command=command, board=board)
    (out / "verify.json").write_text(json.dumps(result, indent=1, default=json_default))
    return result


def _record_of(result: dict) -> dict:
    """What the verification record keeps of a core check (:mod:`pygen.verified`)."""
    keys = ("passed", "compared", "mismatches", "cycles", "sequences", "frames", "trace_writes", "results",
            "seconds", "sim", "engine", "stimulus", "test_utterances", "accuracy", "matches_integer_model",
            "model_accuracy", "source")
    rec = {k: result[k] for k in keys if k in result}
    rec["seeds"] = len(result["runs"])
    return rec


def _fsdd_figures(model, design: Design, test: dict, run: dict) -> dict:
    """RTL decisions vs labels, and vs sw_model.classify's integer decisions (an independent path)."""

    n = len(test["seqs"])
    rtl = np.array(run["decisions"][:n])
    res = FixedReservoir(design.config.reservoir, design.config.fixed, design.n_inputs)
    sums = classify.SequenceSums.empty(n, res.n_features, np.int64, classify.Saturation.of(res.k))
    for i, feats in res.run(test["seqs"]):
        sums.set(i, feats)
    ref = classify.decisions_int(sums, model.readout_int)[:, -1]
    labels = test["labels"]
    out = {"test_utterances": n, "accuracy": float(np.mean(rtl == labels)),
           "matches_integer_model": bool(np.array_equal(rtl, ref))}
    if n == model.metrics.get("n_test"):
        out["model_accuracy"] = model.metrics.get("fixed", {}).get("accuracy")
    return out


def _reproduce(source, verilog, sim, seed, lanes, sequences, n_inputs, n_outputs, random_count,
               readout="parallel", out_dir=None, board=None) -> str:
    """The command that repeats one run; ``out_dir``: its own folder (the run's keeps its report and waves)."""
    parts = ["memres verify", str(source), f"--seed {seed}", "--seeds 1", f"--lanes {lanes}", f"--sim {sim}",
             f"--random {random_count}"]
    if board is not None:
        parts.append(f"--board {board}")
    if readout != "parallel":
        parts.append(f"--readout {readout}")
    if verilog is not None:
        parts.append(f"--verilog {verilog}")
    if sequences is not None:
        parts.append(f"--sequences {sequences}")
    if n_inputs is not None:
        parts.append(f"--inputs {n_inputs}")
    if n_outputs is not None:
        parts.append(f"--outputs {n_outputs}")
    if out_dir is not None:
        parts.append(f"-o {out_dir} --force")
    return " ".join(parts + ["--waves"])


def check_output_folder(out_dir: str | Path, *, force: bool = False) -> Path:
    """Refuse an output folder that holds an earlier verification (``verify.json`` or a ``run<seed>``
    folder) unless ``force``, and any folder that cannot be written; before any work is done."""
    out = check_output_path(out_dir, directory=True)
    if not force and out.is_dir():
        earlier = (out / "verify.json").is_file() or any(p.is_dir() and p.name[3:].isdigit()
                                                         for p in out.glob("run*"))
        if earlier:
            raise VerifyError(f"output folder {out} holds an earlier verification: name another folder with "
                              f"-o DIR, or replace it with --force")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``memres verify MODEL [--verilog FILE] [--sim ...] [--seeds N] ...``."""
    parser.add_argument("source", metavar=MODEL_METAVAR, help=MODEL_HELP)
    parser.add_argument("--verilog", metavar="FILE",
                        help="check this Verilog (hand-edited, or a synthesis netlist) instead of generating it")
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator", help="simulator (default verilator)")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help="native: Verilator's model driven by a C++ testbench (default on Verilator, fast); "
                             "cocotb: the same driver and checks under cocotb (the only engine on Icarus)")
    parser.add_argument("--seeds", type=int, default=1, help="runs with different random stimulus (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run (default 1)")
    parser.add_argument("--waves", action="store_true",
                        help="always write a waveform (default: only for a failing run, re-run with tracing)")
    parser.add_argument("--no-waves", action="store_true", help="never write a waveform")
    HardwareOptions.add_arguments(parser, lanes_default=None, board="optional", clock=True,
                                  lanes_help="lanes of the core (default: from --verilog's trace port, else 1)",
                                  readout_help="readout crossbar of the core (default: the board's with --board, "
                                               "the manifest beside --verilog, else parallel)",
                                  clock_help="--uart: core clock of the simulated board top (default: the "
                                             "board's, as memres build)")
    parser.add_argument("--uart", type=int, default=0, metavar="N",
                        help="with --board: also stream N sequences (an FSDD model's test utterances, else "
                             "random) through the board top (link + core) on the bit-level UART simulation "
                             "and compare every RESULT with the integer model")
    parser.add_argument("--baud", type=int, metavar="B",
                        help="--uart: baud rate of the simulated board (default: the fastest its clock makes, "
                             "a quick simulation)")
    parser.add_argument("--sequences", type=int, metavar="N",
                        help="model: check N of its test sequences (evenly spaced; default all; 0: none)")
    parser.add_argument("--random", type=int, default=8, metavar="N", help="random sequences per run (default 8)")
    parser.add_argument("--data", help="FSDD folder (default: the model's)")
    parser.add_argument("--p-valid", type=float, default=0.7, help="probability an input offers a beat per clock")
    parser.add_argument("--p-ready", type=float, default=0.7, help="probability results.ready is high per clock")
    parser.add_argument("--stimulus", choices=STIMULI, default="random",
                        help="random (default) or corners: full-scale/zero/alternating/rounding-tie sequences before "
                             "the random ones, per seed a handshake corner (back-pressure on every stage, full speed, "
                             "starved inputs), six corner readouts loaded in scrambled order with stray beats, then "
                             "runs that saturate the sequence sums (docs/verification.md)")
    parser.add_argument("--coverage", action="store_true",
                        help="Verilator line, branch and toggle coverage of the generated Verilog, per block "
                             "(coverage.dat in each run folder; summary in verify.json and --json)")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the timing probe: do not check the latency and frame interval against "
                             "the stated ones (every transaction and the stream rules are still compared)")
    parser.add_argument("-o", "--output", "--out", dest="output", default="memres-verify", metavar="DIR",
                        help="working folder: Verilog, jobs, reports, waveforms (default memres-verify; "
                             "one that holds an earlier verification is refused without --force)")
    parser.add_argument("--force", action="store_true",
                        help="write into an output folder that holds an earlier verification, replacing its files")
    add_output_flags(parser, "print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    """Run ``memres verify``; exit status 0 when everything matched, 1 on a mismatch."""
    waves = True if args.waves else (False if args.no_waves else "on_failure")
    quiet = getattr(args, "quiet", False)
    log = None if quiet else (lambda msg: print(f"memres verify: {msg}", file=sys.stderr))
    opts = HardwareOptions.from_args(args)
    for flag, value in (("--baud", args.baud), ("--clock-mhz", opts.clock_mhz)):
        if value is not None and not args.uart:
            raise VerifyError(f"{flag} sets the simulated board top of --uart N; without --uart it checks nothing")
    check_output_folder(args.output, force=args.force)
    result = verify(args.source, verilog=args.verilog, sim=args.sim, seeds=args.seeds, seed=args.seed, waves=waves,
                    lanes=opts.lanes, out_dir=args.output, sequences=args.sequences, random_count=args.random,
                    n_inputs=opts.n_inputs, n_outputs=opts.n_outputs, data_dir=args.data, p_valid=args.p_valid,
                    p_ready=args.p_ready, timing=not args.no_timing, log=log, readout=opts.readout,
                    stimulus=args.stimulus, coverage=args.coverage, engine=args.engine, board=opts.board,
                    uart=args.uart, baud=args.baud, clock_mhz=opts.clock_mhz,
                    command=shlex.join(["memres", *(getattr(args, "argv", None) or ["verify", args.source])]))
    if args.json:
        slim = {k: v for k, v in result.items() if k != "runs"}
        slim["runs"] = [{k: v for k, v in r.items() if k != "decisions"} for r in result["runs"]]
        print(json.dumps(slim, default=json_default))
    else:
        print(summary(result), file=sys.stderr)
    return 0 if result["passed"] else 1


def summary(r: dict) -> str:
    """A few lines for people."""
    d = r["design"]
    head = "PASS" if r["passed"] else "MISMATCH"
    lines = [f"{head}: {r['cycles']:,} clocks simulated, {r['compared']:,} values compared, "
             f"{r['mismatches']} mismatch(es)",
             f"  {r['verilog']} on {r['sim']}: N={d['n_devices']} ML={d['n_virtual']} C={d['n_inputs']} "
             f"K={d['n_outputs']}, {d['lanes']} lane(s), {d.get('readout_mode', 'parallel')} readout "
             f"({d['readout']})",
             f"  stimulus: {r['stimulus']}; {r['sequences']} sequences, {r['frames']:,} frames, "
             f"{r['trace_writes']:,} cell writes and {r['results']:,} results checked; "
             f"{r['cycles_per_second']:,.0f} clocks/s, {r['seconds']:.1f} s"]
    if "accuracy" in r:
        lines.append(f"  {r['test_utterances']} test utterances: RTL accuracy {r['accuracy']:.2%}, decisions "
                     f"{'equal' if r['matches_integer_model'] else 'DIFFER FROM'} the integer model's")
    if r["first_mismatch"]:
        lines.append(format_mismatch(r["first_mismatch"]))
        for run_ in r["runs"]:
            if run_.get("wave_note"):
                lines.append(f"  note: {run_['wave_note']}")
    if r.get("board"):
        lines.append(f"  the {r['board']} build's core (weights in {r.get('weight_ram', 'block')} RAM)"
                     + (f"; recorded for memres build: {r['record']}" if r.get("record") else ""))
    if r.get("uart"):
        lines.append(uart_summary(r["uart"]))
    if r.get("coverage"):
        lines.append(f"  coverage ({r.get('stimulus_mode', 'random')} stimulus), covered/total per block:")
        lines += ["    " + x for x in format_summary(r["coverage"]).splitlines()]
        if r.get("coverage_uncovered"):
            lines.append(f"  {len(r['coverage_uncovered'])} branch(es) never taken: see coverage_uncovered in "
                         f"verify.json")
    lines.append(f"  reports: {Path(r['out_dir']) / 'verify.json'}")
    return "\n".join(lines)
