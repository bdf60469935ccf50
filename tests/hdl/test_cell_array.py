"""CellArray against sw_model.fixed.cell_update / state_feature / idle_update, with back-pressure."""

import dataclasses

import numpy as np
import pytest

from memres.hdl import CellArray, CoreParams
from hdl_reference import feature_beats, make_params, pulse_beats, random_sequences, run_codes, run_sequence
from hdl_sim import StreamChecker, StreamDriver, simulate

BEAT_FIELDS = ("row", "node", "slot", "frame_start", "frame_end", "seq_first", "seq_last")


def drive_beats(p, seqs, codes=False):
    """Projection output as the model computes it (don't-care codes set to 0)."""
    return [{**b, "q": [0 if q is None else q for q in b["q"]]} for b in pulse_beats(p, seqs, codes)]


class TraceMonitor:
    """Record every trace entry (lane, n, m, frame, g, i) while the design runs."""

    def __init__(self, trace, lanes):
        self.trace, self.lanes, self.entries = trace, lanes, []

    async def run(self, ctx):
        async for _, _, valid, entry in ctx.tick().sample(self.trace.valid, self.trace.entry):
            for lane in range(self.lanes):
                if (valid >> lane) & 1:
                    e = entry[lane]
                    self.entries.append((e.n, e.m, e.frame, e.g, e.i))


def check_cells(p, seqs, rng, gap=0.3, stall=0.3, codes=False, dut=None):
    dut = dut or CellArray(p)
    expected = feature_beats(p, seqs, codes)
    drv = StreamDriver(dut.i, drive_beats(p, seqs, codes), rng, gap)
    chk = StreamChecker(dut.o, len(expected), rng, stall)
    mon = TraceMonitor(dut.trace, p.lanes)
    simulate(dut, [drv, mon], [chk])
    want = expected_trace(p, seqs, codes)
    assert len(mon.entries) == len(want), f"trace: {len(mon.entries)} cell writes, model {len(want)}"
    for got, exp in zip(sorted(mon.entries, key=_order), sorted(want, key=_order)):
        assert got == exp, f"trace (n, m, frame, g, i): {got}, model {exp}"
    for idx, (exp, got) in enumerate(zip(expected, chk.beats)):
        for name in BEAT_FIELDS:
            assert getattr(got, name) == exp[name], f"beat {idx}: {name}"
        for lane, x in enumerate(exp["x"]):
            assert got.x[lane] == x, (f"beat {idx} (row {exp['row']}, node {exp['node']}, slot {exp['slot']}) "
                                      f"lane {lane} device {p.device_of(exp['slot'], lane)}: x = {got.x[lane]}, model {x}")
    return mon.entries


def _order(entry):
    """Sort key of a trace entry that does not depend on its value: (frame, pass, device)."""
    n, m, frame, _, _ = entry
    return (frame, m, n)


def expected_trace(p, seqs, codes=False):
    """Every cell write in order: (n, m, frame, g', i)."""
    out = []
    for s in seqs:
        _, feats, states, idles = run_codes(p, s) if codes else run_sequence(p, s)
        for t in range(len(s)):
            for node in range(p.passes):
                if node == p.n_virtual and not p.has_idle:
                    continue
                for n in range(p.n_devices):
                    if node < p.n_virtual:
                        out.append((n, node, t, int(states[t, node, n]), int(feats[t, node * p.n_devices + n])))
                    else:
                        i = int(feats[t, node * p.n_devices + n]) if p.k.state_features else 0
                        out.append((n, node, t, int(idles[t, n]), i))
    return out


@pytest.mark.parametrize("lanes, n, ml, c, sf, idle", [
    (1, 4, 2, 3, True, 0.0), (1, 5, 3, 4, False, 0.0), (2, 6, 2, 5, True, 30.0),
    (4, 8, 3, 4, False, 30.0), (4, 6, 2, 3, True, 10.0), (2, 4, 4, 8, True, 0.0), (8, 8, 2, 3, True, 0.0)])
def test_cells_match_model_random(lanes, n, ml, c, sf, idle):
    rng = np.random.default_rng(lanes + 10 * n + ml)
    p = make_params(n, ml, c, lanes=lanes, state_features=sf, idle_ns=idle,
                    reservoir={"tau": {"mode": "uniform", "low_ns": 20.0, "high_ns": 300.0}})
    check_cells(p, random_sequences(p, rng, 3, 4), rng)


@pytest.mark.parametrize("kind", ["full", "zero", "extremes"])
def test_cells_saturate_like_model(kind):
    """Long sequences of full-scale, zero or extreme inputs drive states to 0 / g_max and hold them there."""
    rng = np.random.default_rng(11)
    p = make_params(4, 2, 3, lanes=2, idle_ns=20.0,
                    reservoir={"input_scale": 4.0, "alpha": 50.0, "tau": 1e6})
    seqs = random_sequences(p, rng, 1, 1, kind)
    seqs = [np.repeat(s, 25, axis=0) for s in seqs] if kind != "extremes" else \
        [rng.choice([0, p.k.u_max], size=(25, p.n_inputs))]
    _, _, states, _ = run_sequence(p, seqs[0])
    if kind == "full":
        assert states.max() == p.k.g_max or states.min() == 0
    check_cells(p, seqs, rng)


def every_code(p, rng, frames_per_seq=4, repeats=1):
    """Sequences of pulse codes (T, ML, N) that apply every code 0 .. q_max ``repeats`` times, shuffled."""
    per_frame = p.n_virtual * p.n_devices
    codes = rng.permutation(np.repeat(np.arange(p.k.q_max + 1), repeats))
    codes = np.concatenate([codes, rng.integers(0, p.k.q_max + 1, size=-len(codes) % per_frame)])
    frames = codes.reshape(-1, p.n_virtual, p.n_devices)
    return [frames[i:i + frames_per_seq] for i in range(0, len(frames), frames_per_seq)]


@pytest.mark.parametrize("v_min", [0.0, -3.0])
def test_cells_every_pulse_code(v_min):
    """All 2^B_q codes through the A/H/F tables (both signs of V with v_min < 0)."""
    rng = np.random.default_rng(21)
    p = make_params(8, 4, 3, lanes=4, idle_ns=15.0, reservoir={"v_min": v_min, "kn": 2.0})
    check_cells(p, every_code(p, rng), rng, codes=True)


def test_every_code_catches_one_table_entry_off_by_one():
    """H wrong at its threshold code (one entry of one table) is caught by the code sweep.

    One LSB of one ``A`` or ``F`` entry is a 2^-B_l relative change: it shows
    only when a rounding boundary is crossed, so a short sweep may miss it
    (the whole-table A mutation is caught in test_top.py).
    """
    rng = np.random.default_rng(22)
    p = make_params(8, 4, 3, lanes=4, reservoir={"v_min": -3.0, "kn": 2.0})
    lut = p.k.h_lut.copy()
    lut[int(np.argmax(lut))] = 0
    bad = CoreParams(dataclasses.replace(p.k, h_lut=lut), p.n_outputs, p.lanes)
    with pytest.raises(AssertionError, match="trace|beat"):
        check_cells(p, every_code(p, rng, repeats=3), rng, codes=True, dut=CellArray(bad))
