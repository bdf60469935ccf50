#!/usr/bin/env python
"""Benchmark ``memres verify``: checked clocks per second, and the wall time of the FSDD test set.

    python benchmarks/bench_verify.py --model fsdd.npz            # both parts, 8 lanes, Verilator
    python benchmarks/bench_verify.py --skip-fsdd                 # clocks/s on random designs only
    python benchmarks/bench_verify.py --train --lanes 8           # train the default FSDD model first
    python benchmarks/bench_verify.py --skip-fsdd --cocotb        # also the cocotb engine on Verilator

Part 1: a small random design (16 devices, 4 lanes) and the FSDD-sized core
(N=200, ML=10, C=32, K=10, 8 lanes, zero readout loaded with random weights),
each checked for a fixed stimulus on Verilator with the native engine (and
the cocotb engine with --cocotb, Icarus with --icarus): clocks simulated per
second of simulation, values compared, the time of the bulk comparison.
Part 2: ``verify(model, lanes)`` over all 300 FSDD test utterances (plus two
random sequences): wall time including generation and the Verilator build
(cached builds are reused; the first build of the FSDD core takes about a minute).
A script, not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memres.pygen.verify import check_design, verify, write_verilog  # noqa: E402
from memres.testbenches.stimulus import random_sequences  # noqa: E402
from memres.testbenches.predict import Design, random_design, random_readout  # noqa: E402


def clocks_per_second(name: str, d: Design, n_seqs: int, max_len: int, sim: str, engine: str, work: Path) -> dict:
    v = work / f"{name}.v"
    write_verilog(d, v)
    seqs = random_sequences(d, np.random.default_rng(1), n_seqs, max_len)
    t0 = time.perf_counter()
    rep = check_design(d, v, seqs, sim=sim, run_dir=work / f"{name}-{sim}-{engine}", seed=1, engine=engine)
    out = {"bench": "clocks_per_second", "design": name, "sim": sim, "engine": engine, "passed": rep["passed"],
           "compare_seconds": round(rep["compare_seconds"], 2),
           "cycles": rep["cycles"], "compared": rep["compared"], "sim_seconds": round(rep["seconds"], 2),
           "cycles_per_second": round(rep["cycles_per_second"]),
           "cycles_per_cpu_second": round(rep["cycles_per_cpu_second"]), "lanes": d.lanes, "rows": d.params.rows,
           "build_seconds": round(rep["build_seconds"], 1), "build_cached": rep["build_cached"],
           "wall_seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out), flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="FSDD model file for part 2")
    ap.add_argument("--train", action="store_true", help="train the default FSDD model for part 2 (minutes)")
    ap.add_argument("--data", help="FSDD folder (default ../shared/data/fsdd)")
    ap.add_argument("--lanes", type=int, default=8)
    ap.add_argument("--sequences", type=int, help="FSDD: only this many test utterances")
    ap.add_argument("--icarus", action="store_true", help="also measure Icarus in part 1")
    ap.add_argument("--cocotb", action="store_true", help="also measure the cocotb engine on Verilator in part 1")
    ap.add_argument("--engine", choices=("native", "cocotb"), default="native", help="engine of part 2")
    ap.add_argument("--skip-clocks", action="store_true")
    ap.add_argument("--skip-fsdd", action="store_true")
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="memres-bench-verify-"))
    work.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"bench": "machine", "cpus": os.cpu_count(), "load": os.getloadavg()}), flush=True)
    if not args.skip_clocks:
        from memres.sw_model import workflow
        small = random_design(3, max_devices=16)
        small = Design(small.config, small.n_inputs, small.n_outputs, 4 if small.config.reservoir.n_devices >= 4
                       else 1, small.w, small.b, True, small.source)
        runs = [("verilator", "native")] + ([("verilator", "cocotb")] if args.cocotb else []) + \
            ([("icarus", "cocotb")] if args.icarus else [])
        for sim, engine in runs:
            clocks_per_second("small", small, 200, 20, sim, engine, work)
        cfg = workflow.default_config("fsdd")
        big = Design(cfg, 32, 10, args.lanes, np.zeros((0, 10)), np.zeros(10), False, "fsdd default configuration")
        big.w, big.b = random_readout(big.params, np.random.default_rng(0))
        for sim, engine in runs[:2]:
            clocks_per_second("fsdd-config", big, 4, 20, sim, engine, work)
    if not args.skip_fsdd:
        model = args.model
        if model is None and args.train:
            from memres.sw_model import workflow
            t0 = time.perf_counter()
            model = workflow.train("fsdd", data_dir=args.data).save(work / "fsdd.npz")
            print(json.dumps({"bench": "train", "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
        if model is None:
            print("part 2 needs --model or --train", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        r = verify(model, lanes=args.lanes, data_dir=args.data, sequences=args.sequences, out_dir=work / "fsdd",
                   waves=False, random_count=2, engine=args.engine)
        out = {"bench": "fsdd_test_set", "engine": args.engine, "passed": r["passed"], "utterances": r.get("test_utterances"),
               "accuracy": r.get("accuracy"), "model_accuracy": r.get("model_accuracy"),
               "matches_integer_model": r.get("matches_integer_model"), "lanes": args.lanes,
               "cycles": r["cycles"], "compared": r["compared"], "frames": r["frames"],
               "trace_writes": r["trace_writes"], "sim_seconds": round(r["runs"][0]["seconds"], 1),
               "cycles_per_second": round(r["cycles_per_second"]),
               "cpu_seconds": round(r["runs"][0]["cpu_seconds"], 1),
               "cycles_per_cpu_second": round(r["runs"][0]["cycles_per_cpu_second"]),
               "build_seconds": round(r["runs"][0]["build_seconds"], 1),
               "build_cached": r["runs"][0]["build_cached"],
               "compare_seconds": round(r["runs"][0]["compare_seconds"], 1),
               "wall_seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
