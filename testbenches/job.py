"""A verification run's job: the design, the stimulus and the rules of driving it.

A *job* (one JSON file plus one ``.npz`` beside it, written by :func:`save_job`) holds the design
(configuration, sizes, lanes, readout), the stimulus (sequences of input codes, readouts written through
``load``), the seed of the random valid gaps and back-pressure, the latency and frame interval the hardware
states, and where to write the report. Both engines drive a job the same way (:mod:`testbenches.record`
under cocotb, :mod:`testbenches.native` in C++ beside Verilator's model); :mod:`testbenches.check`
compares what they recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memres.hdl.top import core_timing

from .predict import Design, load_beats, loaded_readout, stray_beats

__all__ = ["Job", "Segment", "save_job", "load_job", "PROBE_FRAMES", "RESET_CLOCKS", "probe_frames", "load_schedule",
           "run_budget", "tail_clocks", "segments"]

#: Frames the timing probe drives from an empty pipeline (latency, then the interval between results).
PROBE_FRAMES = 3
#: Clocks ``rst`` is held high, at the start of a run and for a reset in the middle of one.
RESET_CLOCKS = 3


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
    max_cycles: int = 0           # 0: derived from the stimulus (:func:`run_budget`)
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
    #: Stop recording after this clock (0: never): a run repeated for its waveform ends at its mismatch.
    stop_at: int = 0
    #: Resets in the middle of a sequence, ``(frame, delay)`` in frame order: ``delay`` clocks after global
    #: frame ``frame`` was taken, ``rst`` is held high for :data:`RESET_CLOCKS` clocks; the rest of that
    #: frame's sequence is never driven, and the run starts over with the next sequence (see :func:`segments`).
    resets: list = field(default_factory=list)
    #: Every readout written through ``load`` (the first and the reloads) goes in a random order of its
    #: beats, with beats addressed outside the readout among them (:func:`load_schedule`).
    scramble_loads: bool = False

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
            "latency": job.latency, "cycles_per_frame": job.cycles_per_frame, "stop_at": job.stop_at,
            "resets": [[int(f), int(d)] for f, d in job.resets], "scramble_loads": job.scramble_loads,
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
               meta["options"], meta.get("latency", 0), meta.get("cycles_per_frame", 0), meta.get("stop_at", 0),
               [tuple(r) for r in meta.get("resets", [])], meta.get("scramble_loads", False))


def probe_frames(job: Job, n_frames: int) -> int:
    """How many frames the timing probe drives: 3, fewer with a short stimulus or an early reload."""
    if not job.timing:
        return 0
    early = [int(at) for at, _, _ in job.reloads if int(at) > 0]
    return min([PROBE_FRAMES, n_frames, *early])


def load_schedule(job: Job, p) -> tuple[list[dict], list[int]]:
    """Every load beat in the order offered, and the frame each must precede.

    A readout's beats go weights by row, then the biases; with ``job.scramble_loads`` in a random order
    (seeded by the job's seed and the readout's place) with :func:`predict.stray_beats` among them. The
    core holds what the beats in range write, in any order, so the expected readout is the same: a load
    taken while a frame is still being read, or a stray beat written, shows as a changed result."""
    beats: list[dict] = []
    load_at: list[int] = []
    blocks = ([(0, job.design.w, job.design.b)] if job.load else []) + [(int(at), w, b) for at, w, b in job.reloads]
    for i, (at, rw, rb) in enumerate(blocks):
        b = load_beats(p, rw, rb)
        if job.scramble_loads:
            rng = np.random.default_rng([job.seed, 5, i])
            b += stray_beats(p, rng)
            b = [b[j] for j in rng.permutation(len(b))]
        beats += b
        load_at += [at] * len(b)
    return beats, load_at


def run_budget(job: Job, n_loads: int, n_frames: int) -> int:
    """Clocks after which a run that has not delivered every result is a mismatch (``progress``)."""
    if job.max_cycles:
        return job.max_cycles
    pv, pr = max(job.p_valid, 0.05), max(job.p_ready, 0.05)
    return int((n_loads / pv + (n_frames + 2) * job.cycles_per_frame / min(pr, pv) + 4 * job.latency) * 3 + 1000)


def tail_clocks(job: Job) -> int:
    """Clocks a run goes on after its last result, in which nothing more may appear."""
    return 2 * job.latency + 8


@dataclass
class Segment:
    """The part of a run between two resets, as a job of its own.

    ``cut``: the segment ends with a reset ``delay`` clocks after its last frame was taken; its last
    sequence stops there (no frame of it is marked ``last``) and the transactions still in the pipeline
    are lost, so only a prefix of its results and cell writes must appear. After a reset the core is as
    after power-up: an empty pipeline, cell states and sequence sums cleared; a readout written through
    ``load`` is written again (the one in effect when the reset came) before the next frame.
    """
    job: Job
    cut: bool = False
    delay: int = 0


def segments(job: Job) -> list[Segment]:
    """``job`` split at its resets; a job without resets is one segment, itself."""
    if not job.resets:
        return [Segment(job)]
    out: list[Segment] = []
    starts = np.concatenate([[0], np.cumsum([len(s) for s in job.seqs])]).astype(np.int64)
    design, load, reloads = job.design, job.load, list(job.reloads)
    seq0, frame0 = 0, 0                 # first sequence and global frame of the segment
    for cut_frame, delay in sorted(job.resets):
        s = int(np.searchsorted(starts, cut_frame, side="right") - 1)
        if s < seq0 or s >= len(job.seqs):
            raise ValueError(f"reset after frame {cut_frame}: not a frame of a later sequence")
        seqs = [np.asarray(q) for q in job.seqs[seq0:s]] + [np.asarray(job.seqs[s])[:cut_frame - starts[s] + 1]]
        mine = [(at - frame0, w, b) for at, w, b in reloads if at <= cut_frame]
        out.append(Segment(_part(job, design, seqs, load, mine), True, int(delay)))
        if mine or not design.baked:
            # the readout in effect at the reset is written again first
            w, b = loaded_readout(design.params, *((mine[-1][1], mine[-1][2]) if mine else (design.w, design.b)))
            design = Design(design.config, design.n_inputs, design.n_outputs, design.lanes, np.asarray(w),
                            np.asarray(b), False, design.source, design.readout_mode, design.weight_ram)
            load = True
        reloads = [(at, w, b) for at, w, b in reloads if at > cut_frame]
        seq0, frame0 = s + 1, int(starts[s + 1])
        reloads = [(max(at, frame0), w, b) for at, w, b in reloads]    # one due in the skipped frames: first
    rest = [(at - frame0, w, b) for at, w, b in reloads]
    out.append(Segment(_part(job, design, list(job.seqs[seq0:]), load, rest)))
    return out


def _part(job: Job, design, seqs: list, load: bool, reloads: list) -> Job:
    return Job(design, seqs, job.seed, job.p_valid, job.p_ready, job.timing, job.trace, load, 0, job.report, reloads,
               job.label, job.reproduce, job.options, job.latency, job.cycles_per_frame,
               scramble_loads=job.scramble_loads)
