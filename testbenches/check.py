"""Compare what a run recorded with the prediction of :mod:`testbenches.predict`, transaction by transaction.

An engine drives a job (:mod:`testbenches.job`) and records what the core shows
(:mod:`testbenches.record` under cocotb, :mod:`testbenches.native` in C++);
:func:`compare` then checks the whole recording in bulk:

* every cell write on the trace, in order (device ``n``, pass ``m``, frame, new
  state ``g'``, feature ``i``, beat after beat): numpy over all beats at once,
  a batch of sequences at a time;
* every result (``y[K]``, decision, ``last``) and the stream rule on
  ``results`` (a result offered and not taken stays valid, unchanged), with
  readouts written while frames flow matched to the frames summed with them
  (:class:`_Readouts`): a replay of the recorded events in clock order;
* the timing probe (latency of the first frame, interval between results) from
  the clocks the probe's frames were taken and their results were valid;
* nothing more after the last result, every cell write seen, every result
  delivered within the clock budget.

The first difference (the earliest clock over all of these) is the report's
``first_mismatch``, naming the clock, the signal or cell (device, pass,
frame), expected and got, and the seed. :func:`run_job` is the cocotb test's
body: record, compare, write the report.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from memres.sw_model.classify import running_decisions

from .harness import port_words
from .job import RESET_CLOCKS, Job, load_schedule, probe_frames, run_budget, segments
from .predict import Expectation, loaded_value, words_to_ints, writes_readout
from .record import Recording, prepare, record

__all__ = ["Mismatch", "format_mismatch", "compare", "write_report", "run_job"]


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


class _Readouts:
    """The readouts a frame may have been summed with, when readouts are written while frames flow.

    The readout takes a load beat only between frames, and a frame's first beat may wait in the
    pipeline while loads go first: so a frame is summed with the readout after some number of load
    beats ``v``, at least the beats taken before the frame was accepted, at most those taken before
    its result appeared, and ``v`` never decreases from one frame to the next. For each result (in
    order) the smallest such ``v`` whose sums equal the result is taken.
    """

    def __init__(self, run: _Compare, beats: list[dict]):
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
        if writes_readout(p, beat):             # a beat addressed outside the readout is ignored
            if beat["bias"]:
                self.b[beat["k"]] = loaded_value(p, v, True)
            else:
                self.w[beat["node"] * p.n_devices + beat["device"], beat["k"]] = loaded_value(p, v, False)
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


class _TimingProbe:
    """The first frames from an empty pipeline, always valid, results always ready: latency and interval.

    The latency is the clocks from frame 0 being accepted to its result being valid; the interval, the
    clocks between consecutive results. Both must equal what the hardware states (``Job.latency``,
    ``Job.cycles_per_frame``).
    """

    def __init__(self, run: _Compare, frames: int):
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

    def silent(self, first: int, last: int) -> None:
        """Clocks ``first .. last`` had no result valid: a probe result due among them is a mismatch (result
        ``i`` is due ``latency + i * cycles_per_frame`` clocks after frame 0 was accepted)."""
        if self.finished or 0 not in self.accepted or first > last:
            return
        job, gf = self.run.job, len(self.valid)
        due = self.accepted[0] + job.latency + gf * job.cycles_per_frame
        if last > due:
            self.run.cycle = max(first, due + 1)
            raise self.run.mismatch("results__valid", 1, 0, f"result of frame {gf} due at clock {due}: frame 0 "
                                    f"accepted at clock {self.accepted[0]}, latency {job.latency}, then a result "
                                    f"every {job.cycles_per_frame} clocks (frames always valid, results always "
                                    f"ready)")


# --- the comparison ---------------------------------------------------------------------

class _Compare:
    """One recording against the prediction: counters, the expectation and the report."""

    def __init__(self, job: Job, rec: Recording, exp: Expectation | None = None, cut: bool = False):
        self.job, self.rec = job, rec
        self.cut = cut                # a segment ended by a reset: what was in the pipeline is lost
        self.p = job.design.params
        self.exp = exp or Expectation(job.design, job.seqs, keep_features=bool(job.reloads))
        self.cycle = 0
        self.decisions: list[int] = []
        self.results = 0              # results taken
        self.result_records = 0       # clocks with a result valid, compared
        self.measured: dict[str, int] = {}      # latency, cycles_per_frame (timing probe)

    # --- reports ---
    def mismatch(self, signal: str, expected, got, where: str = "") -> Mismatch:
        r = {"cycle": self.cycle, "signal": signal, "expected": expected, "got": got, "where": where,
             "seed": self.job.seed, "label": self.job.label,
             "reproduce": self.job.reproduce, "design": self.job.design.describe()}
        return Mismatch(r)

    def where_beat(self, gf: int, row: int) -> str:
        s, t = self.exp.locate(gf)
        node, slot = divmod(row, self.p.slots)
        return f"sequence {s} frame {t} (global frame {gf}), beat row {row} = pass {node} slot {slot}"

    def trace_diff(self, gf: int, row: int, got: int, want: int, valid_bits: int) -> Mismatch:
        """The first lane and field where a trace word differs."""
        pk = self.exp.trace
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
                                         w[name], g[name], self.where_beat(gf, row))
        return self.mismatch("trace__*__payload", hex(want), hex(got), self.where_beat(gf, row))

    def result_diff(self, gf: int, got: int, want: int) -> Mismatch:
        pk = self.exp.result
        s, t = self.exp.locate(gf)
        where = f"result of sequence {s} frame {t} (global frame {gf})"
        g, w = pk.unpack(got), pk.unpack(want)
        for k, (a, b) in enumerate(zip(w["y"], g["y"])):
            if a != b:
                return self.mismatch(f"results y[{k}]", a, b, where)
        for name in ("decision", "last"):
            if g[name] != w[name]:
                return self.mismatch(f"results {name}", w[name], g[name], where)
        return self.mismatch("results__payload", hex(want), hex(got), where)

    # --- the trace: every cell write, in bulk ---
    def trace(self) -> Mismatch | None:
        """The first trace beat that differs (valid lanes or payload), an extra beat, or a missing one."""
        exp, rec, rows = self.exp, self.rec, self.p.rows
        wr = exp.write_rows
        per_frame = len(wr)
        n_exp = exp.n_frames * per_frame
        n_rec = len(rec.trace_cycle)
        n = min(n_rec, n_exp)
        want_tv = np.tile(exp.row_valid[wr], exp.n_frames)[:n]
        bad = np.flatnonzero(rec.trace_valid[:n] != want_tv)
        first = int(bad[0]) if len(bad) else n
        mask = exp.row_mask[wr]
        first_word = None
        for s in range(len(self.job.seqs)):
            lo = int(exp.starts[s]) * per_frame
            hi = min(int(exp.starts[s + 1]) * per_frame, first)
            if lo >= hi:
                if lo >= first:
                    break
                continue
            e = exp.get(s)
            want = e.trace_words.reshape(e.length, rows, -1)[:, wr].reshape(-1, mask.shape[1])[:hi - lo]
            got = rec.trace_words[lo:hi] & np.tile(mask, (e.length, 1))[:hi - lo]
            diff = np.flatnonzero((got != want).any(axis=1))
            if len(diff):
                first = first_word = lo + int(diff[0])
                break
            e.trace_words = None          # compared: free it
        if first < n:
            gf, row = divmod(first, per_frame)
            row = int(wr[row])
            self.cycle = int(rec.trace_cycle[first])
            tv = int(rec.trace_valid[first])
            if first_word is None:
                return self.mismatch("trace__*__valid", int(exp.row_valid[row]), tv, self.where_beat(gf, row))
            e, t = exp.words_of(gf)
            got = words_to_ints(rec.trace_words[first:first + 1] & mask[first % per_frame])[0]
            want = words_to_ints(e.trace_words[t * rows + row:t * rows + row + 1])[0]
            return self.trace_diff(gf, row, got, want, tv)
        if n_rec > n_exp:
            self.cycle = int(rec.trace_cycle[n_exp])
            return self.mismatch("trace__*__valid", 0, int(rec.trace_valid[n_exp]),
                                 "all cell writes of the stimulus already seen")
        if n_rec < n_exp and rec.stop == "done":
            gf, row = divmod(n_rec, per_frame)
            row = int(wr[row])
            self.cycle = rec.cycles
            return self.mismatch("trace__*__valid", int(exp.row_valid[row]), 0,
                                 f"{self.where_beat(gf, row)}: never written")
        return None

    # --- the results, the probe and the readouts: the recorded events in clock order ---
    def results_replay(self) -> Mismatch | None:
        job, rec, exp, p = self.job, self.rec, self.exp, self.p
        beats, _ = load_schedule(job, p)
        readouts = _Readouts(self, beats) if job.reloads else None
        probe = _TimingProbe(self, probe_frames(job, exp.n_frames))
        fc, lc = rec.frame_cycle, rec.load_cycle
        fi = li = 0
        done = 0
        held = None
        sums = None
        got_words = words_to_ints(rec.result_words)

        def advance(until: int) -> None:
            """The handshakes of the clocks before ``until``: loads and frames taken, in clock order."""
            nonlocal fi, li
            while True:
                f = int(fc[fi]) if fi < len(fc) else None
                ld = int(lc[li]) if li < len(lc) else None
                if f is not None and f < until and (ld is None or f < ld):
                    probe.frame_accepted(fi, f)
                    if readouts is not None:
                        readouts.frame_accepted(fi)
                    fi += 1
                elif ld is not None and ld < until:
                    if readouts is not None:
                        readouts.load_taken()
                    li += 1
                else:
                    return

        def want_of(gf: int, got: int) -> tuple[int, int]:
            nonlocal sums
            e, t = exp.words_of(gf)
            if readouts is None:
                return e.result_words[t], e.decisions[t]
            y = readouts.sums(gf, e.feats[t], exp.result.unpack(got)["y"])
            s, dec = running_decisions(y[None], p.seq_limit, None if t == 0 else sums)
            sums = s[-1]
            return exp.result_word(y, int(dec[-1]), t == e.length - 1 and exp.ends(exp.locate(gf)[0])), int(dec[-1])

        prev = 0
        try:
            for i, c in enumerate(rec.result_cycle):
                c = int(c)
                advance(c)
                if held is not None and c != prev + 1:
                    self.cycle = prev + 1
                    raise self.mismatch("results__valid", 1, 0, "a result offered and not taken must stay valid")
                probe.silent(prev + 1, c - 1)
                self.cycle = c
                probe.result_valid(c)
                gf = done
                if gf >= exp.n_frames:
                    raise self.mismatch("results__valid", 0, 1, "all results of the stimulus already taken")
                if gf >= fi:
                    raise self.mismatch("results__valid", 0, 1, f"result of frame {gf} before that frame was "
                                        "accepted")
                got = got_words[i]
                if held is not None:
                    if got != held[0]:
                        raise self.mismatch("results__payload", hex(held[0]), hex(got),
                                            "a result offered and not taken must not change")
                    want, decision = held
                else:
                    want, decision = want_of(gf, got)
                self.result_records += 1
                if got != want:
                    raise self.result_diff(gf, got, want)
                prev = c
                if not rec.result_ready[i]:
                    held = (want, decision)
                    continue
                held = None
                e, t = exp.words_of(gf)
                if t == e.length - 1 and exp.ends(exp.locate(gf)[0]):
                    self.decisions.append(decision)
                done += 1
                self.results = done
            advance(rec.cycles + 1)
            if held is not None and prev + 1 <= rec.cycles and not self.cut:
                self.cycle = prev + 1
                raise self.mismatch("results__valid", 1, 0, "a result offered and not taken must stay valid")
            probe.silent(prev + 1, rec.cycles)
        except Mismatch as m:
            return m
        return None

    def run(self) -> dict | None:
        """The earliest mismatch of the recording, or None."""
        rec = self.rec
        found: list[tuple[int, int, dict]] = []
        if rec.xz is not None:
            found.append((rec.xz["cycle"], 0, {**self.mismatch(rec.xz["signal"], "0 or 1", rec.xz["got"]).report,
                                               "cycle": rec.xz["cycle"]}))
        m = self.trace() if self.job.trace else None     # a netlist without the trace port: results only
        if m is not None:
            found.append((m.report["cycle"], 1, m.report))
        m = self.results_replay()
        if m is not None:
            found.append((m.report["cycle"], 2, m.report))
        if rec.stop == "budget":
            self.cycle = rec.budget + 1
            found.append((self.cycle, 3, self.mismatch("progress", f"{self.exp.n_frames} results within "
                                                       f"{rec.budget} clocks", f"{self.results} results").report))
        if not found:
            return None
        return min(found, key=lambda f: (f[0], f[1]))[2]

    def report(self, mismatch: dict | None) -> dict:
        rec, job, p = self.rec, self.job, self.p
        upto = mismatch["cycle"] if mismatch else rec.cycles
        beats = int(np.searchsorted(rec.trace_cycle, upto, side="right"))
        lanes = int(np.unpackbits(rec.trace_valid[:beats].astype("<u8").view(np.uint8)).sum())   # cell writes
        records = int(np.searchsorted(rec.result_cycle, upto, side="right"))
        seconds, cpu = rec.seconds, rec.cpu_seconds
        return {
            "passed": mismatch is None, "label": job.label, "seed": job.seed, "reproduce": job.reproduce,
            "engine": rec.engine, "cycles": rec.cycles,
            "compared": beats + 5 * lanes + (p.n_outputs + 2) * records,
            "mismatches": 0 if mismatch is None else 1, "first_mismatch": mismatch, "sequences": len(job.seqs),
            "frames": self.exp.n_frames, "frames_accepted": int(np.searchsorted(rec.frame_cycle, upto, side="right")),
            "results_checked": self.results, "trace_writes_checked": lanes, "decisions": self.decisions,
            "timing_checked": job.timing, "trace_checked": job.trace,
            "seconds": seconds, "cycles_per_second": rec.cycles / seconds if seconds > 0 else 0.0,
            # CPU time of the simulation (simulator + driver): independent of other jobs' load
            "cpu_seconds": cpu, "cycles_per_cpu_second": rec.cycles / cpu if cpu > 0 else 0.0,
            "design": job.design.describe(), "cycles_per_frame": job.cycles_per_frame,
            "latency": job.latency, "latency_measured": self.measured.get("latency"),
            "cycles_per_frame_measured": self.measured.get("cycles_per_frame"),
        }


def compare(job: Job, rec: Recording, exps: list[Expectation] | None = None) -> dict:
    """Compare ``rec`` with the prediction of ``job``; return the report (``passed``, ``first_mismatch``, ...).

    ``exps``: the expectation of each segment of the job (:func:`testbenches.record.prepare`), if made.
    A job with resets is compared segment by segment (:func:`testbenches.job.segments`), each from its
    own clock 0; the report counts them together and gives clocks of the whole run.
    """
    t0 = time.perf_counter()
    segs = segments(job)
    exps = exps or [Expectation(g.job.design, g.job.seqs, keep_features=bool(g.job.reloads), open_end=g.cut)
                    for g in segs]
    if len(segs) == 1:
        c = _Compare(job, rec, exps[0])
        report = c.report(c.run())
    else:
        report = _compare_segments(job, rec, segs, exps)
    report["compare_seconds"] = time.perf_counter() - t0
    return report


def _compare_segments(job: Job, rec: Recording, segs, exps) -> dict:
    sums = ("compared", "results_checked", "trace_writes_checked", "frames_accepted", "frames")
    total: dict | None = None
    first_mismatch = None
    for k, ((first, win), g, exp) in enumerate(zip(rec.windows(len(segs)), segs, exps)):
        if win is None:
            break
        win.budget = run_budget(g.job, len(load_schedule(g.job, g.job.design.params)[0]), exp.n_frames)
        c = _Compare(g.job, win, exp, cut=g.cut)
        m = c.run()
        r = c.report(m)
        if total is None:
            total = r
        else:
            for key in sums:
                total[key] += r[key]
            total["decisions"] = total["decisions"] + r["decisions"]
        if m is not None:
            after = f"after reset {k} (at clock {first - RESET_CLOCKS + 1})" if k else "before the first reset"
            where = _global_where(m["where"], sum(len(h.job.seqs) for h in segs[:k]), job)
            first_mismatch = {**m, "cycle": m["cycle"] + first, "where": f"{where}, {after}".lstrip(", ")}
            break
    total.update(passed=first_mismatch is None, mismatches=int(first_mismatch is not None),
                 first_mismatch=first_mismatch, cycles=rec.cycles, sequences=len(job.seqs), resets=len(rec.resets),
                 cycles_per_second=rec.cycles / rec.seconds if rec.seconds > 0 else 0.0,
                 cycles_per_cpu_second=rec.cycles / rec.cpu_seconds if rec.cpu_seconds > 0 else 0.0)
    return total


def _global_where(where: str, offset: int, job: Job) -> str:
    """A segment's "sequence S frame T (global frame G)" in the numbering of the whole job."""
    starts = np.concatenate([[0], np.cumsum([len(q) for q in job.seqs])])

    def fix(m):
        seq, t = int(m.group(1)) + offset, int(m.group(2))
        return f"sequence {seq} frame {t} (global frame {int(starts[seq]) + t})"
    return re.sub(r"sequence (\d+) frame (\d+) \(global frame \d+\)", fix, where)


def write_report(job: Job, report: dict) -> None:
    Path(job.report).parent.mkdir(parents=True, exist_ok=True)
    Path(job.report).write_text(json.dumps(report, indent=1, default=int))


async def run_job(dut, job: Job) -> dict:
    """Run ``job`` on ``dut`` (a cocotb handle of the harness top): reset, record, compare; write the report.

    Raises :class:`Mismatch` at the first difference (after writing the report).
    """
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge

    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.ctl.value = 0
    dut.frames_payload.value = 0
    dut.load_payload.value = 0
    fe = FallingEdge(dut.clk)
    for _ in range(RESET_CLOCKS):
        await fe
    dut.rst.value = 0
    _, exps, stims = prepare(job)
    rec = await record(dut, job, stims, port_words(job.design, job.trace))
    report = compare(job, rec, exps)
    write_report(job, report)
    cocotb.log.info("memres verify: %d clocks, %d values compared, %s", report["cycles"], report["compared"],
                    "PASS" if report["passed"] else "MISMATCH")
    if not report["passed"]:
        raise Mismatch(report["first_mismatch"])
    return report
