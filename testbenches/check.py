"""Drive the core under cocotb and compare its transactions with the prediction of :mod:`testbenches.predict`.

A *job* (one JSON file plus one ``.npz`` beside it, written by :func:`save_job`)
holds the design (configuration, sizes, lanes, readout), the stimulus
(sequences of input codes, load beats), the seed of the random valid gaps and
back-pressure, the latency and frame interval the hardware states, and where
to write the report. :func:`run_job` runs inside the simulator
(``testbenches/cocotb_core.py``):

* reset, then (for a core with a zero readout) every weight and bias through
  ``load`` with random gaps; then the *timing probe* (:data:`PROBE_FRAMES`
  frames from the empty pipeline, always valid, results always ready: the
  latency of the first and the interval between results must equal the stated
  figures); then the other frames with random gaps on ``frames.valid`` and
  random ``results.ready``;
* every clock: a small Verilog harness (:func:`harness_verilog`) samples the
  core's outputs at the rising edge, i.e. exactly what that edge's handshakes
  see; after the falling edge they are read (one status word, plus the trace
  and result words when valid) and the next clock's inputs are written;
* the transactions are compared in order: every cell write on the trace
  (device ``n``, pass ``m``, frame, new state ``g'``, feature ``i``, beat after
  beat), every result (``y[K]``, decision, ``last``), and the stream rule on
  ``results`` (a result offered and not taken stays valid, unchanged);
  readouts written while frames flow are matched to the frames that were
  summed with them (:class:`_Readouts`);
* the first difference stops the run with a :class:`Mismatch` naming the
  clock, the signal or cell (device, pass, frame), expected and got, and the
  seed; the report (JSON) is written either way.

With ``timing=False`` the probe is skipped (for designs whose pipeline
legitimately differs from the documented one); everything else is compared.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memres.hdl.top import core_timing
from memres.hdl.verilog import TRACE_PAYLOAD, TRACE_VALID
from memres.sw_model.classify import running_decisions

from .predict import Design, Expectation, load_beats

__all__ = ["Job", "Mismatch", "format_mismatch", "save_job", "load_job", "run_job", "harness_verilog", "HARNESS_TOP",
           "PROBE_FRAMES"]

#: Frames the timing probe drives from an empty pipeline (latency, then the interval between results).
PROBE_FRAMES = 3


class Mismatch(AssertionError):
    """The design differs from the prediction; ``report`` holds the details (JSON-able)."""

    def __init__(self, report: dict):
        self.report = report
        super().__init__(format_mismatch(report))


def format_mismatch(r: dict) -> str:
    lines = [f"MISMATCH at clock {r['cycle']}: {r['signal']}: expected {r['expected']}, got {r['got']}"]
    for key in ("where", "reproduce", "wave"):
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
    timing: bool = True           # measure latency and interval (first frames) against the stated figures
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
    #: The figures the hardware states (manifest or core); 0: those of ``hdl.top.core_timing``.
    latency: int = 0
    cycles_per_frame: int = 0

    def __post_init__(self):
        if not self.latency or not self.cycles_per_frame:
            t = core_timing(self.design.params)
            self.latency = self.latency or t.latency
            self.cycles_per_frame = self.cycles_per_frame or t.cycles_per_frame


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
            "latency": job.latency, "cycles_per_frame": job.cycles_per_frame, "arrays": f"{name}.npz"}
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
               meta["options"], meta.get("latency", 0), meta.get("cycles_per_frame", 0))


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
        self.measured: dict[str, int] = {}      # latency, cycles_per_frame (timing probe)
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def report(self, mismatch: dict | None) -> dict:
        seconds = time.perf_counter() - self.t0
        cpu = time.process_time() - self.cpu0
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
            "design": self.job.design.describe(), "cycles_per_frame": self.job.cycles_per_frame,
            "latency": self.job.latency, "latency_measured": self.measured.get("latency"),
            "cycles_per_frame_measured": self.measured.get("cycles_per_frame"),
        }

    def where_beat(self, beat) -> str:
        gf, row = beat
        s, t = self.exp.locate(gf)
        node, slot = divmod(row, self.p.slots)
        return f"sequence {s} frame {t} (global frame {gf}), beat row {row} = pass {node} slot {slot}"

    def mismatch(self, signal: str, expected, got, where: str = "") -> Mismatch:
        r = {"cycle": self.cycle, "signal": signal, "expected": expected, "got": got, "where": where,
             "seed": self.job.seed, "label": self.job.label,
             "reproduce": self.job.reproduce, "design": self.job.design.describe()}
        return Mismatch(r)

    def trace_diff(self, beat, got: int, want: int, valid_bits: int) -> Mismatch:
        """The first lane and field where a trace word differs."""
        if isinstance(got, str):
            return self.mismatch("trace__*__payload", hex(want), got, self.where_beat(beat))
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
        return self.mismatch("trace__*__payload", hex(want), hex(got), self.where_beat(beat))

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
    ``status_q`` = {trace[lanes-1 .. 0].valid, results.valid, load.ready, frames.ready},
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
    ew = Shape.cast(p.trace_entry_layout).width
    tw = ew * p.lanes
    sw = 3 + (p.lanes if trace else 0)
    # The core has one always-ready trace stream per lane; the harness gathers them into one
    # valid word and one entry word (lane l at bit l, and at bits l*ew upwards).
    trace_ports = "".join(f",\n    .{TRACE_VALID.format(lane=lane)}(trace_valid[{lane}]), "
                          f".{TRACE_PAYLOAD.format(lane=lane)}(trace_entry[{(lane + 1) * ew - 1}:{lane * ew}])"
                          for lane in range(p.lanes)) if trace else ""
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


# --- the pieces of a run: the stimulus, the readouts, the trace, the results, the timing probe ---------

class _Driver:
    """The stimulus side: the load beat, frame and ``results.ready`` of every clock.

    Load beats go first (a readout written before frame ``before_frame`` holds that frame back until all
    its beats are taken); frames and loads are offered with probability ``p_valid`` per idle clock,
    ``results.ready`` is high with probability ``p_ready``, except while probing: then the probe's frames
    are offered on every clock and ``results.ready`` is always high.
    """

    def __init__(self, run: _Run, beats: list[dict], load_at: list[int]):
        self.run, self.exp = run, run.exp
        self.rng = random.Random(run.job.seed)
        self.beats, self.load_at = beats, load_at
        self.load_words = run.exp.load_words(beats)
        self.n_loads = len(beats)
        self.loads_sent = self.frames_sent = 0
        self.l_offer = self.f_offer = self.rr = False

    def handshakes(self, fr: int, lr: int) -> tuple[dict | None, int | None]:
        """The beats taken at the edge that ended the clock: (load beat or None, frame index or None)."""
        load = frame = None
        if self.l_offer and lr:
            self.l_offer = False
            load = self.beats[self.loads_sent]
            self.loads_sent += 1
        if self.f_offer and fr:
            self.f_offer = False
            frame = self.frames_sent
            self.frames_sent += 1
            self.run.frames_in = self.frames_sent
        return load, frame

    def inputs(self, dut, probe_frames: int, probing: bool) -> int:
        """Offer the next clock's beats (payloads written to ``dut``); return the control word."""
        rng, job, n_frames = self.rng, self.run.job, self.exp.n_frames
        # while probing only the loads before frame 0: the probe's frames must not wait for a load
        load_due = self.loads_sent < self.n_loads and self.frames_sent >= self.load_at[self.loads_sent] and \
            (not probing or self.load_at[self.loads_sent] == 0)
        if load_due and not self.f_offer:
            if not self.l_offer and rng.random() < job.p_valid:
                self.l_offer = True
                dut.load_payload.value = self.load_words[self.loads_sent]
        elif self.frames_sent < n_frames and not self.f_offer and not load_due:
            if probing:
                offer = self.frames_sent < probe_frames
            else:
                offer = rng.random() < job.p_valid
            if offer:
                self.f_offer = True
                e, t = self.exp.words_of(self.frames_sent)
                dut.frames_payload.value = e.frame_words[t]
        self.rr = True if probing else rng.random() < job.p_ready
        return self.rr | (self.f_offer << 1) | (self.l_offer << 2)


class _Readouts:
    """The readouts a frame may have been summed with, when readouts are written while frames flow.

    The readout takes a load beat only between frames, and a frame's first beat may wait in the
    pipeline while loads go first: so a frame is summed with the readout after some number of load
    beats ``v``, at least the beats taken before the frame was accepted, at most those taken before
    its result appeared, and ``v`` never decreases from one frame to the next. For each result (in
    order) the smallest such ``v`` whose sums equal the result is taken.
    """

    def __init__(self, run: _Run, beats: list[dict]):
        p, d = run.p, run.job.design
        self.p, self.beats = p, beats
        self.w = np.array(d.w, dtype=np.int64) if d.baked else np.zeros((p.n_features, p.n_outputs), np.int64)
        self.b = np.array(d.b, dtype=np.int64) if d.baked else np.zeros(p.n_outputs, np.int64)
        self.applied = 0            # load beats applied to (w, b)
        self.taken = 0              # load beats the hardware has taken
        self.lower: dict[int, int] = {}

    def load_taken(self) -> None:
        self.taken += 1

    def frame_accepted(self, gf: int) -> None:
        self.lower[gf] = self.taken

    def _apply(self) -> None:
        beat = self.beats[self.applied]
        p, v = self.p, beat["value"]
        if beat["bias"]:
            self.b[beat["k"]] = min(max(v, -p.bias_max), p.bias_max)
        else:
            self.w[beat["node"] * p.n_devices + beat["device"], beat["k"]] = min(max(v, -p.weight_max),
                                                                                  p.weight_max)
        self.applied += 1

    def sums(self, gf: int, feats: np.ndarray, got_y: list[int]) -> np.ndarray:
        """``y`` of frame ``gf`` with the first admissible readout that gives ``got_y`` (else the last one)."""
        lower = self.lower.pop(gf)
        while self.applied < lower:
            self._apply()
        while True:
            y = feats @ self.w + self.b
            if [int(v) for v in y] == got_y or self.applied >= self.taken:
                return y
            self._apply()


class _TraceCheck:
    """Cell writes in order: every valid lane of every beat that writes cells, frame after frame."""

    def __init__(self, run: _Run, handle):
        self.run, self.h = run, handle
        self.next = (0, 0)          # (global frame, row) expected next

    def clock(self, tv: int) -> None:
        if not tv:
            return
        run, exp, rows = self.run, self.run.exp, self.run.p.rows
        gf, row = self.next
        while gf < exp.n_frames and exp.row_valid[row] == 0:
            gf, row = (gf, row + 1) if row + 1 < rows else (gf + 1, 0)
        run.compared += 1
        if gf >= exp.n_frames:
            raise run.mismatch("trace__*__valid", 0, tv, "all cell writes of the stimulus already seen")
        if tv != exp.row_valid[row]:
            raise run.mismatch("trace__*__valid", exp.row_valid[row], tv, run.where_beat((gf, row)))
        e, t = exp.words_of(gf)
        got = _read(self.h, exp.row_mask[row])
        want = e.trace_words[t * rows + row]
        n_valid = bin(tv).count("1")
        run.compared += 5 * n_valid
        run.trace_writes += n_valid
        if got != want:
            raise run.trace_diff((gf, row), got, want, tv)
        self.next = (gf, row + 1) if row + 1 < rows else (gf + 1, 0)

    def finish(self) -> None:
        """After the last result: every cell write of the stimulus was seen."""
        exp, rows = self.run.exp, self.run.p.rows
        gf, row = self.next
        while gf < exp.n_frames and exp.row_valid[row] == 0:
            gf, row = (gf, row + 1) if row + 1 < rows else (gf + 1, 0)
        if gf < exp.n_frames:
            raise self.run.mismatch("trace__*__valid", exp.row_valid[row], 0,
                                    f"{self.run.where_beat((gf, row))}: never written")


class _ResultCheck:
    """Results in order, and the stream rules: a result offered and not taken stays, unchanged."""

    def __init__(self, run: _Run, handle, readouts: _Readouts | None):
        self.run, self.h, self.readouts = run, handle, readouts
        self.done = 0               # results taken
        self.held = None            # the word of a result offered and not taken
        self.sums = None            # (global frame, running sums) with run-time readouts

    def _want(self, gf: int, got) -> tuple[int, int]:
        """(results word, decision) expected for frame ``gf``."""
        e, t = self.run.exp.words_of(gf)
        if self.readouts is None:
            return e.result_words[t], e.decisions[t]
        got_y = self.run.exp.result.unpack(got)["y"] if isinstance(got, int) else None
        y = self.readouts.sums(gf, e.feats[t], got_y)
        start = None if t == 0 else self.sums[1]
        sums, dec = running_decisions(y[None], self.run.p.seq_limit, start)
        self.sums = (gf, sums[-1])
        return self.run.exp.result_word(y, int(dec[-1]), t == e.length - 1), int(dec[-1])

    def clock(self, rv: int, rr: bool) -> int | None:
        """Check the clock's result; return the index of the frame whose result was taken, or None."""
        run = self.run
        if self.held is not None and not rv:
            raise run.mismatch("results__valid", 1, 0, "a result offered and not taken must stay valid")
        if not rv:
            return None
        gf = self.done
        if gf >= run.exp.n_frames:
            raise run.mismatch("results__valid", 0, 1, "all results of the stimulus already taken")
        if gf >= run.frames_in:
            raise run.mismatch("results__valid", 0, 1, f"result of frame {gf} before that frame was accepted")
        got = _read(self.h)
        if self.held is not None:
            if got != self.held[0]:
                raise run.mismatch("results__payload", hex(self.held[0]), got if isinstance(got, str) else hex(got),
                                   "a result offered and not taken must not change")
            want, decision = self.held
        else:
            want, decision = self._want(gf, got)
        run.compared += run.p.n_outputs + 2
        if got != want:
            raise run.result_diff(gf, got, want)
        if not rr:
            self.held = (want, decision)
            return None
        self.held = None
        e, t = run.exp.words_of(gf)
        if t == e.length - 1:
            run.decisions.append(decision)
            run.exp.drop(run.exp.locate(gf)[0])
        self.done += 1
        run.results = self.done
        return gf


class _TimingProbe:
    """The first frames from an empty pipeline, always valid, results always ready: latency and interval.

    The latency is the clocks from frame 0 being accepted to its result being valid; the interval, the
    clocks between consecutive results. Both must equal what the hardware states (``Job.latency``,
    ``Job.cycles_per_frame``).
    """

    def __init__(self, run: _Run, frames: int):
        self.run, self.frames = run, frames
        self.accepted: dict[int, int] = {}
        self.valid: list[int] = []         # the first clock each probe frame's result was valid
        self.finished = frames == 0

    def frame_accepted(self, gf: int, cycle: int) -> None:
        if gf < self.frames:
            self.accepted[gf] = cycle

    def result_valid(self, cycle: int) -> None:
        if self.finished or len(self.valid) > len(self.accepted) - 1:
            return
        self.valid.append(cycle)
        run, job = self.run, self.run.job
        gf = len(self.valid) - 1
        if gf == 0:
            got = cycle - self.accepted[0]
            run.measured["latency"] = got
            if got != job.latency:
                raise run.mismatch("latency", job.latency, got, f"frame 0 accepted at clock {self.accepted[0]}, "
                                   f"its result valid at clock {cycle} (empty pipeline, results always ready)")
        else:
            got = cycle - self.valid[-2]
            run.measured["cycles_per_frame"] = got
            if got != job.cycles_per_frame:
                raise run.mismatch("cycles_per_frame", job.cycles_per_frame, got,
                                   f"results of frames {gf - 1} and {gf} valid at clocks {self.valid[-2]} and "
                                   f"{cycle} (frames always valid, results always ready)")
        self.finished = len(self.valid) == self.frames

    def clock(self, cycle: int, rv: int) -> None:
        """A result not valid when due: result ``i`` is due ``latency + i * cycles_per_frame`` clocks after
        frame 0 was accepted."""
        if self.finished or 0 not in self.accepted or rv:
            return
        job, gf = self.run.job, len(self.valid)
        due = self.accepted[0] + job.latency + gf * job.cycles_per_frame
        if cycle > due:
            raise self.run.mismatch("results__valid", 1, 0, f"result of frame {gf} due at clock {due}: frame 0 "
                                    f"accepted at clock {self.accepted[0]}, latency {job.latency}, then a result "
                                    f"every {job.cycles_per_frame} clocks (frames always valid, results always "
                                    f"ready)")


def _probe_frames(job: Job, n_frames: int) -> int:
    """How many frames the timing probe drives: 3, fewer with a short stimulus or an early reload."""
    if not job.timing:
        return 0
    early = [int(at) for at, _, _ in job.reloads if int(at) > 0]
    return min([PROBE_FRAMES, n_frames, *early])


def _load_schedule(job: Job, p) -> tuple[list[dict], list[int]]:
    """Every load beat in the order offered, and the frame each must precede."""
    beats: list[dict] = []
    load_at: list[int] = []
    if job.load:
        b = load_beats(p, job.design.w, job.design.b)
        beats += b
        load_at += [0] * len(b)
    for at, rw, rb in job.reloads:
        b = load_beats(p, rw, rb)
        beats += b
        load_at += [int(at)] * len(b)
    return beats, load_at


async def _loop(dut, run: _Run, fe) -> None:
    """One iteration per clock, after its falling edge: check the clock that just ended, drive the next."""
    job, p, exp = run.job, run.p, run.exp
    beats, load_at = _load_schedule(job, p)
    driver = _Driver(run, beats, load_at)
    readouts = _Readouts(run, beats) if job.reloads else None
    trace = _TraceCheck(run, dut.trace_q) if job.trace else None
    results = _ResultCheck(run, dut.results_q, readouts)
    probe = _TimingProbe(run, _probe_frames(job, exp.n_frames))
    h_st, h_ctl = dut.status_q, dut.ctl
    budget = job.max_cycles or int((driver.n_loads / max(job.p_valid, 0.05) + (exp.n_frames + 2) * job.cycles_per_frame
                                    / min(max(job.p_ready, 0.05), max(job.p_valid, 0.05)) + 4 * job.latency) * 3
                                   + 1000)
    tail = -1                     # clocks still to check after the last result
    wrote_ctl = 0
    while True:
        ctl = driver.inputs(dut, probe.frames, not probe.finished)
        if ctl != wrote_ctl:
            h_ctl.value = ctl
            wrote_ctl = ctl
        await fe
        run.cycle += 1
        if run.cycle > budget:
            raise run.mismatch("progress", f"{exp.n_frames} results within {budget} clocks",
                               f"{results.done} results")
        st = _read(h_st)
        if type(st) is str:
            raise run.mismatch("frames__ready, load__ready, results__valid, trace__*__valid", "0 or 1", st)
        fr, lr, rv, tv = st & 1, (st >> 1) & 1, (st >> 2) & 1, st >> 3
        if trace is not None:
            trace.clock(tv)
        if rv:
            probe.result_valid(run.cycle)
        probe.clock(run.cycle, rv)
        results.clock(rv, driver.rr)
        load, frame = driver.handshakes(fr, lr)
        if load is not None and readouts is not None:
            readouts.load_taken()
        if frame is not None:
            probe.frame_accepted(frame, run.cycle)
            if readouts is not None:
                readouts.frame_accepted(frame)
        if results.done == exp.n_frames and tail < 0:
            tail = 2 * job.latency + 8        # nothing more may appear
        if tail >= 0:
            if tail == 0:
                if trace is not None:
                    trace.finish()
                break
            tail -= 1
        if (run.cycle & 0x3FFFF) == 0:
            import cocotb
            cocotb.log.info("memres verify: clock %d, %d of %d frames in, %d results checked, %d values compared",
                            run.cycle, driver.frames_sent, exp.n_frames, results.done, run.compared)
