"""memres verify on random configurations: every transaction of the RTL against the integer model, and its timing.

The fast set runs in the default pytest run (Verilator builds are cached by
content, so only the first run pays for them); the sweep is ``slow``.
"""

import dataclasses

import numpy as np
import pytest

from memres.hdl.top import core_timing
from memres.pygen.verify import VerifyError, check_design, lanes_of_verilog, write_verilog
from memres.testbenches.stimulus import random_sequences
from memres.sw_model.config import config_from_dict
from memres.testbenches.check import format_mismatch
from memres.testbenches.predict import Design, Expectation, Packer, random_design, random_readout, verilog_ports
from memres.testbenches.random_cases import random_case


def _cell_writes(d: Design, seqs) -> int:
    p = d.params
    return sum(map(len, seqs)) * p.n_devices * (p.n_virtual + int(p.has_idle))


def _check(d: Design, tmp_path, seqs, sim="verilator", **kw) -> dict:
    v = tmp_path / "memres_top.v"
    write_verilog(d, v)
    rep = check_design(d, v, seqs, sim=sim, run_dir=tmp_path / "run", **kw)
    assert rep["passed"], format_mismatch(rep["first_mismatch"])
    frames = sum(map(len, seqs))
    assert rep["results_checked"] == frames and rep["frames_accepted"] == frames
    assert rep["trace_writes_checked"] == _cell_writes(d, seqs)
    # every cell write and result
    assert rep["compared"] >= 5 * rep["trace_writes_checked"] + frames * (d.n_outputs + 2)
    if rep["timing_checked"]:
        t = core_timing(d.params)
        assert rep["latency_measured"] == rep["latency"] == t.latency
        if frames >= 2 and rep["cycles_per_frame_measured"] is not None:
            assert rep["cycles_per_frame_measured"] == rep["cycles_per_frame"] == t.cycles_per_frame
    return rep


# --- without a simulator ------------------------------------------------------------------

def test_packer_round_trip():
    d = random_design(3)
    p = d.params
    pk = Packer(p.result_layout)
    rng = np.random.default_rng(0)
    lim = 1 << (p.widths.frame_acc - 1)
    y = rng.integers(-lim, lim, size=(5, p.n_outputs))
    dec = rng.integers(0, p.n_outputs, size=5)
    words = pk.pack({"y": y, "decision": dec, "last": np.array([0, 1, 0, 1, 1])}, 5)
    for i, w in enumerate(words):
        u = pk.unpack(w)
        assert u["y"] == [int(v) for v in y[i]] and u["decision"] == dec[i]
        assert pk.pack_one({"y": list(y[i]), "decision": dec[i], "last": [0, 1, 0, 1, 1][i]}) == w


def test_expectation_uses_the_integer_model():
    """Per-frame y is IntReadout on FixedReservoir features; the final decision is classify's argmax of sums."""
    from memres.sw_model import classify
    from memres.sw_model.fixed import FixedReservoir
    d = random_design(4)
    seqs = random_sequences(d, np.random.default_rng(1), 5, 8)
    exp = Expectation(d, seqs)
    res = FixedReservoir(d.config.reservoir, d.config.fixed, d.n_inputs)
    sums = classify.SequenceSums.empty(len(seqs), res.n_features, np.int64, classify.Saturation.of(res.k))
    for i, feats in res.run(seqs):
        assert np.array_equal(exp.get(i).y, d.readout(feats))
        sums.set(i, feats)
    ref = classify.decisions_int(sums, d.readout)[:, -1]
    assert [exp.get(i).decisions[-1] for i in range(len(seqs))] == ref.tolist()


def test_ports_of_generated_verilog(tmp_path):
    d = random_design(1)
    write_verilog(d, tmp_path / "core.v")
    ports = verilog_ports((tmp_path / "core.v").read_text(), "memres_top")
    assert [ports[f"trace__{lane}__valid"] for lane in range(d.lanes)] == [("output", 1)] * d.lanes
    assert f"trace__{d.lanes}__valid" not in ports and "trace__0__ready" not in ports
    assert ports["frames__ready"] == ("output", 1)
    assert lanes_of_verilog(tmp_path / "core.v") == d.lanes


def test_lanes_of_a_core_from_before_the_per_lane_trace_streams(tmp_path):
    """One ``trace__valid`` port, ``lanes`` bits wide: the lanes are read from its width."""
    (tmp_path / "old.v").write_text("module memres_top(clk, trace__valid, trace__entry);\n  input clk;\n"
                                    "  output [3:0] trace__valid;\n  output [211:0] trace__entry;\nendmodule\n")
    assert lanes_of_verilog(tmp_path / "old.v") == 4
    (tmp_path / "none.v").write_text("module memres_top(clk);\n  input clk;\nendmodule\n")
    assert lanes_of_verilog(tmp_path / "none.v") is None


# --- simulated --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed, sim", [(0, "verilator"), (11, "verilator"), (1, "icarus"), (5, "icarus")])
def test_random_configuration_matches_every_clock(seed, sim, tmp_path):
    d = random_design(seed)
    seqs = random_sequences(d, np.random.default_rng(seed), 6, 10)
    _check(d, tmp_path, seqs, sim=sim, seed=seed)


@pytest.mark.parametrize("seed, sim, p_ready", [(2, "verilator", 0.5), (3, "icarus", 0.1)])
def test_serial_readout_matches_every_clock(seed, sim, p_ready, tmp_path):
    """The serial readout on a random configuration: every third with its readout loaded first, every one
    with a readout switched while frames flow; results.ready low most of the time in the second."""
    d = random_design(seed, max_devices=12, max_virtual=3, readout_mode="serial")
    d.baked = seed % 3 != 0
    rng = np.random.default_rng(seed)
    seqs = random_sequences(d, rng, 4, 6)
    reloads = [(int(rng.integers(1, sum(map(len, seqs)))), *random_readout(d.params, rng))]
    rep = _check(d, tmp_path, seqs, sim=sim, seed=seed, p_ready=p_ready, reloads=reloads)
    assert rep["design"]["readout_mode"] == "serial"


def test_serial_readout_in_spram_on_yosys_model(tmp_path):
    """Weights in iCE40 SPRAM (SB_SPRAM256KA instances on Yosys' own model, compiled beside the core): the
    SPRAM starts empty, so the checker writes the readout through ``load`` first; every clock matches,
    also with a readout switched while frames flow."""
    d = dataclasses.replace(random_design(2, max_devices=12, max_virtual=3, readout_mode="serial"),
                            weight_ram="spram")
    assert d.params.weight_ram == "spram" and d.needs_load and d.baked
    rng = np.random.default_rng(2)
    seqs = random_sequences(d, rng, 4, 6)
    reloads = [(int(rng.integers(1, sum(map(len, seqs)))), *random_readout(d.params, rng))]
    v_text_check = tmp_path / "memres_top.v"
    rep = _check(d, tmp_path, seqs, seed=2, reloads=reloads)
    assert "SB_SPRAM256KA" in v_text_check.read_text()
    assert rep["design"]["weight_ram"] == "spram"
    assert (tmp_path / "run" / "SB_SPRAM256KA.v").is_file()


def test_readout_loaded_through_the_load_port(tmp_path):
    """A core with a zero readout (as generated from a configuration): weights and biases are loaded first."""
    d = random_design(7)
    d.baked = False
    seqs = random_sequences(d, np.random.default_rng(7), 4, 6)
    rep = _check(d, tmp_path, seqs, sim="icarus", seed=7)
    p = d.params
    assert rep["cycles"] > p.n_features * p.n_outputs    # the load beats took clocks


def test_heavy_back_pressure_and_no_gaps(tmp_path):
    """rows close to K and results.ready mostly low: stalls reach the input; then full speed."""
    cfg = config_from_dict({"reservoir": {"n_devices": 4, "n_virtual": 2, "state_features": True}})
    d = Design(cfg, 3, 6, 2, np.zeros((0, 6)), np.zeros(6))
    d.w, d.b = random_readout(d.params, np.random.default_rng(2))
    seqs = random_sequences(d, np.random.default_rng(2), 4, 6)
    _check(d, tmp_path / "a", seqs, sim="icarus", seed=2, p_valid=0.9, p_ready=0.15)
    rep = _check(d, tmp_path / "b", seqs, sim="icarus", seed=2, p_valid=1.0, p_ready=1.0)
    frames, latency = sum(map(len, seqs)), core_timing(d.params).latency
    # frames back to back (after the timing probe's: the next frame waits for their last result, one latency),
    # the last result after `latency`, then the checked idle tail (2 latency + 8)
    assert rep["cycles"] <= frames * max(d.params.rows, 6) + 4 * latency + 8 + 5


def test_values_only_mode(tmp_path):
    """timing=False: no timing probe; every transaction in order and the stream rule, still."""
    d = random_design(5)
    seqs = random_sequences(d, np.random.default_rng(5), 4, 8)
    rep = _check(d, tmp_path, seqs, sim="icarus", seed=5, timing=False)
    assert not rep["timing_checked"] and rep["latency_measured"] is None


def test_wrong_stated_timing_is_caught(tmp_path):
    """The timing probe: a latency or frame interval other than the stated one is a mismatch at the clock
    the result appears (frames always valid, results always ready from an empty pipeline)."""
    d = random_design(5)
    seqs = random_sequences(d, np.random.default_rng(5), 2, 4)
    v = tmp_path / "memres_top.v"
    write_verilog(d, v)
    t = core_timing(d.params)
    for name, stated in (("latency", {"latency": t.latency + 1, "cycles_per_frame": t.cycles_per_frame}),
                         ("cycles_per_frame", {"latency": t.latency, "cycles_per_frame": t.cycles_per_frame + 1})):
        rep = check_design(d, v, seqs, sim="icarus", run_dir=tmp_path / name, stated=stated, seed=1)
        m = rep["first_mismatch"]
        assert not rep["passed"] and m["signal"] == name, m
        assert (m["expected"], m["got"]) == (stated[name], getattr(t, name))


def test_verilog_of_another_core_is_refused(tmp_path):
    d = random_design(0)
    other = random_design(1)
    write_verilog(other, tmp_path / "other.v")
    with pytest.raises(VerifyError, match="port"):
        check_design(d, tmp_path / "other.v", [], run_dir=tmp_path / "run", sim="icarus")



def test_verilog_with_more_trace_lanes_is_refused(tmp_path):
    """Every stream has the design's width, but the file has a trace stream per lane of a 2-lane core."""
    d = random_design(0).with_lanes(1)
    write_verilog(d.with_lanes(2), tmp_path / "two.v")
    with pytest.raises(VerifyError, match="trace ports for 2 lanes; .* has 1 lane"):
        check_design(d, tmp_path / "two.v", [], run_dir=tmp_path / "run", sim="icarus")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 124))
def test_random_configuration_sweep(seed, tmp_path):
    """Larger random configurations (up to 64 devices, 8 virtual nodes, 32 inputs), longer stimulus.

    ``python benchmarks/verify_random_configs.py --count 50`` runs the same cases at a larger count."""
    case = random_case(seed)
    _check(case.design, tmp_path, case.seqs, sim=case.sim, seed=seed, p_valid=case.p_valid, p_ready=case.p_ready)


@pytest.mark.parametrize("seed, sim, p_ready", [(21, "icarus", 0.3), (22, "verilator", 0.7)])
def test_readout_switched_while_frames_flow(seed, sim, p_ready, tmp_path):
    """Two readouts written through `load` mid-stream (one inside a sequence): each frame's result uses the
    readout the core held when the frame entered the readout (a frame may wait while loads go first)."""
    d = random_design(seed, max_devices=10)
    rng = np.random.default_rng(seed)
    seqs = random_sequences(d, rng, 5, 6)
    n = sum(map(len, seqs))
    reloads = [(int(rng.integers(1, n)), *random_readout(d.params, rng)) for _ in range(2)]
    reloads.sort(key=lambda r: r[0])
    rep = _check(d, tmp_path, seqs, sim=sim, seed=seed, p_ready=p_ready, reloads=reloads)
    assert rep["cycles"] > 2 * d.params.n_features * d.n_outputs     # the load beats took clocks
