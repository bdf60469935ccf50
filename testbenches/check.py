"""Drive the core under cocotb and compare every clock with the prediction of :mod:`testbenches.predict`.

A *job* (one JSON file plus one ``.npz`` beside it, written by :func:`save_job`)
holds the design (configuration, sizes, lanes, readout), the stimulus
(sequences of input codes, load beats), the seed of the random valid gaps and
back-pressure, and where to write the report. :func:`run_job` runs inside the
simulator (``testbenches/cocotb_core.py``):

* reset, then (for a core with a zero readout) every weight and bias through
  ``load`` with random gaps, then the frames with random gaps on
  ``frames.valid`` and random ``results.ready``;
* every clock: a small Verilog harness (:func:`harness_verilog`) samples the
  core's outputs at the rising edge, i.e. exactly what that edge's handshakes
  see; after the falling edge they are read (one status word, plus the trace
  and result words when valid), the next clock's inputs are written, and the
  clock is compared with :class:`~testbenches.predict.ScheduleModel` (``frames.ready``,
  ``load.ready``, ``results.valid``, ``trace.valid``) and with the packed
  expected words (every valid trace lane: ``n, m, frame, g, i``; the result
  payload on every clock it is valid, taken or not);
* the first difference stops the run with a :class:`Mismatch` naming the
  clock, the signal or cell, expected and got, the stage contents of the
  schedule model and the seed; the report (JSON) is written either way.

With ``timing=False`` the handshakes are not predicted: values are compared in
order (trace beats, result beats) and the stream rule (a result offered and not
taken stays, unchanged) is checked; for designs whose pipeline legitimately
differs from the documented one.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .predict import Design, Expectation, ScheduleModel, load_beats

__all__ = ["Job", "Mismatch", "format_mismatch", "save_job", "load_job", "run_job", "harness_verilog", "HARNESS_TOP"]


class Mismatch(AssertionError):
    """The design differs from the prediction; ``report`` holds the details (JSON-able)."""

    def __init__(self, report: dict):
        self.report = report
        super().__init__(format_mismatch(report))


def format_mismatch(r: dict) -> str:
    lines = [f"MISMATCH at clock {r['cycle']}: {r['signal']}: expected {r['expected']}, got {r['got']}"]
    for key in ("where", "schedule", "reproduce", "wave"):
        if r.get(key):
            lines.append(f"  {key}: {r[key]}")
    return "\n".join(lines)


@dataclass
class Job:
    design: Design
    seqs: list[np.ndarray]
    seed: int = 1
    p_valid: float = 0.7          # probability per clock that an idle input stream offers its next beat
    p_ready: float = 0.7          # probability per clock that results.ready is high
    timing: bool = True
    trace: bool = True            # the Verilog has the trace port
    load: bool = False            # write the readout through the load port first
    max_cycles: int = 0           # 0: derived from the stimulus
    report: str = "report.json"
    #: Readouts written through ``load`` while frames flow: ``(before_frame, w, b)``: the driver holds
    #: frame ``before_frame`` back until every beat of the new readout is taken.
    reloads: list = field(default_factory=list)
    label: str = ""
    reproduce: str = ""
    options: dict = field(default_factory=dict)


def save_job(directory: str | Path, job: Job, name: str = "job") -> Path:
    """Write ``name.json`` and ``name.npz`` into ``directory``; return the JSON path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(s) for s in job.seqs], dtype=np.int64)
    codes = np.concatenate([np.asarray(s, dtype=np.int64) for s in job.seqs]) if job.seqs else \
        np.zeros((0, job.design.n_inputs), dtype=np.int64)
    k = job.design.n_outputs
    f = np.asarray(job.design.w).shape[0]
    np.savez_compressed(d / f"{name}.npz", w=job.design.w, b=job.design.b, codes=codes, lengths=lengths,
                        reload_at=np.array([r[0] for r in job.reloads], dtype=np.int64),
                        reload_w=np.array([r[1] for r in job.reloads], dtype=np.int64).reshape(-1, f, k),
                        reload_b=np.array([r[2] for r in job.reloads], dtype=np.int64).reshape(-1, k))
    meta = {"design": job.design.to_json(), "seed": job.seed, "p_valid": job.p_valid, "p_ready": job.p_ready,
            "timing": job.timing, "trace": job.trace, "load": job.load, "max_cycles": job.max_cycles,
            "report": str(job.report), "label": job.label, "reproduce": job.reproduce, "options": job.options,
            "arrays": f"{name}.npz"}
    path = d / f"{name}.json"
    path.write_text(json.dumps(meta, indent=1))
    return path


def load_job(path: str | Path) -> Job:
    path = Path(path)
    meta = json.loads(path.read_text())
    with np.load(path.parent / meta["arrays"]) as z:
        w, b, codes, lengths = z["w"], z["b"], z["codes"], z["lengths"]
        reloads = [(int(a), rw, rb) for a, rw, rb in zip(z["reload_at"], z["reload_w"], z["reload_b"])]
    ends = np.cumsum(lengths)
    seqs = [codes[e - n:e] for n, e in zip(lengths, ends)]
    design = Design.from_json(meta["design"], w, b)
    return Job(design, seqs, meta["seed"], meta["p_valid"], meta["p_ready"], meta["timing"], meta["trace"],
               meta["load"], meta["max_cycles"], meta["report"], reloads, meta["label"], meta["reproduce"],
               meta["options"])


# --- the run ----------------------------------------------------------------------------

class _Run:
    """State of one run: counters, the expectation and the report."""

    def __init__(self, job: Job):
        self.job = job
        self.p = job.design.params
        self.exp = Expectation(job.design, job.seqs, keep_features=bool(job.reloads))
        self.cycle = 0
        self.compared = 0
        self.trace_writes = 0
        self.results = 0
        self.frames_in = 0
        self.decisions: list[int] = []
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def report(self, mismatch: dict | None) -> dict:
        seconds = time.perf_counter() - self.t0
        cpu = time.process_time() - self.cpu0
        p = self.p
        return {
            "passed": mismatch is None, "label": self.job.label, "seed": self.job.seed,
            "reproduce": self.job.reproduce,
            "cycles": self.cycle, "compared": self.compared, "mismatches": 0 if mismatch is None else 1,
            "first_mismatch": mismatch, "sequences": len(self.job.seqs), "frames": self.exp.n_frames,
            "frames_accepted": self.frames_in, "results_checked": self.results,
            "trace_writes_checked": self.trace_writes, "decisions": self.decisions,
            "timing_checked": self.job.timing, "trace_checked": self.job.trace,
            "seconds": seconds, "cycles_per_second": self.cycle / seconds if seconds > 0 else 0.0,
            # CPU time of the simulator process (simulator + Python): independent of other jobs' load
            "cpu_seconds": cpu, "cycles_per_cpu_second": self.cycle / cpu if cpu > 0 else 0.0,
            "design": self.job.design.describe(), "cycles_per_frame": p.cycles_per_frame,
            "latency": p.latency,
        }

    def where_beat(self, beat) -> str:
        gf, row = beat
        s, t = self.exp.locate(gf)
        node, slot = divmod(row, self.p.slots)
        return f"sequence {s} frame {t} (global frame {gf}), beat row {row} = pass {node} slot {slot}"

    def mismatch(self, signal: str, expected, got, where: str = "", schedule: str = "") -> Mismatch:
        r = {"cycle": self.cycle, "signal": signal, "expected": expected, "got": got, "where": where,
             "schedule": schedule, "seed": self.job.seed, "label": self.job.label,
             "reproduce": self.job.reproduce, "design": self.job.design.describe()}
        return Mismatch(r)

    def trace_diff(self, beat, got: int, want: int, valid_bits: int) -> Mismatch:
        """The first lane and field where a trace word differs."""
        if isinstance(got, str):
            return self.mismatch("trace__entry", hex(want), got, self.where_beat(beat))
        pk = self.exp.trace
        _, row = beat
        node, slot = divmod(row, self.p.slots)
        for lane in range(self.p.lanes):
            if not (valid_bits >> lane) & 1:
                continue
            g, w = pk.unpack(got, lane), pk.unpack(want, lane)
            for name in ("n", "m", "frame", "g", "i"):
                if g[name] != w[name]:
                    n = slot * self.p.lanes + lane
                    what = {"g": "new state g'", "i": "feature i", "n": "device n", "m": "pass m",
                            "frame": "frame"}[name]
                    return self.mismatch(f"trace lane {lane} {name} ({what}) of device {n}, pass {node}",
                                         w[name], g[name], self.where_beat(beat))
        return self.mismatch("trace__entry", hex(want), hex(got), self.where_beat(beat))

    def result_diff(self, gf: int, got: int, want: int) -> Mismatch:
        pk = self.exp.result
        s, t = self.exp.locate(gf)
        where = f"result of sequence {s} frame {t} (global frame {gf})"
        if isinstance(got, str):
            return self.mismatch("results__payload", hex(want), got, where)
        g, w = pk.unpack(got), pk.unpack(want)
        for k, (a, b) in enumerate(zip(w["y"], g["y"])):
            if a != b:
                return self.mismatch(f"results y[{k}]", a, b, where)
        for name in ("decision", "last"):
            if g[name] != w[name]:
                return self.mismatch(f"results {name}", w[name], g[name], where)
        return self.mismatch("results__payload", hex(want), hex(got), where)


# --- the harness: registered copies of the outputs, one control word ---------------------------

HARNESS_TOP = "memres_verify_tb"


def harness_verilog(design: Design, trace: bool = True, core: str = "memres_top") -> str:
    """Verilog of the verification top: the core, its inputs from three ports, its outputs sampled.

    ``ctl`` = {load.valid, frames.valid, results.ready}; at every rising edge
    ``status_q`` = {trace.valid, results.valid, load.ready, frames.ready},
    ``trace_q`` and ``results_q`` take the values the core presents in that
    clock, i.e. the values the handshakes of that edge see. The testbench reads
    them after the falling edge and writes the next clock's inputs there: one
    ``await`` and one status read per clock instead of waiting for the ReadOnly
    phase and reading four ports.
    """
    from amaranth.hdl import Shape
    p = design.params
    fw, lw = Shape.cast(p.frame_layout).width, Shape.cast(p.load_layout).width
    rw = Shape.cast(p.result_layout).width
    tw = Shape.cast(p.trace_entry_layout).width * p.lanes
    sw = 3 + (p.lanes if trace else 0)
    trace_ports = ",\n    .trace__valid(trace_valid), .trace__entry(trace_entry)" if trace else ""
    trace_decl = (f"  wire [{p.lanes - 1}:0] trace_valid;\n  wire [{tw - 1}:0] trace_entry;\n"
                  f"  output reg [{tw - 1}:0] trace_q = 0;\n") if trace else ""
    status = "{trace_valid, results_valid, load_ready, frames_ready}" if trace else \
        "{results_valid, load_ready, frames_ready}"
    return f"""// memres verify harness (generated by testbenches/check.py); the core is {core}.
module {HARNESS_TOP}(clk, rst, ctl, frames_payload, load_payload, status_q, results_q{", trace_q" if trace else ""});
  input clk;
  input rst;
  input [2:0] ctl;
  input [{fw - 1}:0] frames_payload;
  input [{lw - 1}:0] load_payload;
  output reg [{sw - 1}:0] status_q = 0;
  output reg [{rw - 1}:0] results_q = 0;
{trace_decl}  wire frames_ready, load_ready, results_valid;
  wire [{rw - 1}:0] results_payload;
  {core} dut(
    .clk(clk), .rst(rst),
    .frames__valid(ctl[1]), .frames__payload(frames_payload), .frames__ready(frames_ready),
    .load__valid(ctl[2]), .load__payload(load_payload), .load__ready(load_ready),
    .results__valid(results_valid), .results__payload(results_payload), .results__ready(ctl[0]){trace_ports}
  );
  always @(posedge clk) begin
    status_q <= {status};
    results_q <= results_payload;{chr(10) + "    trace_q <= trace_entry;" if trace else ""}
  end
endmodule
"""


async def run_job(dut, job: Job) -> dict:
    """Run ``job`` on ``dut`` (a cocotb handle of the harness top); write and return the report.

    Raises :class:`Mismatch` at the first difference (after writing the report).
    """
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge

    run = _Run(job)
    mismatch = None
    try:
        Clock(dut.clk, 10, unit="ns").start()
        dut.rst.value = 1
        dut.ctl.value = 0
        dut.frames_payload.value = 0
        dut.load_payload.value = 0
        fe = FallingEdge(dut.clk)
        for _ in range(3):
            await fe
        dut.rst.value = 0
        run.exp.get(0) if run.exp.n_frames else None
        run.t0 = time.perf_counter()
        run.cpu0 = time.process_time()
        await _loop(dut, run, fe)
    except Mismatch as e:
        mismatch = e.report
        raise
    finally:
        report = run.report(mismatch)
        Path(job.report).parent.mkdir(parents=True, exist_ok=True)
        Path(job.report).write_text(json.dumps(report, indent=1, default=int))
        cocotb.log.info("memres verify: %d clocks, %d values compared, %s", report["cycles"], report["compared"],
                        "PASS" if mismatch is None else "MISMATCH")
    return report


def _read(handle, mask: int = -1):
    """Integer value of a port, or its bit string when it holds X or Z (which never equals a prediction)."""
    v = handle.value
    try:
        return int(v) & mask
    except ValueError:
        return f"{v} (X/Z bits)"


async def _loop(dut, run: _Run, fe) -> None:
    """One iteration per clock, after its falling edge: check the clock that just ended, drive the next."""
    job, p, exp = run.job, run.p, run.exp
    rng = random.Random(job.seed)
    p_valid, p_ready = job.p_valid, job.p_ready
    timing, has_trace = job.timing, job.trace
    rows, n_frames = p.rows, exp.n_frames
    row_valid, row_mask = exp.row_valid, exp.row_mask
    model = ScheduleModel(rows, p.n_outputs, p.readout)
    # Load beats in the order they are offered, each with the frame it must precede.
    all_beats: list[dict] = []
    load_at: list[int] = []
    if job.load:
        beats = load_beats(p, job.design.w, job.design.b)
        all_beats += beats
        load_at += [0] * len(beats)
    for at, rw, rb in job.reloads:
        beats = load_beats(p, rw, rb)
        all_beats += beats
        load_at += [int(at)] * len(beats)
    load_words = exp.load_words(all_beats)
    n_loads = len(load_words)
    # With readouts switched at run time, results are computed when they appear, from the features and
    # the readout the hardware held when the frame's first beat entered the readout (loads are taken only
    # between frames, so each frame sees one state; which one depends on the clock).
    dynamic = bool(job.reloads)
    d = job.design
    cur_w = np.array(d.w, dtype=np.int64) if d.baked else np.zeros((p.n_features, p.n_outputs), dtype=np.int64)
    cur_b = np.array(d.b, dtype=np.int64) if d.baked else np.zeros(p.n_outputs, dtype=np.int64)
    versions: dict[int, tuple] = {}
    frame_version: dict[int, int] = {}
    dyn = {"frame": -1, "word": 0, "decision": 0, "Y": [0] * p.n_outputs}

    def snapshot(gf: int) -> None:
        if loads_sent not in versions:
            versions[loads_sent] = (cur_w.copy(), cur_b.copy())
        frame_version[gf] = loads_sent

    def apply_load(beat: dict) -> None:
        v = beat["value"]
        if beat["bias"]:
            cur_b[beat["k"]] = min(max(v, -p.bias_max), p.bias_max)
        else:
            cur_w[beat["node"] * p.n_devices + beat["device"], beat["k"]] = min(max(v, -p.weight_max), p.weight_max)

    def dynamic_result(gf: int) -> tuple[int, int]:
        """(results word, decision) of frame gf with the readout it was summed with."""
        if dyn["frame"] != gf:
            e, t = words_of(gf)
            w_v, b_v = versions[frame_version[gf]]
            y = e.feats[t] @ w_v + b_v
            lim = p.seq_limit
            acc = [0] * p.n_outputs if t == 0 else dyn["Y"]
            acc = [min(max(a + int(v), -lim), lim) for a, v in zip(acc, y)]
            best = 0
            for k in range(1, len(acc)):
                if acc[k] > acc[best]:
                    best = k
            dyn.update(frame=gf, Y=acc, decision=best, word=exp.result_word(y, best, t == e.length - 1))
        return dyn["word"], dyn["decision"]

    h_ctl, h_fp, h_lp = dut.ctl, dut.frames_payload, dut.load_payload
    h_st, h_rp = dut.status_q, dut.results_q
    h_te = dut.trace_q if has_trace else None

    latency = p.latency
    budget = job.max_cycles or int((n_loads / max(p_valid, 0.05) + (n_frames + 2) * p.cycles_per_frame
                                    / min(max(p_ready, 0.05), max(p_valid, 0.05)) + 4 * latency) * 3 + 1000)

    loads_sent = frames_sent = results_done = 0
    l_offer = f_offer = rr = False
    wrote_ctl = 0
    tail = -1                     # clocks still to check after the last result
    cur_frame = -1
    cur_words = None
    cur_base = 0
    next_trace = (0, 0)           # (global frame, row) expected next on the trace, timing=False
    held = False                  # a result offered and not taken (timing=False)
    seq_of_frame = np.repeat(np.arange(len(job.seqs)), [len(s) for s in job.seqs])

    def words_of(gf: int):
        s = int(seq_of_frame[gf])
        e = exp.get(s)
        return e, gf - int(exp.starts[s])

    compared = 0
    first = True
    while True:
        if not first:
            await fe
            run.cycle += 1
            cycle = run.cycle
            if cycle > budget:
                raise run.mismatch("progress", f"{n_frames} results within {budget} clocks",
                                   f"{results_done} results", schedule=model.describe())
            # --- the clock that just ended: its inputs were (f_offer, rr, l_offer)
            st = _read(h_st)
            if type(st) is str:
                raise run.mismatch("frames__ready, load__ready, results__valid, trace__valid", "0 or 1", st)
            fr, lr, rv, tv = st & 1, (st >> 1) & 1, (st >> 2) & 1, st >> 3
            if timing:
                e_fr, e_lr, e_rv, e_beat, e_res = model.step(f_offer, rr, l_offer)
                e_tv = row_valid[e_beat[1]] if e_beat is not None else 0
                compared += 4 if has_trace else 3
                if fr != e_fr or lr != e_lr or rv != e_rv or (has_trace and tv != e_tv):
                    run.compared = compared
                    for name, a, b in (("frames__ready", e_fr, fr), ("load__ready", e_lr, lr),
                                       ("results__valid", e_rv, rv)):
                        if a != b:
                            raise run.mismatch(name, int(a), b, schedule=model.describe())
                    raise run.mismatch("trace__valid", e_tv, tv, run.where_beat(e_beat) if e_beat else
                                       "no cell write expected this clock", model.describe())
                took = model.readout_took
                if dynamic and took is not None and took[1] == 0:
                    snapshot(took[0])
                if e_tv and has_trace:
                    gf, row = e_beat
                    if gf != cur_frame:
                        cur_frame = gf
                        e, t = words_of(gf)
                        cur_words, cur_base = e.trace_words, t * rows
                    got = _read(h_te, row_mask[row])
                    want = cur_words[cur_base + row]
                    n_valid = bin(e_tv).count("1")
                    compared += 5 * n_valid
                    run.trace_writes += n_valid
                    if got != want:
                        run.compared = compared
                        raise run.trace_diff(e_beat, got, want, e_tv)
                if rv:
                    e, t = words_of(e_res)
                    got = _read(h_rp)
                    want, decision = dynamic_result(e_res) if dynamic else (e.result_words[t], e.decisions[t])
                    compared += p.n_outputs + 2
                    if got != want:
                        run.compared = compared
                        raise run.result_diff(e_res, got, want)
                    if rr:
                        results_done += 1
                        run.results = results_done
                        if t == e.length - 1:
                            run.decisions.append(decision)
                            exp.drop(int(seq_of_frame[e_res]))
            else:
                # values in order, the stream rule for results
                if tv:
                    gf, row = next_trace
                    while gf < n_frames and row_valid[row] == 0:
                        gf, row = (gf, row + 1) if row + 1 < rows else (gf + 1, 0)
                    compared += 1
                    if gf >= n_frames:
                        raise run.mismatch("trace__valid", 0, tv, "all cell writes of the stimulus already seen")
                    if tv != row_valid[row]:
                        raise run.mismatch("trace__valid", row_valid[row], tv, run.where_beat((gf, row)))
                    e, t = words_of(gf)
                    got = _read(h_te, row_mask[row])
                    want = e.trace_words[t * rows + row]
                    n_valid = bin(tv).count("1")
                    compared += 5 * n_valid
                    run.trace_writes += n_valid
                    if got != want:
                        run.compared = compared
                        raise run.trace_diff((gf, row), got, want, tv)
                    next_trace = (gf, row + 1) if row + 1 < rows else (gf + 1, 0)
                if held and not rv:
                    raise run.mismatch("results__valid", 1, 0, "a result offered and not taken must stay valid")
                if rv:
                    if results_done >= n_frames:
                        raise run.mismatch("results__valid", 0, 1, "all results of the stimulus already taken")
                    e, t = words_of(results_done)
                    got = _read(h_rp)
                    want, decision = dynamic_result(results_done) if dynamic else (e.result_words[t], e.decisions[t])
                    compared += p.n_outputs + 2
                    if got != want:
                        run.compared = compared
                        raise run.result_diff(results_done, got, want)
                    held = not rr
                    if rr:
                        if t == e.length - 1:
                            run.decisions.append(decision)
                        results_done += 1
                        run.results = results_done
            # --- handshakes of that clock's edge
            if l_offer and lr:
                l_offer = False
                if dynamic:
                    apply_load(all_beats[loads_sent])
                loads_sent += 1
            if f_offer and fr:
                f_offer = False
                frames_sent += 1
                run.frames_in = frames_sent
            if results_done == n_frames and tail < 0:
                tail = 2 * latency + 8        # nothing more may appear
            if tail >= 0:
                if tail == 0:
                    break
                tail -= 1
            if (cycle & 0xFFF) == 0:
                run.compared = compared
                if (cycle & 0x3FFFF) == 0:
                    import cocotb
                    cocotb.log.info("memres verify: clock %d, %d of %d frames in, %d results checked, "
                                    "%d values compared", cycle, frames_sent, n_frames, results_done, compared)
        first = False
        # --- inputs of the next clock
        if loads_sent < n_loads and frames_sent >= load_at[loads_sent] and not f_offer:
            if not l_offer and rng.random() < p_valid:
                l_offer = True
                h_lp.value = load_words[loads_sent]
        elif frames_sent < n_frames and not f_offer and (loads_sent == n_loads or frames_sent < load_at[loads_sent]) \
                and rng.random() < p_valid:
            f_offer = True
            e, t = words_of(frames_sent)
            h_fp.value = e.frame_words[t]
        rr = rng.random() < p_ready
        ctl = rr | (f_offer << 1) | (l_offer << 2)
        if ctl != wrote_ctl:
            h_ctl.value = ctl
            wrote_ctl = ctl
    run.compared = compared
