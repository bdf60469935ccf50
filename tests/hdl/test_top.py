# amaranth: UnusedElaboratable=no
"""ReservoirCore end to end against the integer model, its cycle counts, and that a broken design is caught."""

import dataclasses

import numpy as np
import pytest

from memres.hdl import MIN_SLOTS, CoreParams, ReservoirCore
from hdl_reference import (frame_sums, frames_of, make_params, random_readout, random_sequences,
                           sequence_decisions)
from hdl_sim import StreamChecker, StreamDriver, simulate
from test_cell_array import TraceMonitor, expected_trace


def expected_results(p, ro, seqs):
    out = []
    for ys in frame_sums(p, ro, seqs):
        _, dec = sequence_decisions(p, ys)
        out += [([int(v) for v in y], int(dec[t]), int(t == len(ys) - 1)) for t, y in enumerate(ys)]
    return out


def run_core(p, ro, seqs, rng, gap=0.3, stall=0.3, dut=None, model_p=None):
    """Simulate the core on ``seqs`` and compare every result with the model (of ``model_p``, default ``p``)."""
    dut = dut or ReservoirCore(p, ro.w, ro.b)
    expected = expected_results(model_p or p, ro, seqs)
    drv = StreamDriver(dut.frames, frames_of(seqs), rng, gap)
    chk = StreamChecker(dut.results, len(expected), rng, stall)
    mon = TraceMonitor(dut.trace, p.lanes)
    simulate(dut, [drv, mon], [chk])
    # Cell writes first: they pinpoint a difference (device, pass, frame) before it reaches the sums.
    want = expected_trace(model_p or p, seqs)
    assert len(mon.entries) == len(want), f"trace: {len(mon.entries)} cell writes, model {len(want)}"
    for got, exp in zip(sorted(mon.entries, key=_order), sorted(want, key=_order)):
        assert got == exp, f"trace (n, m, frame, g, i): {got}, model {exp}"
    for t, ((y, dec, last), got) in enumerate(zip(expected, chk.beats)):
        got_y = [got.y[k] for k in range(p.n_outputs)]
        assert got_y == y, f"frame {t}: y = {got_y}, model {y}"
        assert got.decision == dec, f"frame {t}: decision {got.decision}, model {dec}"
        assert got.last == last, f"frame {t}: last"
    return drv, chk, mon


def serial(p):
    """The same core with the serial readout (one output per clock)."""
    return dataclasses.replace(p, readout="serial")


def _order(entry):
    """Sort key of a trace entry that does not depend on its value: (frame, pass, device)."""
    n, m, frame, _, _ = entry
    return (frame, m, n)


@pytest.mark.parametrize("lanes, n, ml, c, k, sf, idle", [
    (1, 4, 2, 3, 3, True, 0.0), (2, 6, 3, 5, 3, False, 20.0), (4, 8, 2, 8, 3, True, 20.0),
    (2, 5, 4, 4, 4, True, 0.0), (8, 8, 3, 6, 2, False, 0.0)])
def test_core_matches_model(lanes, n, ml, c, k, sf, idle):
    rng = np.random.default_rng(1000 + lanes * n * ml)
    p = make_params(n, ml, c, k, lanes, state_features=sf, idle_ns=idle, seed=n)
    run_core(p, random_readout(p, rng), random_sequences(p, rng, 3, 5), rng)


@pytest.mark.parametrize("lanes, n, ml, c, k, sf, idle", [
    (1, 4, 2, 3, 3, True, 0.0), (2, 6, 3, 5, 1, False, 20.0), (4, 8, 2, 8, 4, True, 20.0),
    (1, 3, 1, 3, 2, False, 0.0)])
def test_serial_core_matches_model(lanes, n, ml, c, k, sf, idle):
    """The serial readout (one output per clock, sums in memories): the same results, bit for bit,
    under random gaps and back-pressure; K = 1 (accumulator read and write in the same clock) included."""
    rng = np.random.default_rng(2000 + lanes * n * ml)
    p = serial(make_params(n, ml, c, k, lanes, state_features=sf, idle_ns=idle, seed=n))
    run_core(p, random_readout(p, rng), random_sequences(p, rng, 3, 5), rng, stall=0.6)


@pytest.mark.parametrize("kind", ["full", "zero", "extremes"])
def test_core_extreme_inputs_and_weights(kind):
    rng = np.random.default_rng(42)
    p = make_params(4, 2, 3, 3, 2, reservoir={"input_scale": 4.0, "alpha": 50.0, "tau": 1e6})
    ro = random_readout(p, rng, extreme=True)
    run_core(p, ro, random_sequences(p, rng, 2, 12, kind), rng)


@pytest.mark.parametrize("readout", ["parallel", "serial"])
def test_core_sequence_sums_saturate(readout):
    """max_frames = 1: the sequence sums saturate within a few frames; decisions follow the saturated sums."""
    rng = np.random.default_rng(4)
    p = make_params(4, 2, 3, 3, 1, fixed={"max_frames": 1}, reservoir={"input_scale": 4.0})
    p = serial(p) if readout == "serial" else p
    ro = random_readout(p, rng, extreme=True)
    seqs = random_sequences(p, rng, 1, 1, "full")
    seqs = [np.repeat(seqs[0], 8, axis=0)]
    sums, _ = sequence_decisions(p, frame_sums(p, ro, seqs)[0])
    assert abs(sums).max() == p.seq_limit
    run_core(p, ro, seqs, rng)


@pytest.mark.parametrize("lanes, n, ml, k, sf, idle", [
    (1, 5, 2, 3, True, 0.0), (4, 4, 3, 3, False, 0.0), (2, 6, 2, 3, False, 10.0), (4, 8, 2, 3, True, 0.0),
    (4, 4, 2, 10, False, 0.0)])   # the last: 4 beats per frame < K = 10, the classifier sets the pace
def test_core_cycle_counts(lanes, n, ml, k, sf, idle):
    """Without gaps or back-pressure: first result `latency` clocks after the first frame, then one per
    `cycles_per_frame` clocks, with `cycles_per_frame = max(passes * slots, K)`; the latency is the sum of
    the blocks' own (hdl.top.core_timing), measured here."""
    rng = np.random.default_rng(3)
    p = make_params(n, ml, 3, k, lanes, state_features=sf, idle_ns=idle)
    rows = (ml + (1 if sf or idle else 0)) * max(-(-n // lanes), MIN_SLOTS)
    ro = random_readout(p, rng)
    dut = ReservoirCore(p, ro.w, ro.b)
    assert dut.cycles_per_frame == max(rows, k)
    assert dut.latency == sum(dut.timing.blocks.values()) and dut.timing.blocks["beats"] == rows - 1
    # rows < K: frames queue in the pipeline and its skid buffers before the input settles at K clocks
    seqs = random_sequences(p, rng, 3, 4) if rows >= k else [np.concatenate(random_sequences(p, rng, 3, 4))] * 2
    drv, chk, _ = run_core(p, ro, seqs, rng, gap=0, stall=0, dut=dut)
    assert chk.cycles[0] - drv.cycles[0] == dut.latency
    assert np.all(np.diff(chk.cycles) == dut.cycles_per_frame)
    if rows >= k:
        assert np.all(np.diff(drv.cycles) == dut.cycles_per_frame)
    else:   # frames queue up in the pipeline first, then enter at the classifier's pace
        assert np.all(np.diff(drv.cycles)[-3:] == dut.cycles_per_frame)


@pytest.mark.parametrize("lanes, n, ml, k, sf", [(1, 5, 2, 3, True), (2, 4, 1, 1, False), (4, 8, 2, 10, True)])
def test_serial_core_cycle_counts(lanes, n, ml, k, sf):
    """Serial readout, no gaps or back-pressure: `cycles_per_frame = max(rows * K, K + 2)` (= rows * K, as
    rows >= 3) and the latency the core states (hdl.top.core_timing), measured."""
    rng = np.random.default_rng(5)
    p = serial(make_params(n, ml, 3, k, lanes, state_features=sf))
    rows = (ml + (1 if sf else 0)) * max(-(-n // lanes), MIN_SLOTS)
    ro = random_readout(p, rng)
    dut = ReservoirCore(p, ro.w, ro.b)
    assert dut.cycles_per_frame == max(rows * k, k + 2)
    assert dut.timing.blocks["beats"] == rows * k - 1
    seqs = random_sequences(p, rng, 2, 3) + [np.concatenate(random_sequences(p, rng, 3, 4))] * 2
    drv, chk, _ = run_core(p, ro, seqs, rng, gap=0, stall=0, dut=dut)
    assert chk.cycles[0] - drv.cycles[0] == dut.latency
    assert np.all(np.diff(chk.cycles) == dut.cycles_per_frame)
    # the first frames enter early (their beats wait in the pipeline and skid buffers), then one frame
    # per cycles_per_frame
    assert np.all(np.diff(drv.cycles)[-3:] == dut.cycles_per_frame)


@pytest.mark.parametrize("readout", ["parallel", "serial"])
def test_core_load_port_switches_readouts(readout):
    """A core baked with a zero readout gives the model's results after a run-time load."""
    rng = np.random.default_rng(8)
    p = make_params(6, 2, 3, 3, 2)
    p = serial(p) if readout == "serial" else p
    ro = random_readout(p, rng)
    dut = ReservoirCore(p)
    loads = [{"value": int(ro.w[j, k]), "k": k, "device": j % p.n_devices, "node": j // p.n_devices, "bias": 0}
             for j in range(p.n_features) for k in range(p.n_outputs)]
    loads += [{"value": int(ro.b[k]), "k": k, "device": 0, "node": 0, "bias": 1} for k in range(p.n_outputs)]
    seqs = random_sequences(p, rng, 2, 3)
    expected = expected_results(p, ro, seqs)
    drv = StreamDriver(dut.frames, frames_of(seqs), rng, 0.0)
    ld = StreamDriver(dut.load, loads, rng, 0.0)
    chk = StreamChecker(dut.results, len(expected), rng, 0.3)
    simulate(dut, [ld, drv], [chk])
    assert [[got.y[k] for k in range(p.n_outputs)] for got in chk.beats] == [e[0] for e in expected]


# --- the comparison catches broken designs ------------------------------------------------------

def _broken(p, **changes):
    return CoreParams(dataclasses.replace(p.k, **changes), p.n_outputs, p.lanes)


@pytest.mark.parametrize("change", ["g0", "r", "a_lut", "mask"])
def test_comparison_catches_a_constant_off_by_one(change):
    """Each change is one LSB (or one code, one sign) of one constant; the cell-write trace catches it.

    Not in the list because short random runs rarely expose them: ``gain``
    off by one moves ``p gain`` by ``|p| / 2^B_k`` of a pulse LSB, one ``H``
    entry or one ``F`` LSB matters only for one code or below a current LSB.
    Those need the exhaustive per-block tests (every code through the tables).
    """
    rng = np.random.default_rng(6)
    p = make_params(4, 2, 3, 3, 2)
    k = p.k
    if change == "g0":
        bad = _broken(p, g0=k.g0 + 1)
    elif change == "r":
        bad = _broken(p, r=k.r - 1)
    elif change == "a_lut":
        bad = _broken(p, a_lut=k.a_lut + 1)
    else:
        mask = k.mask.copy()
        mask[0, 0, 0] *= -1
        bad = _broken(p, mask=mask)
    ro = random_readout(p, rng)
    seqs = random_sequences(p, rng, 2, 8)
    with pytest.raises(AssertionError, match="trace|frame"):
        run_core(bad, ro, seqs, rng, model_p=p)


def test_comparison_catches_rounding_by_truncation(monkeypatch):
    """rshr without its rounding constant (a plain floor shift) is detected."""
    import memres.hdl.arith
    import memres.hdl.cell_array
    monkeypatch.setattr(memres.hdl.cell_array, "rshr", lambda x, s, offset=0: (x + offset) >> s)
    rng = np.random.default_rng(6)
    p = make_params(4, 2, 3, 3, 1)
    with pytest.raises(AssertionError, match="trace|frame"):
        run_core(p, random_readout(p, rng), random_sequences(p, rng, 2, 4), rng)


@pytest.mark.parametrize("readout", ["parallel", "serial"])
def test_reset_restarts_cleanly(readout):
    """Reset in the middle of a sequence: the next frame starts a new sequence even without `first`."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator
    rng = np.random.default_rng(12)
    p = make_params(4, 2, 3, 3, 2)
    p = serial(p) if readout == "serial" else p
    ro = random_readout(p, rng)
    dut = ReservoirCore(p, ro.w, ro.b)
    a, b = random_sequences(p, rng, 2, 3)
    a = np.concatenate([a, a])                # at least two frames before the reset
    frames_b = [{**f, "first": 0} for f in frames_of([b])]
    want = expected_results(p, ro, [b])
    got = []

    async def put(ctx, payload):
        ctx.set(dut.frames.payload, payload)
        ctx.set(dut.frames.valid, 1)
        await ctx.tick().until(dut.frames.ready)
        ctx.set(dut.frames.valid, 0)

    async def get(ctx):
        ctx.set(dut.results.ready, 1)
        payload, = await ctx.tick().sample(dut.results.payload).until(dut.results.valid)
        ctx.set(dut.results.ready, 0)
        return payload

    async def bench(ctx):
        for f in frames_of([a])[:2]:
            await put(ctx, f)
        await get(ctx)                        # one result taken, one frame still in flight
        ctx.set(sync.rst, 1)
        await ctx.tick()
        ctx.set(sync.rst, 0)
        for f in frames_b:
            await put(ctx, f)
            r = await get(ctx)
            got.append(([r.y[k] for k in range(p.n_outputs)], r.decision, r.last))

    top = Module()
    top.domains.sync = sync = ClockDomain()
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8, domain="sync")
    sim.add_testbench(bench)
    sim.run()
    assert got == [tuple(w) for w in want]


@pytest.mark.parametrize("fixed", [
    {"input_bits": 4, "pulse_bits": 6, "gain_bits": 8, "state_bits": 10, "decay_bits": 10, "lut_bits": 8,
     "current_bits": 12, "weight_bits": 5},                  # state features shifted left (B_i > B_g)
    {"state_bits": 8, "lut_bits": 6, "current_bits": 14},     # current shift 0: no rounding at all
    {"input_bits": 12, "pulse_bits": 12, "gain_bits": 20, "state_bits": 20, "decay_bits": 20, "lut_bits": 18,
     "current_bits": 16, "weight_bits": 12, "max_frames": 64},
])
def test_core_other_fixed_point_formats(fixed):
    rng = np.random.default_rng(len(fixed))
    p = make_params(5, 3, 4, 3, 2, fixed=fixed, idle_ns=15.0,
                    reservoir={"v_min": -1.0, "kn": 3.0, "tau": {"mode": "uniform", "low_ns": 20.0, "high_ns": 200.0}})
    run_core(p, random_readout(p, rng), random_sequences(p, rng, 3, 5), rng)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_core_random_configurations(seed):
    """A wider random sweep: sizes, lanes, options, widths, inputs, weights."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 13))
    lanes = int(rng.choice([l for l in (1, 2, 4, 8) if l <= n]))
    fixed = {"state_bits": int(rng.integers(8, 20)), "pulse_bits": int(rng.integers(4, 11)),
             "weight_bits": int(rng.integers(3, 10)), "current_bits": int(rng.integers(6, 14))}
    p = make_params(n, int(rng.integers(1, 6)), int(rng.integers(1, 10)), int(rng.integers(1, 8)), lanes,
                    state_features=bool(rng.integers(2)), idle_ns=float(rng.choice([0.0, 25.0])),
                    seed=seed, fixed=fixed, reservoir={"input_scale": float(rng.uniform(0.5, 4.0))})
    kind = str(rng.choice(["random", "full", "zero", "extremes"]))
    run_core(p, random_readout(p, rng, extreme=bool(rng.integers(2))), random_sequences(p, rng, 3, 10, kind), rng)
