"""``memres verify --board B --uart N``: the board top itself (link + core) over the bit-level UART simulation.

The board top ``memres build`` places (:class:`hdl.board.ReservoirBoard`,
made by :func:`pygen.build.make_board`) runs on Verilator behind a
pseudo-terminal (:class:`pygen.simboard.SimBoard`, as ``memres run --sim``);
the host side (:class:`pygen.session.BoardClient`) asks for STATUS (the
configuration hash and generator version must be the model's), writes the
readout over the link when the core keeps it in SPRAM (or has none baked),
streams ``N`` sequences and compares every RESULT on the wire, the per-frame
readout ``y[K]``, the running decision and the ``last`` flag, with the
integer model (:class:`testbenches.predict.Expectation`). Then the board's
counters must show every frame taken and none dropped.

Stimulus: an FSDD model's test utterances (the standard split's test set,
``N`` of them evenly spaced), else ``N`` random sequences (a configuration
gets a random readout, written over the link first).
"""

from __future__ import annotations

import time

import numpy as np

from memres.hdl.board import plan_clock
from memres.hdl.boards import BOARDS
from memres.hdl.design import Design
from memres.hdl.uart import MIN_DIVISOR
from memres.pygen.session import BoardClient, BoardError, counter_delta
from memres.pygen.simboard import SimBoard
from memres.pygen.serialport import SerialPort
from memres.sw_model import __version__
from memres.testbenches.predict import Expectation, random_readout
from memres.testbenches.stimulus import random_sequences

__all__ = ["check_uart", "fastest_baud"]


def fastest_baud(clock_hz: float) -> int:
    """The fastest baud rate the board's UART makes exactly at ``clock_hz`` (``MIN_DIVISOR`` clocks a bit)."""
    return int(round(clock_hz / MIN_DIVISOR))


def check_uart(source, board: str, count: int, *, design: Design, test: dict | None, lanes: int, readout: str,
               baud: int | None = None, clock_mhz: float | None = None, seed: int = 1, work_dir=None,
               timeout: float = 300.0, log=None, expect: Design | None = None) -> dict:
    """Stream ``count`` sequences through the simulated board top and compare every RESULT; return a report.

    ``design``: the core's design record (:func:`pygen.generate.board_design`; its readout is what the
    model has, or random for a configuration). ``test``: :func:`pygen.verify.model_test_data` of an FSDD
    model (its sequences are streamed, ``labels`` give the accuracy), or None for random sequences.
    ``expect``: the design whose integer model the RESULTs must equal (default ``design``; another one
    shows that a difference is found).
    """
    say = log or (lambda msg: None)
    rng = np.random.default_rng([seed, 7])
    if test is not None:
        seqs, labels, kind = list(test["seqs"])[:count], test["labels"], test["kind"]
        labels = None if labels is None else np.asarray(labels)[:count]
    else:
        seqs, labels, kind = random_sequences(design, rng, count, 10), None, "random sequences"
    if not design.baked:
        w, b = random_readout(design.params, rng)
        design = Design(design.config, design.n_inputs, design.n_outputs, design.lanes, w, b, False,
                        design.source, design.readout_mode, design.weight_ram)
    spec = BOARDS[board]
    pll = plan_clock(spec, (spec.default_clock_mhz if clock_mhz is None else float(clock_mhz)) * 1e6)
    clock_hz = spec.f_osc if pll is None else pll.f_out     # the board top's clock, as memres build makes it
    if baud is None:
        baud = fastest_baud(clock_hz)
    golden = Expectation(design if expect is None else expect, seqs)
    t0 = time.perf_counter()
    say(f"UART: simulating the {board} board top (link + core) at {baud:,} baud on Verilator ...")
    sim = SimBoard(source, board, lanes=lanes, baud=baud, clock_mhz=clock_mhz, readout=readout,
                   work_dir=work_dir, n_inputs=design.n_inputs if not design.baked else None,
                   n_outputs=design.n_outputs if not design.baked else None)
    if (sim.params.lanes, str(sim.params.readout), sim.params.weight_ram) != \
            (design.lanes, str(design.readout_mode), design.weight_ram):
        raise BoardError("the simulated board's core differs from the checked design")   # one choice: cannot happen
    compared, mismatches, first, decisions, frames = 0, 0, None, [], 0
    with sim:
        started = time.perf_counter() - t0
        port = SerialPort(sim.port, baud)
        try:
            client = BoardClient(port, sim.fmt, timeout=timeout, quiet=0.3)
            st = client.check(design.config.hash(), __version__)
            writes, tw = 0, time.perf_counter()
            if design.needs_load:     # SPRAM (not set by the bitstream) or a configuration's core: as memres run
                writes = client.write_readout(sim.params, design.w, design.b)
                st = client.status()
            t1 = time.perf_counter()
            weights_s = t1 - tw
            for s, codes in enumerate(seqs):
                e = golden.get(s)
                d = client.classify(codes)
                frames += d.frames
                got = {"y": d.y, "decisions": d.decisions}
                want = {"y": np.asarray(e.y).tolist(), "decisions": list(e.decisions)}
                for name in got:
                    for t, (g, w_) in enumerate(zip(got[name], want[name])):
                        compared += len(g) if isinstance(g, list) else 1
                        if g != w_:
                            mismatches += 1
                            first = first or {"sequence": s, "frame": t, "what": name, "expected": w_, "got": g}
                    if len(got[name]) != len(want[name]):
                        mismatches += 1
                        first = first or {"sequence": s, "what": f"{name} count", "expected": len(want[name]),
                                          "got": len(got[name])}
                decisions.append(d.decision)
                say(f"UART: sequence {s + 1}/{len(seqs)}: {d.frames} frames, decision {d.decision} "
                    f"({d.seconds:.1f} s)")
            stream_s = time.perf_counter() - t1
            client.drain()
            counters = counter_delta(st, client.status(), sim.fmt.counter_bits)
            device = sim.device_timing()
        finally:
            port.close()
    # every frame taken, none dropped: results = frames streamed (+ nothing lost on the line)
    lost = {k: v for k, v in counters.items() if k not in ("frames_ok", "results") and v}
    if counters.get("results") != frames or lost:
        mismatches += 1
        first = first or {"what": "counters", "expected": {"results": frames}, "got": counters}
    out = {"passed": mismatches == 0, "compared": compared, "mismatches": mismatches, "first_mismatch": first,
           "sequences": len(seqs), "frames": frames, "stimulus": kind, "baud": baud,
           "clock_hz": device["clock_hz"], "weight_writes": writes, "counters": counters,
           "device_latency_s": device["latency_s"], "start_seconds": round(started, 1),
           "weights_seconds": round(weights_s, 1),
           "stream_seconds": round(stream_s, 1), "seconds": round(time.perf_counter() - t0, 1),
           "frames_per_wall_second": frames / stream_s if stream_s else 0.0,
           "lanes": design.lanes, "readout": str(design.readout_mode), "weight_ram": design.weight_ram,
           "work_dir": str(sim.work_dir) if work_dir is not None else None}
    if labels is not None:
        out["accuracy"] = float(np.mean(np.asarray(decisions) == labels))
        out["indices"] = list(test.get("indices", []))[:count]
    return out


def summary(r: dict) -> str:
    head = "PASS" if r["passed"] else "MISMATCH"
    lines = [f"{head} (board top over the UART): {r['sequences']} {r['stimulus']}, {r['frames']:,} frames, "
             f"{r['compared']:,} values on the wire compared, {r['mismatches']} mismatch(es)",
             f"  {r['baud']:,} baud at {r['clock_hz'] / 1e6:g} MHz, {r['lanes']} lane(s), {r['readout']} readout, "
             f"weights in {r['weight_ram']} RAM ({r['weight_writes']} written over the link); "
             f"{r['start_seconds']:.0f} s to start, {r['weights_seconds']:.0f} s writing weights, "
             f"{r['stream_seconds']:.1f} s streaming "
             f"({r['frames_per_wall_second']:.1f} frames per wall second)"]
    if "accuracy" in r:
        lines.append(f"  decisions: {r['accuracy']:.2%} right")
    if r["first_mismatch"]:
        lines.append(f"  first mismatch: {r['first_mismatch']}")
    return "\n".join(lines)

