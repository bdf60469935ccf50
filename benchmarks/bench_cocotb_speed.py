#!/usr/bin/env python
"""Benchmark the cocotb simulation path: build times and simulated cycles per second.

    python benchmarks/bench_cocotb_speed.py                 # Verilator + Icarus, 100k cycles
    python benchmarks/bench_cocotb_speed.py --sims verilator --cycles 20000 --no-cold

Measures, on the tiny AddConst design from tests/testbenches/selftest_design.py:
  * Verilator build: fully cold (empty temporary MEMRES_CACHE), a new design with
    the runtime-library object cache warm, and an identical rebuild (cache hit);
  * cycles/s with one ``await RisingEdge(clk)`` per cycle (the cost floor of a
    cocotb testbench), and with a Python read-and-compare every cycle.
This file is also the cocotb test module it runs (the simulator imports it).
A script, not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge


def _params() -> dict:
    with open(os.environ["MEMRES_BENCH_PARAMS"]) as f:
        return json.load(f)


def _report(name: str, cycles: int, seconds: float) -> None:
    p = _params()
    with open(p["out"], "a") as f:
        f.write(json.dumps({"test": name, "cycles": cycles, "seconds": seconds}) + "\n")


async def _setup(dut) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 0
    dut.i__valid.value = 1
    dut.i__payload.value = 5
    dut.o__ready.value = 1
    await RisingEdge(dut.clk)


@cocotb.test()
async def one_await_per_cycle(dut):
    n = _params()["cycles"]
    await _setup(dut)
    edge = RisingEdge(dut.clk)
    t0 = time.perf_counter()
    for _ in range(n):
        await edge
    _report("one_await_per_cycle", n, time.perf_counter() - t0)


@cocotb.test()
async def check_every_cycle(dut):
    p = _params()
    n = p["cycles"]
    want = (5 + p["constant"]) % 256
    await _setup(dut)
    await RisingEdge(dut.clk)
    edge = RisingEdge(dut.clk)
    t0 = time.perf_counter()
    for _ in range(n):
        await edge
        assert int(dut.o__payload.value) == want
    _report("check_every_cycle", n, time.perf_counter() - t0)


def main() -> None:
    import argparse
    import sys
    import tempfile
    from pathlib import Path

    here = Path(__file__).resolve().parent
    repo = here.parent
    sys.path.insert(0, str(repo))
    sys.path.insert(0, str(repo / "tests" / "testbenches"))
    from selftest_design import to_verilog

    from memres.testbenches import toolchain
    from memres.testbenches.runner import build_sim, run_cocotb

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=100_000)
    ap.add_argument("--sims", default="verilator,icarus")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-build measurement")
    args = ap.parse_args()

    rows: list[tuple[str, str]] = []
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        constant = 3 + int(time.time()) % 100  # fresh Verilog, so the first build is not a cache hit
        vfile = tmp / "add_const.v"
        t = time.perf_counter()
        vfile.write_text(to_verilog(8, constant))
        rows.append(("Amaranth -> Verilog (first conversion in process)", f"{time.perf_counter() - t:.2f} s"))

        if "verilator" in args.sims and not args.no_cold:
            old = os.environ.get("MEMRES_CACHE")
            os.environ["MEMRES_CACHE"] = str(tmp / "cold-cache")
            try:
                b = build_sim([vfile], "add_const", sim="verilator")
                rows.append(("Verilator build, cold (empty cache)", f"{b.seconds:.1f} s"))
                v2 = tmp / "v2" / "add_const.v"
                v2.parent.mkdir()
                v2.write_text(to_verilog(8, constant + 1))
                b = build_sim([v2], "add_const", sim="verilator")
                rows.append(("Verilator build, new design, runtime objects cached", f"{b.seconds:.1f} s"))
            finally:
                if old is None:
                    del os.environ["MEMRES_CACHE"]
                else:
                    os.environ["MEMRES_CACHE"] = old

        for sim in [s for s in args.sims.split(",") if s]:
            if sim == "icarus":
                try:
                    toolchain.ensure_icarus()
                except toolchain.ToolchainError as e:
                    rows.append(("icarus", f"skipped: {e}"))
                    continue
            b = build_sim([vfile], "add_const", sim=sim)
            rows.append((f"{sim} build ({'cache hit' if b.cached else 'built'})", f"{b.seconds:.2f} s"))
            b = build_sim([vfile], "add_const", sim=sim)
            rows.append((f"{sim} identical rebuild (cache hit)", f"{b.seconds:.3f} s"))
            out = tmp / f"{sim}.jsonl"
            pfile = tmp / f"{sim}.json"
            pfile.write_text(json.dumps({"cycles": args.cycles, "constant": constant, "out": str(out)}))
            res = run_cocotb([vfile], "add_const", "bench_cocotb_speed", here, sim=sim,
                             env={"MEMRES_BENCH_PARAMS": pfile}, run_dir=tmp / f"run-{sim}")
            if not res.passed:
                raise SystemExit(res.summary())
            for line in out.read_text().splitlines():
                r = json.loads(line)
                rows.append((f"{sim}: {r['test']} ({r['cycles']} cycles)",
                             f"{r['cycles'] / r['seconds'] / 1e3:.0f}k cycles/s"))
            rows.append((f"{sim}: whole cocotb run (start-up + both tests)", f"{res.seconds:.1f} s"))

    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
