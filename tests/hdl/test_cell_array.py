"""CellArray against sw_model.fixed.cell_update / state_feature / idle_update, with back-pressure."""

import dataclasses

import numpy as np
import pytest

from memres.hdl import CellArray, CoreParams
from memres.hdl.params import DIRECT_WRITE_SLOTS, MIN_SLOTS, REGISTERED_WRITE_SLOTS
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
        lanes = [(lane.valid, lane.payload) for lane in self.trace]
        assert len(lanes) == self.lanes and all(lane.signature.always_ready for lane in self.trace)
        async for _, _, *sampled in ctx.tick().sample(*(v for pair in lanes for v in pair)):
            for valid, e in zip(sampled[0::2], sampled[1::2]):
                if valid:
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
    (4, 8, 3, 4, False, 30.0), (4, 6, 2, 3, True, 10.0), (2, 4, 4, 8, True, 0.0), (8, 8, 2, 3, True, 0.0),
    (2, 8, 2, 3, False, 20.0), (1, 6, 2, 3, False, 10.0)])
def test_cells_match_model_random(lanes, n, ml, c, sf, idle):
    """Slots 5 and 6 (the registered write-back, 5 the tight case), 4 (direct, tight), 3 (forwarded), 1-2
    padded to 3 (forwarded)."""
    rng = np.random.default_rng(lanes + 10 * n + ml)
    p = make_params(n, ml, c, lanes=lanes, state_features=sf, idle_ns=idle,
                    reservoir={"tau": {"mode": "uniform", "low_ns": 20.0, "high_ns": 300.0}})
    check_cells(p, random_sequences(p, rng, 3, 4), rng)


@pytest.mark.parametrize("n, lanes, registered, forwarded, slots", [
    (4, 1, False, False, 4), (5, 1, True, False, 5), (8, 2, False, False, 4), (10, 2, True, False, 5),
    (6, 2, False, True, 3), (8, 4, False, True, 3), (2, 2, False, True, 3)])
def test_state_write_registered_only_where_the_slots_are_there(n, lanes, registered, forwarded, slots):
    """The longer state loop is chosen only when a pass has >= 5 used slots, the forwarding only below 4:
    neither adds a slot."""
    p = make_params(n, 2, 3, lanes=lanes)
    assert (p.state_write_registered, p.state_forwarded, p.slots) == (registered, forwarded, slots)
    assert p.state_loop == (REGISTERED_WRITE_SLOTS if registered else DIRECT_WRITE_SLOTS)
    assert (p.state_loop > p.slots) is forwarded and p.slots >= MIN_SLOTS
    assert p.slots == max(p.used_slots, MIN_SLOTS)
    assert CellArray.write_stage_of(p) == ("new_state" if registered else "terms")
    assert CellArray.latency_of(p) == len(CellArray.STAGES)       # the same latency either way


def test_state_loop_of_the_board_designs():
    """The FSDD default at 8 lanes (25 slots) gets the register; the 16-lane regression reservoir keeps 3 slots."""
    fsdd = make_params(200, 10, 32, 10, lanes=8)
    assert (fsdd.slots, fsdd.state_write_registered) == (25, True)
    reg = make_params(40, 10, 1, 1, lanes=16, state_features=False)
    assert (reg.slots, reg.state_write_registered, reg.state_forwarded, reg.rows) == (3, False, True, 30)


class _ShortLoop(CoreParams):
    """A mutant: the registered write-back in a pass of 4 slots, one beat too short for its loop."""
    state_write_registered = property(lambda self: True)


class _NoForward(CoreParams):
    """A mutant: a pass of 3 slots without the forwarding, so the beat right behind reads the memory."""
    state_forwarded = property(lambda self: False)


@pytest.mark.parametrize("mutant, n, stage", [(_ShortLoop, 8, "new_state"), (_NoForward, 6, "terms")])
def test_too_short_a_pass_is_caught(mutant, n, stage):
    """A state read before its write (the 5-beat loop with 4 slots, or 3 slots without the forwarding):
    the model comparison catches it."""
    good = make_params(n, 2, 3, lanes=2)
    bad = mutant(good.k, good.n_outputs, good.lanes)
    assert bad.slots == good.slots and CellArray.write_stage_of(bad) == stage
    assert bad.state_loop > bad.slots
    rng = np.random.default_rng(31)
    seqs = random_sequences(good, rng, 2, 4)
    check_cells(good, seqs, rng, gap=0.0, stall=0.0)
    with pytest.raises(AssertionError, match="trace|beat"):
        check_cells(bad, seqs, rng, gap=0.0, stall=0.0)


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


@pytest.mark.parametrize("v_min, threshold", [(0.0, 1), (-3.0, None)])
def test_h_is_a_step_so_the_table_leaves_it_out(v_min, threshold):
    """H[q] = (V(q) > 0) is a step in q: params.h_threshold finds it, and the table has no H field."""
    p = make_params(8, 4, 3, lanes=2, reservoir={"v_min": v_min, "kn": 2.0})
    h = p.k.h_lut
    if threshold is None:        # v_min < 0: the step is inside the codes
        threshold = int(np.argmax(h))
        assert 0 < threshold < len(h) - 1
    assert p.h_threshold == threshold
    assert np.array_equal(h, (np.arange(len(h)) >= threshold).astype(h.dtype))
    assert "h" not in CellArray.table_layout(p).members   # A and F only


def test_cells_keep_an_h_that_is_no_step_in_the_table():
    """An H with a hole is no step (h_threshold None): it is stored in the table and still matches the model."""
    rng = np.random.default_rng(23)
    p = make_params(8, 4, 3, lanes=4, reservoir={"v_min": -3.0, "kn": 2.0})
    lut = p.k.h_lut.copy()
    lut[int(np.argmax(lut)) + 3] = 0
    holed = CoreParams(dataclasses.replace(p.k, h_lut=lut), p.n_outputs, p.lanes)
    assert holed.h_threshold is None
    assert "h" in CellArray.table_layout(holed).members
    check_cells(holed, every_code(holed, rng), rng, codes=True)


# --- range analysis: the clamp sides that can never act are left out -------------------------

def _brute_update_range(k):
    """decay + move over the full product of states, decay factors and table entries (small configs only)."""
    from memres.sw_model.fixed import rshift_round
    g = np.arange(k.g_max + 1, dtype=np.int64)[:, None, None]
    rs = np.unique(np.concatenate([k.r, k.r_idle if k.r_idle is not None else k.r]))[None, :, None]
    a = np.concatenate([k.a_lut, [0]])[None, None, :]
    t = np.concatenate([k.h_lut * k.g_max, [0]])[None, None, :]
    total = k.g0 + rshift_round(rs * (g - k.g0), k.fx.decay_bits) + rshift_round(a * (t - g), k.fx.lut_bits)
    return int(total.min()), int(total.max())


SMALL_FIXED = {"state_bits": 8, "pulse_bits": 5, "decay_bits": 8, "lut_bits": 8, "current_bits": 6}


@pytest.mark.parametrize("reservoir, idle", [
    ({}, 0.0), ({"input_scale": 4.0, "alpha": 50.0, "tau": 1e6}, 20.0), ({"v_min": -3.0, "kn": 2.0}, 15.0),
    ({"alpha": 0.01, "tau": 20000.0}, 0.0), ({"v_min": -3.0, "kn": 2.0, "alpha": 1000.0}, 0.0)])
def test_update_range_is_exact_and_interval_bound_contains_it(reservoir, idle, monkeypatch):
    """update_range equals the brute-force range; the interval fallback is sound (contains it)."""
    from memres.sw_model import fixed
    p = make_params(6, 3, 3, idle_ns=idle, fixed=SMALL_FIXED, reservoir=reservoir)
    exact = _brute_update_range(p.k)
    assert fixed.update_range(p.k) == exact
    monkeypatch.setattr(fixed, "EXHAUSTIVE_LIMIT", 0)
    lo, hi = fixed.update_range(p.k)
    assert lo <= exact[0] and hi >= exact[1] and hi - exact[1] <= 4 and exact[0] - lo <= 4


def test_update_range_of_the_default_tables():
    """The figures docs/hardware.md names: FSDD default 59 LSB below g_max, second-order 2283 (no clamp at all)."""
    from memres.sw_model.fixed import build_constants, update_range
    from memres.sw_model.workflow import default_config
    for task, n_in, margin in (("fsdd", 32, 59), ("second-order", 1, 2283)):
        cfg = default_config(task)
        k = build_constants(cfg.reservoir, cfg.fixed, n_in)
        lo, hi = update_range(k)
        assert lo >= 0 and k.g_max - hi == margin, (task, lo, hi)


def test_clamp_present_where_it_can_act():
    """The saturating configuration reaches both sides, so both are kept; dropping them is caught."""
    p = make_params(4, 2, 3, lanes=2, idle_ns=20.0,
                    reservoir={"v_min": -3.0, "kn": 2.0, "alpha": 1000.0, "input_scale": 4.0})
    lo, hi = p.update_range
    assert lo < 0 and hi > p.k.g_max
    rng = np.random.default_rng(11)
    seqs = [rng.choice([0, p.k.u_max], size=(25, p.n_inputs)) for _ in range(2)]
    check_cells(p, seqs, np.random.default_rng(1))
    broken = dataclasses.replace(p)
    broken.__dict__["update_range"] = (0, p.k.g_max)      # claims the clamp can never act
    with pytest.raises(AssertionError):
        check_cells(broken, seqs, rng)


def test_clamp_left_out_stays_exact():
    """A configuration whose update never leaves 0 .. g_max runs without the clamp, bit-exact with the model."""
    rng = np.random.default_rng(12)
    p = make_params(6, 3, 4, lanes=2, idle_ns=10.0)
    lo, hi = p.update_range
    assert 0 <= lo and hi <= p.k.g_max
    check_cells(p, random_sequences(p, rng, 3, 4, "extremes") + random_sequences(p, rng, 2, 4), rng)
