"""The checker catches deliberately broken hardware, at the clock and signal where it first shows."""

from pathlib import Path

import numpy as np
import pytest

from pygen.verify import check_design, random_sequences
from sw_model.config import config_from_dict
from testbenches.faults import FAULTS, fault_verilog
from testbenches.predict import Design, random_readout

#: Where each fault must first show (a substring of the mismatch's signal).
FIRST_SIGNAL = {
    "cell_rounding": "trace lane", "pulse_rounding": "trace lane", "decay_lsb": "trace lane",
    "g0_lsb": "trace lane", "mask_sign": "trace lane", "swapped_weight": "results y[0]",
    "valid_not_held": "results__valid", "input_stall_ignored": "frames__ready",
    # a cell array that never stalls keeps taking beats: the front (frames.ready) or its trace shows it first
    "stall_ignored": ("frames__ready", "trace__valid"),
    # the hardware no longer holds a frame back for a waiting load beat: the schedule shows it first
    "load_dropped": ("frames__ready", "trace__valid", "results y"),
}


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


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught(design, fault, tmp_path):
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    v = fault_verilog(design, fault, tmp_path / f"{fault}.v")
    # a readout switched at run time (after frame 5) shows whether loads arrive
    reloads = [(5, *random_readout(design.params, np.random.default_rng(9)))] if fault == "load_dropped" else []
    rep = check_design(design, v, seqs, seed=3, sim="icarus", run_dir=tmp_path / "run", p_ready=0.3,
                       reloads=reloads)
    assert not rep["passed"] and rep["mismatches"] == 1
    m = rep["first_mismatch"]
    want = FIRST_SIGNAL[fault]
    assert any(w in m["signal"] for w in ((want,) if isinstance(want, str) else want)), m
    assert m["cycle"] == rep["cycles"] and m["expected"] != m["got"] and m["seed"] == 3


def test_intact_design_passes_the_same_run(design, tmp_path):
    from pygen.verify import write_verilog
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    write_verilog(design, tmp_path / "ok.v")
    rep = check_design(design, tmp_path / "ok.v", seqs, seed=3, sim="icarus", run_dir=tmp_path / "run", p_ready=0.3)
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


def test_fault_caught_on_verilator(design, tmp_path):
    seqs = random_sequences(design, np.random.default_rng(2), 6, 8)
    v = fault_verilog(design, "stall_ignored", tmp_path / "bad.v")
    rep = check_design(design, v, seqs, seed=3, sim="verilator", run_dir=tmp_path / "run", p_ready=0.3)
    assert not rep["passed"] and any(w in rep["first_mismatch"]["signal"] for w in FIRST_SIGNAL["stall_ignored"])
