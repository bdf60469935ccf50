"""Drive a job and record what the core shows: the transactions, with the clock of each.

Recording and comparing are apart: an engine drives the job and records every
trace beat, every clock a result is valid, and the clock every frame and load
beat was taken (a :class:`Recording`); :func:`testbenches.check.compare` then
compares the whole recording with the integer model in bulk (numpy). Two
engines record the same thing:

* :func:`record` (here), a cocotb coroutine: one ``await`` per clock, any
  simulator cocotb runs (Icarus, Verilator);
* :mod:`testbenches.native`, a C++ testbench compiled with Verilator's model:
  the same driver, draw for draw (Python's Mersenne Twister in C++), tens of
  times faster.

:class:`Driver` is the driving rule; ``native_tb.cpp`` is its C++ twin, and
``tests/testbenches/test_native.py`` shows both engines record the same
transactions at the same clocks.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np

from .job import RESET_CLOCKS, Job, Segment, load_schedule, probe_frames, run_budget, segments, tail_clocks
from .predict import Expectation, ints_to_words, words_to_ints

__all__ = ["Recording", "Driver", "Stimulus", "record", "STOPS", "prepare"]

#: Why a recording (or a window of it) ended: every result taken and the tail clocks passed; the clock
#: budget ran out; ``Job.stop_at`` reached; a status bit was X or Z (cocotb on a 4-state simulator
#: only); a reset (a segment cut short, :func:`testbenches.job.segments`).
STOPS = ("done", "budget", "stop_at", "xz", "reset")


@dataclass
class Recording:
    """What a run showed, transaction by transaction (clocks count from 1, the first edge after reset)."""

    cycles: int                       # clocks simulated after reset
    stop: str                         # one of STOPS
    budget: int
    trace_cycle: np.ndarray           # (beats,) clock of each trace beat (a clock with any trace valid)
    trace_valid: np.ndarray           # (beats,) the lanes' valid bits
    trace_words: np.ndarray           # (beats, words64) uint64: the lanes' payloads
    result_cycle: np.ndarray          # (n,) every clock results.valid was high
    result_ready: np.ndarray          # (n,) results.ready in that clock
    result_words: np.ndarray          # (n, words64) uint64
    frame_cycle: np.ndarray           # clock each frame was taken, in order
    load_cycle: np.ndarray            # clock each load beat was taken, in order
    xz: dict | None = None            # {"cycle", "signal", "got"}: X/Z bits seen (then stop == "xz")
    seconds: float = 0.0              # wall time of the simulation loop
    cpu_seconds: float = 0.0
    engine: str = ""
    extra: dict = field(default_factory=dict)
    #: the last clock of each segment cut by a reset; ``rst`` is high for the RESET_CLOCKS clocks after it
    resets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def window(self, first: int, last: int, stop: str) -> Recording:
        """The transactions of clocks ``first + 1 .. last``, with clocks counted from ``first``."""
        def pick(cyc):
            return (cyc > first) & (cyc <= last)
        t, r = pick(self.trace_cycle), pick(self.result_cycle)
        f, ld = pick(self.frame_cycle), pick(self.load_cycle)
        xz = None if self.xz is None or not first < self.xz["cycle"] <= last else \
            {**self.xz, "cycle": self.xz["cycle"] - first}
        return Recording(max(0, min(last, self.cycles) - first), stop, self.budget, self.trace_cycle[t] - first,
                         self.trace_valid[t], self.trace_words[t], self.result_cycle[r] - first,
                         self.result_ready[r], self.result_words[r], self.frame_cycle[f] - first,
                         self.load_cycle[ld] - first, xz, self.seconds, self.cpu_seconds, self.engine, self.extra)

    def windows(self, n: int) -> list[tuple[int, Recording | None]]:
        """The recording of each of ``n`` segments (None for one never reached) and the clock it starts after."""
        out, first = [], 0
        for k in range(n):
            if first >= self.cycles and k > 0:
                out.append((first, None))
                continue
            if k < len(self.resets):
                last = int(self.resets[k])
                stop = "reset" if last < self.cycles else self.stop
            else:
                last, stop = self.cycles, self.stop
            out.append((first, self.window(first, last, stop)))
            first = last + RESET_CLOCKS
        return out


@dataclass
class Stimulus:
    """A job's stimulus as port words: every frame and load beat in the order offered."""

    frame_words: np.ndarray           # (frames, words64) uint64, frames.payload
    load_words: np.ndarray            # (beats, words64) uint64, load.payload
    load_at: np.ndarray               # (beats,) the frame each load beat must precede
    probe_frames: int
    budget: int
    tail: int
    cut: bool = False                 # a reset ends the segment, ``delay`` clocks after its last frame was taken
    delay: int = 0

    @classmethod
    def of(cls, job: Job, exp: Expectation, cut: bool = False, delay: int = 0) -> Stimulus:
        beats, load_at = load_schedule(job, job.design.params)
        return cls(exp.frame_array(), exp.load_array(beats),
                   np.array(load_at, dtype=np.int64), probe_frames(job, exp.n_frames),
                   run_budget(job, len(beats), exp.n_frames), tail_clocks(job), cut, delay)


def prepare(job: Job) -> tuple[list[Segment], list[Expectation], list[Stimulus]]:
    """The segments of ``job`` (split at its resets), the expectation and the stimulus of each."""
    segs = segments(job)
    exps = [Expectation(g.job.design, g.job.seqs, keep_features=bool(g.job.reloads), open_end=g.cut) for g in segs]
    return segs, exps, [Stimulus.of(g.job, e, g.cut, g.delay) for g, e in zip(segs, exps)]


class Driver:
    """The driving rule: the load beat, frame and ``results.ready`` of every clock.

    Load beats go first (a readout written before frame ``before_frame`` holds that frame back until all
    its beats are taken); frames and loads are offered with probability ``p_valid`` per idle clock,
    ``results.ready`` is high with probability ``p_ready``, except while probing: the first
    ``probe_frames`` frames are offered on every clock and ``results.ready`` is always high until their
    results have been valid. Random numbers from ``random.Random(seed)``, in a fixed order.
    """

    def __init__(self, job: Job, stim: Stimulus, rng: random.Random | None = None):
        self.rng = rng or random.Random(job.seed)       # one generator through all segments of a run
        self.p_valid, self.p_ready = job.p_valid, job.p_ready
        self.stim = stim
        self.n_frames, self.n_loads = len(stim.frame_words), len(stim.load_words)
        self.loads_sent = self.frames_sent = 0
        self.l_offer = self.f_offer = self.rr = False
        self.probe_accepted = self.probe_valid = 0

    @property
    def probing(self) -> bool:
        return self.probe_valid < self.stim.probe_frames

    def inputs(self) -> tuple[int, int | None, int | None]:
        """Offer the next clock's beats: (control word, new load beat index or None, new frame index or None)."""
        rng, probing, at = self.rng, self.probing, self.stim.load_at
        new_load = new_frame = None
        # while probing only the loads before frame 0: the probe's frames must not wait for a load
        load_due = self.loads_sent < self.n_loads and self.frames_sent >= at[self.loads_sent] and \
            (not probing or at[self.loads_sent] == 0)
        if load_due and not self.f_offer:
            if not self.l_offer and rng.random() < self.p_valid:
                self.l_offer = True
                new_load = self.loads_sent
        elif self.frames_sent < self.n_frames and not self.f_offer and not load_due:
            offer = self.frames_sent < self.stim.probe_frames if probing else rng.random() < self.p_valid
            if offer:
                self.f_offer = True
                new_frame = self.frames_sent
        self.rr = True if probing else rng.random() < self.p_ready
        return self.rr | (self.f_offer << 1) | (self.l_offer << 2), new_load, new_frame

    def edge(self, fr: int, lr: int, rv: int) -> tuple[bool, bool]:
        """The edge that ended the clock: (a load beat taken, a frame taken)."""
        if rv and self.probing and self.probe_valid < self.probe_accepted:
            self.probe_valid += 1
        load = bool(self.l_offer and lr)
        if load:
            self.l_offer = False
            self.loads_sent += 1
        frame = bool(self.f_offer and fr)
        if frame:
            self.f_offer = False
            if self.frames_sent < self.stim.probe_frames:
                self.probe_accepted += 1
            self.frames_sent += 1
        return load, frame


def _read(handle):
    """Integer value of a port, or its bit string when it holds X or Z."""
    v = handle.value
    try:
        return int(v)
    except ValueError:
        return f"{v} (X/Z bits)"


async def record(dut, job: Job, stims: list[Stimulus], words: dict[str, int]) -> Recording:
    """Drive ``job`` on ``dut`` (a cocotb handle of the harness top, out of reset) and record it.

    ``stims``: one stimulus per segment (:func:`prepare`); ``words``: the 64-bit word counts of the
    harness ports (:func:`testbenches.harness.port_words`).
    """
    import cocotb
    from cocotb.triggers import FallingEdge

    fe = FallingEdge(dut.clk)
    rng = random.Random(job.seed)
    trace: list[tuple[int, int, int]] = []
    results: list[tuple[int, int, int]] = []
    frames: list[int] = []
    loads: list[int] = []
    resets: list[int] = []
    h_st, h_ctl, h_tr, h_res = dut.status_q, dut.ctl, getattr(dut, "trace_q", None), dut.results_q
    load_mask, frame_mask = (1 << len(dut.load_payload)) - 1, (1 << len(dut.frames_payload)) - 1
    cycle = 0
    wrote = 0
    stop, xz = "done", None
    t0, cpu0 = time.perf_counter(), time.process_time()
    for stim in stims:
        drv = Driver(job, stim, rng)
        start, done, tail, wait = cycle, 0, -1, -1
        while True:
            ctl, new_load, new_frame = drv.inputs()
            if new_load is not None:
                dut.load_payload.value = words_to_ints(stim.load_words[new_load:new_load + 1])[0]
            if new_frame is not None:
                dut.frames_payload.value = words_to_ints(stim.frame_words[new_frame:new_frame + 1])[0]
            if ctl != wrote:
                h_ctl.value = wrote = ctl
            await fe
            cycle += 1
            if cycle - start > stim.budget:
                stop = "budget"
                break
            st = _read(h_st)
            if isinstance(st, str):
                stop, xz = "xz", {"cycle": cycle, "got": st,
                                  "signal": "frames__ready, load__ready, results__valid, trace__*__valid"}
                break
            fr, lr, rv, tv = st & 1, (st >> 1) & 1, (st >> 2) & 1, st >> 3
            if tv:
                got = _read(h_tr)
                if isinstance(got, str):
                    stop, xz = "xz", {"cycle": cycle, "signal": "trace__*__payload", "got": got}
                    break
                trace.append((cycle, tv, got))
            if rv:
                got = _read(h_res)
                if isinstance(got, str):
                    stop, xz = "xz", {"cycle": cycle, "signal": "results__payload", "got": got}
                    break
                results.append((cycle, int(drv.rr), got))
                done += int(drv.rr)
            load, frame = drv.edge(fr, lr, rv)
            # a payload is don't-care while its valid is low: the beat just taken is replaced by its complement
            if load:
                loads.append(cycle)
                dut.load_payload.value = ~int(dut.load_payload.value) & load_mask
            if frame:
                frames.append(cycle)
                dut.frames_payload.value = ~int(dut.frames_payload.value) & frame_mask
            if stim.cut:
                # a reset `delay` clocks after the segment's last frame was taken
                if wait < 0 and drv.frames_sent == drv.n_frames:
                    wait = stim.delay
                if wait >= 0:
                    if wait == 0:
                        break
                    wait -= 1
            else:
                if done >= drv.n_frames and tail < 0:
                    tail = stim.tail
                if tail >= 0:
                    if tail == 0:
                        break
                    tail -= 1
            if job.stop_at and cycle >= job.stop_at:
                stop = "stop_at"
                break
            if (cycle & 0x3FFFF) == 0:
                cocotb.log.info("memres verify: clock %d, %d of %d frames in, %d results", cycle, drv.frames_sent,
                                drv.n_frames, done)
        if stop != "done" or not stim.cut:
            break
        resets.append(cycle)
        dut.rst.value = 1
        h_ctl.value = wrote = 0
        for _ in range(RESET_CLOCKS):
            await fe
        cycle += RESET_CLOCKS
        dut.rst.value = 0
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0

    def table(rows, n_words):
        cyc = np.array([r[0] for r in rows], dtype=np.int64)
        aux = np.array([r[1] for r in rows], dtype=np.int64)
        return cyc, aux, ints_to_words([r[2] for r in rows], n_words)

    tc, tv_, tw = table(trace, words["trace_q"])
    rc, rr, rw = table(results, words["results_q"])
    return Recording(cycle, stop, stims[0].budget, tc, tv_, tw, rc, rr, rw, np.array(frames, dtype=np.int64),
                     np.array(loads, dtype=np.int64), xz, seconds, cpu, "cocotb",
                     resets=np.array(resets, dtype=np.int64))
