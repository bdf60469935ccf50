"""What the reservoir core must show, cycle by cycle: the golden side of ``memres verify``.

Two halves, both pure Python/numpy (no simulator):

* **Values** (:class:`Expectation`): for every frame of a stimulus, every cell
  write the trace port must show (device ``n``, pass ``m``, frame, new state
  ``g'``, feature ``i``) and every result beat (``y[K]``, decision, ``last``),
  packed into the exact bit words of the Verilog ports. The numbers come from
  the integer model itself (:class:`sw_model.fixed.FixedReservoir`,
  :class:`sw_model.readout.IntReadout`, ``idle_update``); this module only
  arranges them in the hardware's beat order (``docs/hardware.md``,
  "Schedule") and adds the contract's saturating sequence sums and argmax.
* **Timing** (:class:`ScheduleModel`): the handshakes of the four pipelines
  of ``docs/hardware.md`` ("Pipelines and back-pressure"): given, for one
  clock, ``frames.valid``, ``results.ready`` and ``load.valid``, it returns
  ``frames.ready``, ``load.ready``, ``results.valid``, which beat leaves the
  cell array (and so which cells the trace shows) and which frame's result
  the output holds. With random gaps and back-pressure the schedule is still
  a function of the stimulus, so every clock is predicted exactly. Its
  unstalled latency and frame interval are checked against the figures the
  hardware states (``CoreParams``/manifest: ``latency``, ``cycles_per_frame``)
  before it is used (:meth:`ScheduleModel.measure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from hdl.design import Design
from hdl.params import TRACE_FRAME_BITS, CoreParams
from sw_model.classify import running_decisions
from sw_model.config import config_from_dict
from sw_model.fixed import FixedReservoir, idle_update

__all__ = ["Design", "Packer", "Expectation", "ScheduleModel", "random_readout", "random_design", "load_beats",
           "sequence_results", "PIPELINE_LATENCY"]

#: Clocks per block as docs/hardware.md states them (projection, cell array, parallel readout); the classifier
#: takes K.
PIPELINE_LATENCY = {"projection": 5, "cells": 5, "readout": 4}


def random_readout(p: CoreParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weights anywhere in ``±(2^(B_w-1)-1)``, biases in a tenth of ``±b_lim`` (so decisions vary)."""
    w = rng.integers(-p.weight_max, p.weight_max + 1, size=(p.n_features, p.n_outputs))
    lim = max(1, p.bias_max // 10)
    b = rng.integers(-lim, lim + 1, size=p.n_outputs)
    return w.astype(np.int64), b.astype(np.int64)


def load_beats(p: CoreParams, w: np.ndarray, b: np.ndarray) -> list[dict]:
    """The ``load`` port beats that write readout ``(w, b)``: every weight, then every bias."""
    out = []
    n = p.n_devices
    for j in range(p.n_features):
        node, device = divmod(j, n)
        for k in range(p.n_outputs):
            out.append({"value": int(w[j, k]), "k": k, "device": device, "node": node, "bias": 0})
    out += [{"value": int(b[k]), "k": k, "device": 0, "node": 0, "bias": 1} for k in range(p.n_outputs)]
    return out


# --- bit packing ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Field:
    name: str
    offset: int
    width: int
    signed: bool
    count: int = 1       # array fields: count elements of width bits, stride apart
    stride: int = 0


class Packer:
    """Packs field values into (and unpacks them from) the integer words of a port payload.

    Built from an Amaranth ``StructLayout`` (the layouts of :class:`hdl.params.CoreParams`,
    the same objects the generator turns into Verilog ports), optionally repeated
    ``repeat`` times (one entry per lane).
    """

    def __init__(self, layout: data.StructLayout, repeat: int = 1):
        self.fields: list[_Field] = []
        for name, field in layout:
            shape = field.shape
            if isinstance(shape, data.ArrayLayout):
                es = Shape.cast(shape.elem_shape)
                self.fields.append(_Field(name, field.offset, es.width, es.signed, shape.length, es.width))
            else:
                s = Shape.cast(shape)
                self.fields.append(_Field(name, field.offset, s.width, s.signed))
        self.entry_bits = Shape.cast(layout).width
        self.repeat = repeat
        self.width = self.entry_bits * repeat
        self.by_name = {f.name: f for f in self.fields}

    def pack(self, values: dict[str, np.ndarray], rows: int) -> list[int]:
        """``values[name]``: (rows,) or (rows, repeat) — arrays: (rows, [repeat,] count). Returns ``rows`` ints."""
        bits = np.zeros((rows, self.width), dtype=np.uint8)
        for f in self.fields:
            v = np.asarray(values.get(f.name, 0), dtype=np.int64)
            shape = (rows, self.repeat, f.count)
            v = np.broadcast_to(v.reshape(_as_shape(v, rows, self.repeat, f.count)), shape)
            u = v.astype(np.uint64)
            if f.width < 64:
                u = u & np.uint64((1 << f.width) - 1)
            fb = ((u[..., None] >> np.arange(f.width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
            for r in range(self.repeat):
                for c in range(f.count):
                    lo = r * self.entry_bits + f.offset + c * f.stride
                    bits[:, lo:lo + f.width] = fb[:, r, c]
        packed = np.packbits(bits, axis=1, bitorder="little")
        return [int.from_bytes(row.tobytes(), "little") for row in packed]

    def unpack(self, word: int, entry: int = 0) -> dict[str, int | list[int]]:
        """Field values of one word (of lane/entry ``entry``)."""
        out = {}
        base = entry * self.entry_bits
        for f in self.fields:
            vals = []
            for c in range(f.count):
                raw = (word >> (base + f.offset + c * f.stride)) & ((1 << f.width) - 1)
                if f.signed and raw >> (f.width - 1):
                    raw -= 1 << f.width
                vals.append(raw)
            out[f.name] = vals if f.count > 1 or f.stride else vals[0]
        return out

    def entry_mask(self, entries) -> int:
        """Mask word covering the bits of the given entries (lanes)."""
        one = (1 << self.entry_bits) - 1
        m = 0
        for e in entries:
            m |= one << (e * self.entry_bits)
        return m


def _as_shape(v: np.ndarray, rows: int, repeat: int, count: int) -> tuple:
    """Reshape target of a field array: scalars and (rows,) broadcast over lanes/elements."""
    if v.ndim == 0:
        return (1, 1, 1)
    if v.ndim == 1:
        return (v.shape[0], 1, 1)
    if v.ndim == 2:
        return (v.shape[0], v.shape[1], 1) if repeat > 1 and count == 1 else (v.shape[0], 1, v.shape[1])
    return v.shape


# --- values -------------------------------------------------------------------------

def sequence_results(p: CoreParams, y: np.ndarray) -> tuple[list[list[int]], list[int]]:
    """Saturating per-sequence sums ``Y`` after each frame and the running decision (ties: lowest k);
    the rule of :func:`sw_model.classify.running_decisions`."""
    sums, dec = running_decisions(np.asarray(y, dtype=np.int64).reshape(-1, p.n_outputs), p.seq_limit)
    return sums.tolist(), dec.tolist()


@dataclass
class SequenceExpectation:
    """Expected port words of one sequence (frames in order)."""

    length: int
    trace_words: list[int]     # T * rows words: cell writes of beat (t, row), invalid lanes zero
    result_words: list[int]    # T words of results.payload
    y: np.ndarray              # (T, K) per-frame readout
    decisions: list[int]       # running decision after each frame
    frame_words: list[int]     # T words of frames.payload
    feats: np.ndarray | None = None   # (T, F) features, kept for readouts switched at run time


class Expectation:
    """Expected trace, result and input words for a list of sequences, computed in batches on demand.

    ``seqs`` hold input codes (T, C). The golden numbers come from
    :class:`sw_model.fixed.FixedReservoir` (states after every pulse, features),
    :func:`sw_model.fixed.idle_update` (the idle-gap write of the end pass) and
    :class:`sw_model.readout.IntReadout`.
    """

    def __init__(self, design: Design, seqs: list[np.ndarray], batch: int = 16, keep_features: bool = False):
        self.design = design
        self.keep_features = keep_features
        self.p = p = design.params
        self.seqs = seqs
        self.batch = batch
        self.reservoir = FixedReservoir(design.config.reservoir, design.config.fixed, design.n_inputs)
        self.readout = design.readout
        self.trace = Packer(p.trace_entry_layout, p.lanes)
        self.result = Packer(p.result_layout)
        self.frame = Packer(p.frame_layout)
        self.load = Packer(p.load_layout)
        self._cache: dict[int, SequenceExpectation] = {}
        # Per row: which lanes write a cell (valid bits) and the mask of their entry bits.
        self.row_node = np.arange(p.rows) // p.slots
        self.row_slot = np.arange(p.rows) % p.slots
        self.row_valid: list[int] = []
        self.row_mask: list[int] = []
        for row in range(p.rows):
            node, slot = divmod(row, p.slots)
            writes = node < p.n_virtual or p.has_idle
            lanes = [l for l in range(p.lanes) if writes and p.device_of(slot, l) is not None]
            self.row_valid.append(sum(1 << l for l in lanes))
            self.row_mask.append(self.trace.entry_mask(lanes))
        lengths = [len(s) for s in seqs]
        self.starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.n_frames = int(self.starts[-1])

    def locate(self, gf: int) -> tuple[int, int]:
        """Global frame index -> (sequence, frame in sequence)."""
        s = int(np.searchsorted(self.starts, gf, side="right") - 1)
        return s, gf - int(self.starts[s])

    def words_of(self, gf: int) -> tuple[SequenceExpectation, int]:
        """Global frame index -> (its sequence's expectation, frame in sequence)."""
        s, t = self.locate(gf)
        return self.get(s), t

    def get(self, s: int) -> SequenceExpectation:
        if s not in self._cache:
            self._compute(range(s, min(s + self.batch, len(self.seqs))))
        return self._cache[s]

    def drop(self, s: int) -> None:
        self._cache.pop(s, None)

    def _compute(self, idx) -> None:
        idx = [i for i in idx if i not in self._cache]
        p, k = self.p, self.p.k
        n, ml = p.n_devices, p.n_virtual
        t_max = max(len(self.seqs[i]) for i in idx)
        u = np.zeros((len(idx), t_max, p.n_inputs), dtype=np.int64)
        for b, i in enumerate(idx):
            u[b, :len(self.seqs[i])] = self.seqs[i]
        feats, states = self.reservoir.run_batch(u, record_states=True)
        for b, i in enumerate(idx):
            t_len = len(self.seqs[i])
            self._cache[i] = self._sequence(feats[b, :t_len], states[b, :t_len], np.asarray(self.seqs[i]))

    def _sequence(self, feats: np.ndarray, states: np.ndarray, u: np.ndarray) -> SequenceExpectation:
        p, k = self.p, self.p.k
        n, ml, lanes = p.n_devices, p.n_virtual, p.lanes
        t_len = len(feats)
        # g and i per (frame, pass, device) including the end pass; devices padded to slots * lanes.
        width = p.slots * lanes
        g = np.zeros((t_len, p.passes, width), dtype=np.int64)
        i = np.zeros((t_len, p.passes, width), dtype=np.int64)
        g[:, :ml, :n] = states
        i[:, :ml, :n] = feats[:, :ml * n].reshape(t_len, ml, n)
        if p.has_end_pass:
            if p.has_idle:
                g[:, ml, :n] = idle_update(k, states[:, ml - 1])
            if k.state_features:
                i[:, ml, :n] = feats[:, ml * n:]
        # Beat (t, row) holds pass row // slots, devices slot * lanes + lane.
        rows = p.rows
        g = g.reshape(t_len, p.passes, p.slots, lanes).reshape(t_len * rows, lanes)
        i = i.reshape(t_len, p.passes, p.slots, lanes).reshape(t_len * rows, lanes)
        node = np.tile(self.row_node, t_len)[:, None]
        dev = (np.tile(self.row_slot, t_len)[:, None] * lanes + np.arange(lanes)[None, :])
        frame = (np.repeat(np.arange(t_len), rows) % (1 << TRACE_FRAME_BITS))[:, None]
        words = self.trace.pack({"n": dev, "m": np.broadcast_to(node, dev.shape),
                                 "frame": np.broadcast_to(frame, dev.shape), "g": g, "i": i}, t_len * rows)
        masks = self.row_mask * t_len
        words = [w & m for w, m in zip(words, masks)]
        y = self.readout(feats)
        _, dec = sequence_results(p, y)
        last = np.zeros(t_len, dtype=np.int64)
        last[-1] = 1
        results = self.result.pack({"y": y, "decision": np.array(dec), "last": last}, t_len)
        first = np.zeros(t_len, dtype=np.int64)
        first[0] = 1
        frames = self.frame.pack({"u": u, "first": first, "last": last}, t_len)
        return SequenceExpectation(t_len, words, results, y, dec, frames,
                                   feats.copy() if self.keep_features else None)

    def result_word(self, y: np.ndarray, decision: int, last: bool) -> int:
        """``results.payload`` of one frame."""
        return self.result.pack({"y": np.asarray(y, dtype=np.int64)[None], "decision": np.array([decision]),
                                 "last": np.array([int(last)])}, 1)[0]

    def load_words(self, beats: list[dict]) -> list[int]:
        if not beats:
            return []
        cols = {name: np.array([b[name] for b in beats]) for name in ("value", "k", "device", "node", "bias")}
        return self.load.pack(cols, len(beats))


# --- timing -------------------------------------------------------------------------

class ScheduleModel:
    """Clock-by-clock handshakes of the core (docs/hardware.md, "Pipelines and back-pressure").

    Blocks, each a pipeline whose stages all hold while its output register holds
    a beat that is not taken:

    * projection: an issue stage (frame register, row counter) and four more
      stages; takes a frame when idle or when the last row issues;
    * cell array: five stages; the trace shows a beat's writes when it leaves;
    * readout: three stages and an output register that only a frame's last beat
      fills; it stalls only when that beat meets a full, untaken output;
      a waiting ``load`` beat holds off the first beat of a frame, and ``load``
      is taken only between frames with the pipeline empty;
    * classifier: K steps per frame (stage A), the last step fills the output
      register's ``y``, and stage B makes it valid one clock later; a frame's
      last step waits for a free output register and an empty stage B.

    With ``readout="serial"``:

    * readout: an issue stage that spends K clocks (steps ``k``) on each beat
      and takes it at its last step, then the same two stages; every step of
      a frame's last beat puts its ``y[k]`` into the output register (so it
      stalls when one meets a full, untaken output). A waiting ``load`` beat
      holds off step 0 of a frame's first beat; ``load`` is taken only between
      frames, at step 0, with the pipeline empty;
    * classifier: takes one ``y[k]`` per clock into stage A, then stage B; the
      result is valid after the last step's stage B. A ``y[k]`` is taken only
      while the output register is free (empty or taken this clock) and no
      frame's last step is in stage A or B.

    Between the blocks (projection -> cells -> readout -> classifier) sit skid
    buffers (``hdl/skid.py``): one register each, whose ``full`` is the upstream
    block's ``ready``. Empty, a beat passes through in the same clock; a beat
    the downstream block does not take goes into the buffer.

    Beats are ``(frame, row)`` with ``frame`` the global frame index (serial
    readout stages: ``(frame, row, k)``; serial sums: ``(frame, k)``).
    :meth:`step` advances one clock and returns, for that clock,
    ``(frames.ready, load.ready, results.valid, trace beat or None, result frame or -1)``.
    """

    __slots__ = ("rows", "k", "serial", "busy", "row", "frame", "next_frame", "proj", "cells",
                 "r1", "r2", "rp", "ro", "in_frame", "step_k", "co", "ca", "cb", "b1", "b2", "b3", "rk", "readout_took")

    def __init__(self, rows: int, n_outputs: int, readout: str = "parallel"):
        if readout not in ("parallel", "serial"):
            raise ValueError(f"readout must be parallel or serial, not {readout!r}")
        self.rows, self.k = rows, n_outputs
        self.serial = readout == "serial"
        self.busy = False
        self.row = 0
        self.frame = -1
        self.next_frame = 0
        # Stage contents: None or (frame, row); ro / co: frame index or -1 (serial ro: (frame, k) or None).
        self.r1 = self.r2 = None
        #: The parallel readout's stages before its output register (accept, weight row, products).
        self.rp = [None] * (PIPELINE_LATENCY["readout"] - 1)
        #: The projection's stages after the issue stage, first to last (the last is its output register).
        self.proj = [None] * (PIPELINE_LATENCY["projection"] - 1)
        #: The cell array's stages, first to last (the last is its output register).
        self.cells = [None] * PIPELINE_LATENCY["cells"]
        self.ro = None if self.serial else -1
        self.co = -1
        self.ca = None              # serial classifier stage A: (frame, k) or None
        self.cb = None if self.serial else -1   # the frame whose last step is in stage B (serial: (frame, k))
        self.in_frame = False
        self.step_k = 0             # classifier step (parallel)
        self.rk = 0                 # readout step (serial)
        # Skid buffers: b1 projection -> cells, b2 cells -> readout (beats or None), b3 readout ->
        # classifier (frame index or -1; serial: (frame, k) or None).
        self.b1 = self.b2 = None
        self.b3 = None if self.serial else -1
        #: The beat the readout took in the last :meth:`step` (or None): a frame is summed with the
        #: readout the core holds when its row 0 is taken (loads are taken only between frames).
        self.readout_took = None

    def step(self, frames_valid: bool, results_ready: bool, load_valid: bool = False):
        # Every ready is a function of registers (and results.ready, load.valid), so the back end
        # (readout, classifier) can be stepped first: the front end only needs its input ready.
        b2, c_out = self.b2, self.cells[-1]
        r_in = b2 if b2 is not None else c_out               # what the readout sees (skid buffer 2)
        back = self._back_serial if self.serial else self._back_parallel
        r_in_ready, load_ready, results_valid, shown_result = back(r_in, results_ready, load_valid)
        frames_ready, trace_beat = self._front(frames_valid, r_in_ready)
        return frames_ready, load_ready, results_valid, trace_beat, shown_result

    def _front(self, frames_valid: bool, r_in_ready: bool):
        """Projection, cell array and skid buffers 1 and 2; returns (frames.ready, trace beat)."""
        rows = self.rows
        b2, c_out = self.b2, self.cells[-1]
        # cell array, fed by skid buffer 1
        adv_c = c_out is None or b2 is None
        b1, po = self.b1, self.proj[-1]
        c_in = b1 if b1 is not None else po
        # projection
        adv_p = po is None or b1 is None
        last_row = self.row == rows - 1
        frames_ready = adv_p and (not self.busy or last_row)
        trace_beat = c_out if (c_out is not None and adv_c) else None
        # --- registers
        # skid buffer 2
        if b2 is not None:
            if r_in_ready:
                self.b2 = None
        elif c_out is not None and not r_in_ready:
            self.b2 = c_out
        # cell array
        if adv_c:
            self.cells = [c_in] + self.cells[:-1]
        # skid buffer 1
        if b1 is not None:
            if adv_c:
                self.b1 = None
        elif po is not None and not adv_c:
            self.b1 = po
        # projection
        if adv_p:
            self.proj = [(self.frame, self.row) if self.busy else None] + self.proj[:-1]
            if self.busy:
                if last_row:
                    self.busy = False
                    self.row = 0
                else:
                    self.row += 1
        if frames_valid and frames_ready:
            self.busy = True
            self.row = 0
            self.frame = self.next_frame
            self.next_frame += 1
        return frames_ready, trace_beat

    def _back_parallel(self, r_in, results_ready: bool, load_valid: bool):
        """Readout (a beat per clock), skid buffer 3, classifier (K steps per frame)."""
        rows = self.rows
        # classifier, fed by skid buffer 3
        co = self.co
        last_step = self.step_k == self.k - 1
        can_finish = (co < 0 or results_ready) and self.cb < 0
        cl_ready = last_step and can_finish                  # classifier takes the frame sums
        b3, ro = self.b3, self.ro
        cl_in = b3 if b3 >= 0 else ro                        # what the classifier sees
        # readout, fed by skid buffer 2
        stages = self.rp
        r_last = stages[-1]
        adv_r = not (r_last is not None and r_last[1] == rows - 1 and ro >= 0 and b3 >= 0)
        r_in_ready = adv_r and (self.in_frame or not load_valid)
        load_ready = not self.in_frame and all(b is None for b in stages)
        results_valid = co >= 0
        shown_result = co
        # --- registers
        # classifier
        if co >= 0 and results_ready:
            self.co = -1
        if self.cb >= 0:
            self.co = self.cb
            self.cb = -1
        if cl_in >= 0 and (not last_step or can_finish):
            if last_step:
                self.step_k = 0
                self.cb = cl_in
            else:
                self.step_k += 1
        # skid buffer 3
        if b3 >= 0:
            if cl_ready:
                self.b3 = -1
        elif ro >= 0 and not cl_ready:
            self.b3 = ro
        # readout
        if ro >= 0 and b3 < 0:
            self.ro = -1
        accept_r = r_in is not None and r_in_ready
        self.readout_took = r_in if accept_r else None
        if accept_r:
            if r_in[1] == rows - 1:
                self.in_frame = False
            elif r_in[1] == 0:
                self.in_frame = True
        if adv_r:
            if r_last is not None and r_last[1] == rows - 1:
                self.ro = r_last[0]
            self.rp = [r_in if accept_r else None] + stages[:-1]
        return r_in_ready, load_ready, results_valid, shown_result

    def _back_serial(self, r_in, results_ready: bool, load_valid: bool):
        """Serial readout (K steps per beat), skid buffer 3 (one y[k]), classifier (one y[k] per clock)."""
        rows, n_out = self.rows, self.k
        # classifier, fed by skid buffer 3
        co, ca, cb = self.co, self.ca, self.cb
        cl_ready = ((co < 0 or results_ready) and not (ca is not None and ca[1] == n_out - 1)
                    and not (cb is not None and cb[1] == n_out - 1))
        b3, ro = self.b3, self.ro
        cl_in = b3 if b3 is not None else ro
        # readout, fed by skid buffer 2
        r2 = self.r2
        adv_r = not (r2 is not None and r2[1] == rows - 1 and ro is not None and b3 is not None)
        may_start = self.in_frame or self.rk != 0 or not load_valid
        issue = r_in is not None and adv_r and may_start
        r_in_ready = adv_r and self.rk == n_out - 1 and may_start
        load_ready = not self.in_frame and self.rk == 0 and self.r1 is None and r2 is None
        results_valid = co >= 0
        shown_result = co
        # --- registers
        # classifier
        if co >= 0 and results_ready:
            self.co = -1
        if cb is not None and cb[1] == n_out - 1:
            self.co = cb[0]
        self.cb = ca
        self.ca = cl_in if (cl_in is not None and cl_ready) else None
        # skid buffer 3
        if b3 is not None:
            if cl_ready:
                self.b3 = None
        elif ro is not None and not cl_ready:
            self.b3 = ro
        # readout
        if ro is not None and b3 is None:
            self.ro = None
        took = r_in is not None and r_in_ready
        self.readout_took = r_in if took else None
        if took:
            if r_in[1] == rows - 1:
                self.in_frame = False
            elif r_in[1] == 0:
                self.in_frame = True
        if adv_r:
            if r2 is not None and r2[1] == rows - 1:
                self.ro = (r2[0], r2[2])
            self.r2 = self.r1
            self.r1 = (*r_in, self.rk) if issue else None
        if issue:
            self.rk = 0 if self.rk == n_out - 1 else self.rk + 1
        return r_in_ready, load_ready, results_valid, shown_result

    def describe(self) -> str:
        """The stage contents, for mismatch reports."""
        def b(x):
            return "-" if x is None else f"frame {x[0]} row {x[1]}" + (f" k {x[2]}" if len(x) > 2 else "")

        def y(x):
            return "-" if x is None else f"frame {x[0]} y[{x[1]}]"
        if self.serial:
            back = (f"readout step {self.rk} [{b(self.r1)}, {b(self.r2)}] out {y(self.ro)}; classifier "
                    f"[{y(self.ca)}, {y(self.cb)}] out {self.co}; skid buffers [{b(self.b1)}, {b(self.b2)}, "
                    f"{y(self.b3)}]")
        else:
            back = (f"readout [{', '.join(map(b, self.rp))}] out {self.ro}; classifier step {self.step_k} "
                    f"stage B {self.cb} out {self.co}; skid buffers [{b(self.b1)}, {b(self.b2)}, {self.b3}]")
        return (f"projection issue {'frame %d row %d' % (self.frame, self.row) if self.busy else 'idle'}, "
                f"stages [{', '.join(map(b, self.proj))}]; cells [{', '.join(map(b, self.cells))}]; {back}")

    @classmethod
    def measure(cls, rows: int, n_outputs: int, frames: int = 6, readout: str = "parallel") -> tuple[int, int]:
        """(latency, cycles per frame) of the model with frames always valid and results always ready.

        Latency: from the clock a frame is accepted to the clock its result is
        valid; interval: between the last two accepted frames and results.
        """
        m = cls(rows, n_outputs, readout)
        beat = n_outputs if m.serial else 1
        accepted, results = [], []
        for cycle in range(frames * (rows * beat + n_outputs + 20) + 50):
            fr, _, rv, _, shown = m.step(len(accepted) < frames, True)
            if fr and len(accepted) < frames:
                accepted.append(cycle)
            if rv:
                results.append(cycle)
            if len(results) == frames:
                break
        return results[0] - accepted[0], results[-1] - results[-2]


def verilog_ports(text: str, top: str) -> dict[str, tuple[str, int]]:
    """Ports of module ``top`` in Verilog text: name -> (direction, width).

    Enough for the Verilog Amaranth and synthesis tools write (``input [7:0] x;`` or
    ANSI ``input wire [7:0] x``); used to check that a given file is the core the
    model describes and to find its lane count.
    """
    import re
    m = re.search(r"\bmodule\s+\\?" + re.escape(top) + r"\b(.*?)\bendmodule\b", text, re.S)
    if not m:
        raise ValueError(f"no module {top!r} in the Verilog")
    body = m.group(1)
    ports = {}
    for d, rng, names in re.findall(r"\b(input|output|inout)\s+(?:wire\s+|reg\s+|signed\s+)*"
                                    r"(\[\s*\d+\s*:\s*\d+\s*\])?\s*([\\\w$,\s]+?)\s*[;,)]", body):
        width = 1
        if rng:
            hi, lo = (int(x) for x in re.findall(r"\d+", rng))
            width = abs(hi - lo) + 1
        for name in names.split(","):
            name = name.strip().lstrip("\\")
            if name:
                ports[name] = (d, width)
    return ports


def read_ports(path: str | Path, top: str) -> dict[str, tuple[str, int]]:
    return verilog_ports(Path(path).read_text(errors="replace"), top)


def random_design(seed: int, *, max_devices: int = 24, max_virtual: int = 5, max_inputs: int = 12,
                  max_outputs: int = 10, readout_mode: str = "parallel") -> Design:
    """A random, buildable configuration with a random baked readout (seeded).

    Sizes N, ML, C, K, lanes; state features and idle gap on or off; every
    fixed-point width; tau spread (uniform or log-spaced range, or a relative
    spread); input scale, alpha and voltage range.
    """
    rng = np.random.default_rng(seed)
    while True:
        n = int(rng.integers(2, max_devices + 1))
        state_bits = int(rng.integers(8, 21))
        lut_bits = int(rng.integers(8, 19))
        fixed = {"input_bits": int(rng.integers(4, 11)), "pulse_bits": int(rng.integers(4, 12)),
                 "gain_bits": int(rng.integers(10, 20)), "state_bits": state_bits,
                 "decay_bits": int(rng.integers(10, 21)), "lut_bits": lut_bits,
                 "current_bits": int(rng.integers(6, min(16, state_bits + lut_bits) + 1)),
                 "weight_bits": int(rng.integers(3, 11)), "max_frames": int(rng.choice([64, 1024, 4096]))}
        tau_mode = str(rng.choice(["uniform", "log-spaced", "spread"]))
        lo = float(rng.uniform(20.0, 500.0))
        tau = ({"mode": tau_mode, "low_ns": lo, "high_ns": lo * float(rng.uniform(1.5, 50.0))}
               if tau_mode != "spread" else {"mode": "uniform", "low_ns": lo, "high_ns": lo * 2})
        v_min = float(rng.choice([0.0, -1.0, -3.0]))
        reservoir = {"n_devices": n, "n_virtual": int(rng.integers(1, max_virtual + 1)),
                     "state_features": bool(rng.integers(2)), "idle_ns": float(rng.choice([0.0, 0.0, 25.0, 80.0])),
                     "seed": int(rng.integers(0, 1000)), "input_scale": float(rng.uniform(0.5, 4.0)),
                     "alpha": float(np.exp(rng.uniform(np.log(0.01), np.log(50.0)))), "v_min": v_min,
                     "kn": float(rng.choice([0.32, 3.0])), "tau": tau,
                     "tau_spread": float(rng.uniform(0.05, 0.5)) if tau_mode == "spread" else 0.0}
        lanes = int(rng.choice([l for l in (1, 2, 4, 8) if l <= n]))
        c = int(rng.integers(1, max_inputs + 1))
        k = int(rng.integers(1, max_outputs + 1))
        try:
            cfg = config_from_dict({"reservoir": reservoir, "fixed": fixed})
            d = Design(cfg, c, k, lanes, np.zeros((0, k), dtype=np.int64), np.zeros(k, dtype=np.int64),
                       source=f"random configuration {seed}", readout_mode=readout_mode)
            w, b = random_readout(d.params, rng)
        except ValueError:
            continue
        d.w, d.b = w, b
        return d
