"""The native engine (a C++ testbench around Verilator's model) and the bulk comparison of a recording.

* The C++ driver is the Python driver's twin: both engines record the same clocks (here and in
  ``test_verify_faults.py``, the same first mismatch of a broken core).
* :func:`testbenches.check.compare` catches every kind of difference in a recording: a recording of an
  intact core, tampered with one change at a time, fails at the clock of the change.
* CI compares more than 10^7 values on every run: the FSDD default configuration's core at 8 lanes.
"""

import dataclasses
import json

import numpy as np
import pytest

from memres.pygen.verify import check_design, verify, write_verilog
from memres.sw_model.workflow import TASK_DEFAULTS
from memres.testbenches import native
from memres.testbenches.check import compare
from memres.testbenches.harness import harness_verilog
from memres.testbenches.job import Job
from memres.testbenches.predict import Expectation, random_design, random_readout
from memres.testbenches.record import Stimulus
from memres.testbenches.stimulus import random_sequences


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A kept native recording of a random core with a readout switched while frames flow."""
    tmp = tmp_path_factory.mktemp("native")
    design = random_design(7)
    write_verilog(design, tmp / "core.v")
    (tmp / "harness.v").write_text(harness_verilog(design))
    build = native.build(design, [tmp / "harness.v", tmp / "core.v"])
    seqs = random_sequences(design, np.random.default_rng(3), 8, 8)
    reload = (4, *random_readout(design.params, np.random.default_rng(4)))
    job = Job(design, seqs, seed=5, p_valid=0.6, p_ready=0.5, reloads=[reload], report=str(tmp / "report.json"))
    exp = Expectation(design, seqs, keep_features=True)
    rec = native.run_native(build, job, [Stimulus.of(job, exp)], tmp, keep=True)
    return job, rec


def _tampered(rec, **arrays):
    return dataclasses.replace(rec, **{k: v for k, v in arrays.items()})


def _fails(job, rec, signal, cycle=None):
    r = compare(job, rec)
    assert not r["passed"], "the tampered recording passed"
    m = r["first_mismatch"]
    assert signal in m["signal"] or signal in m.get("where", ""), m
    if cycle is not None:
        assert m["cycle"] == cycle, m
    return m


def test_the_intact_recording_passes(recorded):
    job, rec = recorded
    r = compare(job, rec)
    assert r["passed"], r["first_mismatch"]
    assert r["results_checked"] == sum(map(len, job.seqs)) and r["compared"] > 10 * r["results_checked"]
    assert r["latency_measured"] == job.latency and r["cycles_per_frame_measured"] == job.cycles_per_frame
    assert rec.stop == "done" and len(rec.load_cycle) > 0 and rec.engine == "native"


def test_a_state_bit_flipped_in_the_trace(recorded):
    job, rec = recorded
    exp = Expectation(job.design, job.seqs)
    g = exp.trace.by_name["g"]
    k = len(rec.trace_cycle) // 2
    lane = (int(rec.trace_valid[k]) & -int(rec.trace_valid[k])).bit_length() - 1     # lowest valid lane
    bit = lane * exp.trace.entry_bits + g.offset
    words = rec.trace_words.copy()
    words[k, bit // 64] ^= np.uint64(1 << (bit % 64))
    _fails(job, _tampered(rec, trace_words=words), "g (new state g')", int(rec.trace_cycle[k]))


def test_trace_valid_bits_missing_extra_and_lost_beats(recorded):
    job, rec = recorded
    tv = rec.trace_valid.copy()
    tv[3] ^= 1
    _fails(job, _tampered(rec, trace_valid=tv), "trace__*__valid", int(rec.trace_cycle[3]))
    cut = _tampered(rec, trace_cycle=rec.trace_cycle[:-1], trace_valid=rec.trace_valid[:-1],
                    trace_words=rec.trace_words[:-1])
    _fails(job, cut, "never written", rec.cycles)
    extra = _tampered(rec, trace_cycle=np.append(rec.trace_cycle, rec.trace_cycle[-1] + 1),
                      trace_valid=np.append(rec.trace_valid, rec.trace_valid[-1]),
                      trace_words=np.vstack([rec.trace_words, rec.trace_words[-1:]]))
    _fails(job, extra, "already seen", int(rec.trace_cycle[-1]) + 1)


def test_a_result_changed_and_a_held_result_dropped(recorded):
    job, rec = recorded
    fresh = np.flatnonzero(np.concatenate([[1], rec.result_ready[:-1]]) == 1)     # not offered before
    taken = int(fresh[-1])
    words = rec.result_words.copy()
    words[taken, 0] ^= np.uint64(1)             # bit 0 of y[0]
    _fails(job, _tampered(rec, result_words=words), "results y[0]", int(rec.result_cycle[taken]))
    held = int(np.flatnonzero(rec.result_ready == 0)[0])
    keep = np.ones(len(rec.result_cycle), dtype=bool)
    keep[held + 1] = False
    dropped = _tampered(rec, result_cycle=rec.result_cycle[keep], result_ready=rec.result_ready[keep],
                        result_words=rec.result_words[keep])
    _fails(job, dropped, "must stay valid", int(rec.result_cycle[held]) + 1)


def test_timing_order_and_progress(recorded):
    job, rec = recorded
    late = rec.result_cycle.copy()
    late[0] += 1
    m = _fails(job, _tampered(rec, result_cycle=late), "latency", int(late[0]))
    assert (m["expected"], m["got"]) == (job.latency, job.latency + 1)
    early = rec.frame_cycle.copy()
    early[0] = rec.result_cycle[0] + 1           # frame 0 "taken" after its result appeared
    _fails(job, _tampered(rec, frame_cycle=early), "before that frame was accepted", int(rec.result_cycle[0]))
    _fails(job, _tampered(rec, stop="budget"), "progress", rec.budget + 1)


def test_native_and_cocotb_record_the_same_run(tmp_path):
    """Same seed, random gaps and back-pressure, a readout loaded and one switched mid-stream: the same
    clocks, values and decisions on both engines (the C++ driver draws Python's random numbers)."""
    d = random_design(12)
    write_verilog(d, tmp_path / "core.v")
    seqs = random_sequences(d, np.random.default_rng(5), 6, 8)
    reloads = [(7, *random_readout(d.params, np.random.default_rng(6)))]
    reps = [check_design(d, tmp_path / "core.v", seqs, seed=9, sim="verilator", run_dir=tmp_path / e, p_valid=0.5,
                         p_ready=0.4, reloads=reloads, engine=e) for e in ("native", "cocotb")]
    assert all(r["passed"] for r in reps), [r["first_mismatch"] for r in reps]
    keys = ("cycles", "compared", "results_checked", "trace_writes_checked", "frames_accepted", "decisions",
            "latency_measured", "cycles_per_frame_measured")
    assert {k: reps[0][k] for k in keys} == {k: reps[1][k] for k in keys}


def test_ci_compares_ten_million_values(tmp_path):
    """The FSDD default configuration's core (N=200, ML=10, C=32, K=10) at 8 lanes: its zero readout
    written through load, then 1500 random frames (and a random readout switched while they flow)."""
    cfg = tmp_path / "fsdd.json"
    cfg.write_text(json.dumps(TASK_DEFAULTS["fsdd"]))
    r = verify(cfg, lanes=8, n_inputs=32, n_outputs=10, random_count=150, max_len=20, out_dir=tmp_path / "v",
               waves=False)
    assert r["passed"], r["first_mismatch"]
    assert r["engine"] == "native" and r["compared"] > 10 ** 7, r["compared"]
