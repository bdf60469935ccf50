"""The checker catches deliberately broken hardware, at the clock and signal where it first shows.

Every fault shows in the transactions (cell writes, results, the stream rule on results); a frame lost at
the input shows first in the timing probe (its result not valid when due).
"""

from pathlib import Path

import numpy as np
import pytest

from memres.pygen.verify import check_design, write_verilog
from memres.testbenches.stimulus import TIE_SEARCH_PAIRS, corner_reset, random_sequences
from memres.sw_model.config import config_from_dict
from memres.testbenches.directed import tie_sequences
from memres.testbenches.faults import FAULTS, fault_verilog
from memres.testbenches.predict import Design, random_readout

#: Where each fault must first show (a substring of the mismatch's signal).
FIRST_SIGNAL = {
    "cell_rounding": "trace lane", "cell_rounding_tie": "trace lane", "pulse_rounding": "trace lane", "decay_lsb": "trace lane",
    "g0_lsb": "trace lane", "mask_sign": "trace lane", "swapped_weight": "results y[0]",
    "valid_not_held": "results__valid",
    # frames offered while the projection is busy are lost: the probe's next result is not valid when due
    "input_stall_ignored": ("results__valid", "trace lane"),
    # a cell array that never stalls loses beats: a result (or a cell write) shows it
    "stall_ignored": ("results y", "trace"),
    # the frames after the reload are summed with the old readout
    "load_dropped": "results y",
    # a beat addressed outside the readout (k >= K here) changes a weight or bias in use
    "stray_load_written": "results y",
    "serial_weight_layout": "results y[",
    # the readout goes on where it should stall: the lost y[k] shows in the results
    "serial_stall_ignored": ("results y", "results__valid"),
    # after a reset the old frame's cell writes go on where the next sequence's first ones are due
    "reset_ignored": "trace",
}
#: Faults checked on the serial readout too (the serial_* ones only there).
SERIAL_CHECKED = ("swapped_weight", "load_dropped", "stray_load_written")
#: Faults that show only on a readout written at run time (after frame 5), the second with its load beats
#: scrambled among beats addressed outside the readout (``Job.scramble_loads``).
RELOADED = ("load_dropped", "stray_load_written")


@pytest.fixture(scope="module")
def design():
    """rows = 6 beats per frame against K = 5 classifier steps: back-pressure reaches the front."""
    cfg = config_from_dict({"reservoir": {"n_devices": 4, "n_virtual": 1, "state_features": True, "seed": 3,
                                          "input_scale": 2.0,
                                          "tau": {"mode": "uniform", "low_ns": 20.0, "high_ns": 300.0}}})
    d = Design(cfg, 5, 5, 2, np.zeros((0, 5)), np.zeros(5))
    d.w, d.b = random_readout(d.params, np.random.default_rng(1))
    return d


def test_every_fault_has_an_expected_signal():
    assert set(FAULTS) == set(FIRST_SIGNAL)


def _caught(design, fault, tmp_path, p_ready=0.3):
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    if fault == "cell_rounding_tie":      # random stimulus does not reach the residue (test below)
        seqs += tie_sequences(design, np.random.default_rng(2), max_pairs=TIE_SEARCH_PAIRS).sequences
    v = fault_verilog(design, fault, tmp_path / f"{fault}.v")
    # a readout switched at run time (after frame 5) shows whether loads arrive
    reloads = [(5, *random_readout(design.params, np.random.default_rng(9)))] if fault in RELOADED else []
    rep = check_design(design, v, seqs, seed=3, sim="icarus", run_dir=tmp_path / "run", p_ready=p_ready,
                       reloads=reloads, resets=_reset_at_once(design, seqs) if fault == "reset_ignored" else (),
                       scramble_loads=fault == "stray_load_written")
    assert not rep["passed"] and rep["mismatches"] == 1
    m = rep["first_mismatch"]
    want = FIRST_SIGNAL[fault]
    assert any(w in m["signal"] for w in ((want,) if isinstance(want, str) else want)), m
    assert 0 < m["cycle"] <= rep["cycles"] and m["expected"] != m["got"] and m["seed"] == 3


def _reset_at_once(design, seqs):
    """A reset the clock after a frame in the middle of a sequence is taken (while it is being issued)."""
    frame, _ = corner_reset(design, seqs, np.random.default_rng(4))
    return [(frame, 0)]


def test_reset_in_the_middle_of_a_sequence_both_engines(design, tmp_path):
    """The intact core passes a run with a reset while a frame is in flight, and both engines agree."""
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    write_verilog(design, tmp_path / "ok.v")
    reps = [check_design(design, tmp_path / "ok.v", seqs, seed=3, sim="verilator", run_dir=tmp_path / e, p_ready=0.5,
                         resets=_reset_at_once(design, seqs), engine=e) for e in ("native", "cocotb")]
    assert all(r["passed"] for r in reps), [r["first_mismatch"] for r in reps]
    assert reps[0]["resets"] == 1 and reps[0]["frames"] < sum(map(len, seqs))      # the rest of a sequence skipped
    keys = ("cycles", "compared", "results_checked", "decisions")
    assert {k: reps[0][k] for k in keys} == {k: reps[1][k] for k in keys}


@pytest.mark.parametrize("fault", sorted(f for f in FAULTS if not f.startswith("serial_")))
def test_fault_is_caught(design, fault, tmp_path):
    _caught(design, fault, tmp_path)


def test_rounding_tie_needs_the_directed_stimulus(design, tmp_path):
    """A rounding constant one LSB off passes a long random run; the tie sequences catch it at once."""
    v = fault_verilog(design, "cell_rounding_tie", tmp_path / "tie.v")
    ties = tie_sequences(design, np.random.default_rng(2), max_pairs=TIE_SEARCH_PAIRS)
    assert any(t[0] in ("move", "current") for t in ties.reached), ties.summary()
    runs = {name: check_design(design, v, seqs, seed=3, sim="verilator", run_dir=tmp_path / name)
            for name, seqs in (("random", random_sequences(design, np.random.default_rng(2), 300, 30)),
                               ("ties", ties.sequences))}
    assert runs["random"]["passed"] and runs["random"]["compared"] > 10 ** 5
    assert not runs["ties"]["passed"] and "trace lane" in runs["ties"]["first_mismatch"]["signal"]


def test_stray_loads_need_the_scrambled_load_stimulus(design, tmp_path):
    """A readout that writes beats addressed outside it passes when only beats in range are written; the
    scrambled loads of the corner stimulus, with stray beats among them, catch it. The intact core passes
    the scrambled run."""
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    reloads = [(5, *random_readout(design.params, np.random.default_rng(9)))]
    bad, good = fault_verilog(design, "stray_load_written", tmp_path / "stray.v"), tmp_path / "ok.v"
    write_verilog(design, good)
    run = {(v.stem, sc): check_design(design, v, seqs, seed=3, sim="verilator", run_dir=tmp_path / f"{v.stem}{sc}",
                                      reloads=reloads, scramble_loads=sc)
           for v in (bad, good) for sc in (False, True)}
    assert run[("stray", False)]["passed"] and run[("ok", True)]["passed"]
    assert not run[("stray", True)]["passed"] and "results y" in run[("stray", True)]["first_mismatch"]["signal"]


@pytest.mark.parametrize("fault", [f for f in sorted(FAULTS) if f.startswith("serial_")] + list(SERIAL_CHECKED))
def test_fault_is_caught_with_the_serial_readout(design, fault, tmp_path):
    """The serial readout's own faults, and some of the others on it. A y[k] is only ever not taken
    when the result register is still full when a frame's sums arrive (every rows * K clocks): so
    results.ready is rarely high for serial_stall_ignored."""
    _caught(design.with_readout_mode("serial"), fault, tmp_path,
            p_ready=0.03 if fault == "serial_stall_ignored" else 0.3)


def test_lost_frames_are_caught_by_the_transactions_alone(design, tmp_path):
    """Without the timing probe (--no-timing) the frames lost at the input show in the cell writes."""
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    v = fault_verilog(design, "input_stall_ignored", tmp_path / "bad.v")
    rep = check_design(design, v, seqs, seed=3, sim="icarus", run_dir=tmp_path / "run", p_ready=0.3, timing=False)
    assert not rep["passed"] and "trace lane" in rep["first_mismatch"]["signal"]


def test_serial_faults_need_the_serial_readout(design, tmp_path):
    with pytest.raises(ValueError, match="serial"):
        fault_verilog(design, "serial_weight_layout", tmp_path / "bad.v")


@pytest.mark.parametrize("readout, p_ready", [("parallel", 0.3), ("serial", 0.03)])
def test_intact_design_passes_the_same_run(design, readout, p_ready, tmp_path):
    from memres.pygen.verify import write_verilog
    design = design.with_readout_mode(readout)
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    write_verilog(design, tmp_path / "ok.v")
    rep = check_design(design, tmp_path / "ok.v", seqs, seed=3, sim="icarus", run_dir=tmp_path / "run",
                       p_ready=p_ready)
    assert rep["passed"]


def test_mismatch_writes_a_waveform(design, tmp_path):
    """waves="on_failure": the failing run is repeated with tracing; the report says where the file is."""
    v = fault_verilog(design, "decay_lsb", tmp_path / "bad.v")
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    rep = check_design(design, v, seqs, seed=3, sim="icarus", run_dir=tmp_path / "run", waves="on_failure",
                       reproduce="memres verify ... --seed 3")
    assert rep["wave_reproduced"]
    wave = rep["first_mismatch"]["wave"]
    assert wave == str(tmp_path / "run" / "waves" / "memres_verify_tb.vcd")
    assert Path(wave).stat().st_size > 1000
    assert rep["first_mismatch"]["reproduce"] == "memres verify ... --seed 3"


def test_fault_caught_on_verilator_by_both_engines_at_the_same_clock(design, tmp_path):
    """The native testbench and cocotb drive the same clocks, so they find the same first mismatch."""
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    v = fault_verilog(design, "stall_ignored", tmp_path / "bad.v")
    reps = [check_design(design, v, seqs, seed=3, sim="verilator", run_dir=tmp_path / engine, p_ready=0.3,
                         engine=engine, waves=False) for engine in ("native", "cocotb")]
    assert [r["engine"] for r in reps] == ["native", "cocotb"]
    for rep in reps:
        assert not rep["passed"] and any(w in rep["first_mismatch"]["signal"] for w in FIRST_SIGNAL["stall_ignored"])
    keys = ("cycle", "signal", "expected", "got", "where")
    assert [{k: r["first_mismatch"][k] for k in keys} for r in reps][0] == \
        [{k: r["first_mismatch"][k] for k in keys} for r in reps][1]
    assert reps[0]["cycles"] == reps[1]["cycles"] and reps[0]["compared"] == reps[1]["compared"]
