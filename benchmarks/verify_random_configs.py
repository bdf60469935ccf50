#!/usr/bin/env python
"""Check the RTL of many random configurations, every transaction and the timing, and total the figures.

    python benchmarks/verify_random_configs.py --count 50                  # seeds 100..149
    python benchmarks/verify_random_configs.py --count 50 --out runs.jsonl # resumable

Each seed is one case of :func:`testbenches.random_cases.random_case` (the
slow test's sweep): a random core (N up to 64, ML up to 8, C up to 32, K up
to 10, lanes 1-8, every fixed-point width, tau spread, idle gap, state
features, baked or loaded readout), random stimulus with random valid gaps
and output back-pressure, on Verilator (Icarus for every fourth seed). One
JSON line per case goes to ``--out`` as soon as it is done; a restart skips
the seeds already there. The last line printed is the total: configurations,
simulated clocks, compared values, mismatches.

A script, not a test: it takes about half a minute of CPU per configuration
(mostly the Verilator build). Exit status 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memres.pygen.verify import check_design, write_verilog  # noqa: E402
from memres.testbenches.check import format_mismatch  # noqa: E402
from memres.testbenches.random_cases import random_case  # noqa: E402


def run_case(seed: int, work: Path) -> dict:
    case = random_case(seed)
    v = work / f"seed{seed}.v"
    write_verilog(case.design, v)
    t0 = time.perf_counter()
    rep = check_design(case.design, v, case.seqs, sim=case.sim, seed=seed, run_dir=work / f"seed{seed}",
                       p_valid=case.p_valid, p_ready=case.p_ready, waves="on_failure",
                       label=f"random configuration {seed}")
    row = case.describe()
    row.update({"passed": bool(rep["passed"]), "cycles": int(rep["cycles"]), "compared": int(rep["compared"]),
                "mismatches": 0 if rep["passed"] else 1, "wall_seconds": round(time.perf_counter() - t0, 1)})
    if not rep["passed"]:
        row["first_mismatch"] = format_mismatch(rep["first_mismatch"])
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=50, help="number of configurations (default 50)")
    ap.add_argument("--first-seed", type=int, default=100, help="first seed (default 100, as the slow test)")
    ap.add_argument("--out", type=Path, help="JSON lines file; finished seeds in it are skipped")
    ap.add_argument("--work", type=Path, help="run directory (default: a temporary one)")
    args = ap.parse_args()

    done: dict[int, dict] = {}
    if args.out and args.out.exists():
        for line in args.out.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["seed"]] = row
    work = args.work or Path(tempfile.mkdtemp(prefix="memres-random-"))
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.count):
        if seed in done:
            rows.append(done[seed])
            continue
        row = run_case(seed, work)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    total = {"configurations": len(rows), "verilator": sum(r["sim"] == "verilator" for r in rows),
             "icarus": sum(r["sim"] == "icarus" for r in rows), "cycles": sum(r["cycles"] for r in rows),
             "compared": sum(r["compared"] for r in rows), "mismatches": sum(r["mismatches"] for r in rows),
             "frames": sum(r["frames"] for r in rows),
             "wall_seconds": round(sum(r["wall_seconds"] for r in rows), 1),
             "max_devices": max(r["n_devices"] for r in rows), "max_rows": max(r["rows"] for r in rows)}
    print(json.dumps({"total": total}), flush=True)
    return 1 if total["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
