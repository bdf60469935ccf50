"""Simulation helpers: stream drivers with random gaps and random back-pressure (Amaranth async testbenches)."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator


class StreamChecker:
    """Collect the beats of an output stream under random back-pressure.

    ``stall`` is the probability that ``ready`` is low in a clock. Also checks
    the stream rule: a beat offered (valid) and not taken keeps its payload.
    """

    def __init__(self, stream, count: int, rng: np.random.Generator, stall: float = 0.3,
                 max_cycles: int = 200_000):
        self.stream, self.count, self.rng, self.stall = stream, count, rng, stall
        self.max_cycles = max_cycles
        self.beats = []       # payload snapshots
        self.cycles = []      # clock index at which each beat was taken

    async def run(self, ctx):
        st = self.stream
        pending = None
        for cycle in range(self.max_cycles):
            if len(self.beats) >= self.count:
                ctx.set(st.ready, 0)
                return
            ctx.set(st.ready, int(self.rng.random() >= self.stall))
            _, _, valid, ready, payload = await ctx.tick().sample(st.valid, st.ready, st.payload)
            if pending is not None:
                assert valid, f"clock {cycle}: valid dropped before the beat was taken"
                assert payload.as_value().value == pending, \
                    f"clock {cycle}: payload changed while valid and not ready"
            if valid and ready:
                self.beats.append(payload)
                self.cycles.append(cycle)
                pending = None
            elif valid:
                pending = payload.as_value().value
        raise AssertionError(f"only {len(self.beats)} of {self.count} beats after {self.max_cycles} clocks")


class StreamDriver:
    """Offer ``payloads`` on an input stream, idling before a beat with probability ``gap``."""

    def __init__(self, stream, payloads, rng: np.random.Generator, gap: float = 0.3):
        self.stream, self.payloads, self.rng, self.gap = stream, list(payloads), rng, gap
        self.cycles = []      # clock index at which each beat was accepted
        self.done = False

    async def run(self, ctx):
        st = self.stream
        cycle = 0
        for pl in self.payloads:
            while self.rng.random() < self.gap:
                ctx.set(st.valid, 0)
                await ctx.tick()
                cycle += 1
            ctx.set(st.payload, pl)
            ctx.set(st.valid, 1)
            while True:
                _, _, ready = await ctx.tick().sample(st.ready)
                cycle += 1
                if ready:
                    self.cycles.append(cycle - 1)
                    break
        ctx.set(st.valid, 0)
        self.done = True


def simulate(dut, drivers, checkers, vcd: str | None = None) -> None:
    """Run drivers in the background until every checker has its beats."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for d in drivers:
        sim.add_testbench(d.run, background=True)
    for c in checkers:
        sim.add_testbench(c.run)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
