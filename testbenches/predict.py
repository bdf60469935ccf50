"""What the reservoir core must show, transaction by transaction: the golden side of ``memres verify``.

Pure Python/numpy (no simulator). :class:`Expectation`: for every frame of a
stimulus, every cell write the trace port must show (device ``n``, pass ``m``,
frame, new state ``g'``, feature ``i``) and every result beat (``y[K]``,
decision, ``last``), packed into the exact bit words of the Verilog ports. The
numbers come from the integer model itself
(:class:`sw_model.fixed.FixedReservoir`, :class:`sw_model.readout.IntReadout`,
``idle_update``, :func:`sw_model.classify.running_decisions`); this module
only arranges them in the hardware's beat order (``docs/hardware.md``,
"Schedule"). When they appear is the core's own business: the checker
(:mod:`testbenches.check`) compares them in order and measures the latency
and frame interval against the figures the hardware states
(``hdl.top.core_timing``, the manifest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from memres.hdl.design import Design
from memres.hdl.params import TRACE_FRAME_BITS, CoreParams
from memres.sw_model.classify import running_decisions
from memres.sw_model.config import config_from_dict
from memres.sw_model.fixed import FixedReservoir, idle_update

__all__ = ["Design", "Packer", "Expectation", "random_readout", "random_design", "load_beats", "stray_beats",
           "writes_readout", "loaded_value", "loaded_readout", "sequence_results",
           "words_to_ints", "ints_to_words"]


def random_readout(p: CoreParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weights anywhere in ``±(2^(B_w-1)-1)``, biases in a tenth of ``±b_lim`` (so decisions vary)."""
    w = rng.integers(-p.weight_max, p.weight_max + 1, size=(p.n_features, p.n_outputs))
    lim = max(1, p.bias_max // 10)
    b = rng.integers(-lim, lim + 1, size=p.n_outputs)
    return w.astype(np.int64), b.astype(np.int64)


def loaded_value(p: CoreParams, value: int, bias: bool) -> int:
    """What the readout keeps of a ``load`` beat's value: saturated to ``±bias_max`` or ``±weight_max``."""
    lim = p.bias_max if bias else p.weight_max
    return min(max(int(value), -lim), lim)


def writes_readout(p: CoreParams, beat: dict) -> bool:
    """A ``load`` beat addressed inside the readout (the others are ignored): ``k < K``, and for a weight
    ``device < N`` and ``node < passes``."""
    return beat["k"] < p.n_outputs and (bool(beat["bias"]) or (beat["device"] < p.n_devices and
                                                                beat["node"] < p.passes))


def loaded_readout(p: CoreParams, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The readout the core holds after ``(w, b)`` is written through ``load`` (:func:`loaded_value`)."""
    return (np.clip(np.asarray(w, dtype=np.int64), -p.weight_max, p.weight_max),
            np.clip(np.asarray(b, dtype=np.int64), -p.bias_max, p.bias_max))


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


#: Most ``load`` beats :func:`stray_beats` makes of each kind of address outside the readout.
STRAY_PER_KIND = 24


def stray_beats(p: CoreParams, rng: np.random.Generator) -> list[dict]:
    """``load`` beats addressed outside the readout, which the core must ignore (docs/hardware.md, "Load
    port"): weights with ``k >= K``, ``device >= N`` or ``node >= passes`` and biases with ``k >= K``, as far
    as the address fields can hold such values (none for a field whose every value is in range); up to
    :data:`STRAY_PER_KIND` of each kind, at random addresses, with random values of the whole ``value`` field
    (a core that wrote one would change a weight or bias in use)."""
    fields = data.Layout.cast(p.load_layout)
    top = {name: 1 << Shape.cast(fields[name].shape).width for name in ("k", "device", "node")}
    vbits = Shape.cast(fields["value"].shape).width
    n, passes, k_out = p.n_devices, p.passes, p.n_outputs

    def draw(lo: dict, bias: int) -> list[dict]:
        # lo: the fields drawn from their out-of-range part; the others anywhere in range
        ranges = {"k": (k_out, top["k"]) if "k" in lo else (0, k_out),
                  "device": (n, top["device"]) if "device" in lo else (0, n),
                  "node": (passes, top["node"]) if "node" in lo else (0, passes)}
        if any(a >= b for a, b in ranges.values()):
            return []
        return [{"value": int(rng.integers(-(1 << (vbits - 1)), 1 << (vbits - 1))), "bias": bias,
                 **{f: int(rng.integers(*ranges[f])) for f in ranges}} for _ in range(STRAY_PER_KIND)]

    return draw({"k"}, 0) + draw({"device"}, 0) + draw({"node"}, 0) + draw({"k"}, 1)


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
        self.words64 = max(1, -(-self.width // 64))
        self.by_name = {f.name: f for f in self.fields}
        if any(f.width > 64 for f in self.fields):
            raise ValueError("Packer handles fields of at most 64 bits")

    def pack_array(self, values: dict[str, np.ndarray], rows: int) -> np.ndarray:
        """``values[name]``: (rows,) or (rows, repeat) — arrays: (rows, [repeat,] count).

        Returns the words as ``(rows, words64)`` little-endian 64-bit words (bit ``b`` of a payload is
        bit ``b % 64`` of word ``b // 64``): the layout the native engine records ports in.
        """
        out = np.zeros((rows, self.words64), dtype=np.uint64)
        for f in self.fields:
            v = np.asarray(values.get(f.name, 0), dtype=np.int64)
            shape = (rows, self.repeat, f.count)
            u = np.broadcast_to(v.reshape(_as_shape(v, rows, self.repeat, f.count)), shape).astype(np.uint64)
            if f.width < 64:
                u = u & np.uint64((1 << f.width) - 1)
            for r in range(self.repeat):
                for c in range(f.count):
                    _or_bits(out, r * self.entry_bits + f.offset + c * f.stride, f.width, u[:, r, c])
        return out

    def pack_one(self, values: dict[str, object]) -> int:
        """One word (one entry) from scalar or list field values, in plain Python (for one word at a time)."""
        word = 0
        for f in self.fields:
            v = values.get(f.name, 0)
            items = list(v) if f.count > 1 or f.stride else [v]
            mask = (1 << f.width) - 1
            for c, x in enumerate(items):
                word |= (int(x) & mask) << (f.offset + c * f.stride)
        return word

    def pack(self, values: dict[str, np.ndarray], rows: int) -> list[int]:
        """As :meth:`pack_array`, as ``rows`` Python ints."""
        return words_to_ints(self.pack_array(values, rows))

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


def _or_bits(out: np.ndarray, lo: int, width: int, u: np.ndarray) -> None:
    """OR ``u`` (uint64, ``width`` bits) into bits ``lo ..`` of the rows of ``out`` (64-bit words)."""
    w, sh = divmod(lo, 64)
    out[:, w] |= u << np.uint64(sh)
    if sh + width > 64:
        out[:, w + 1] |= u >> np.uint64(64 - sh)


def words_to_ints(words: np.ndarray) -> list[int]:
    """``(rows, words64)`` uint64 words -> one Python int per row."""
    raw = np.ascontiguousarray(words, dtype="<u8")
    return [int.from_bytes(row.tobytes(), "little") for row in raw]


def ints_to_words(values, words64: int) -> np.ndarray:
    """Python ints -> ``(rows, words64)`` uint64 words (the inverse of :func:`words_to_ints`)."""
    out = np.zeros((len(values), words64), dtype="<u8")
    for r, v in enumerate(values):
        out[r] = np.frombuffer(int(v).to_bytes(8 * words64, "little"), dtype="<u8")
    return out.astype(np.uint64)


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
    trace_words: np.ndarray | None   # (T * rows, words64) uint64: cell writes of beat (t, row), invalid lanes zero
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

    def __init__(self, design: Design, seqs: list[np.ndarray], batch: int = 16, keep_features: bool = False,
                 open_end: bool = False):
        self.design = design
        #: the last sequence is cut short by a reset: none of its frames is marked ``last``
        self.open_end = open_end
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
        row_valid, row_mask = [], []
        for row in range(p.rows):
            node, slot = divmod(row, p.slots)
            writes = node < p.n_virtual or p.has_idle
            lanes = [l for l in range(p.lanes) if writes and p.device_of(slot, l) is not None]
            row_valid.append(sum(1 << l for l in lanes))
            row_mask.append(self.trace.entry_mask(lanes))
        self.row_valid = np.array(row_valid, dtype=np.int64)
        #: (rows, words64): the trace bits of the lanes that write in each row
        self.row_mask = ints_to_words(row_mask, self.trace.words64)
        #: rows that write cells (a beat on the trace port), in beat order
        self.write_rows = np.flatnonzero(self.row_valid)
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
        p = self.p
        t_max = max(len(self.seqs[i]) for i in idx)
        u = np.zeros((len(idx), t_max, p.n_inputs), dtype=np.int64)
        for b, i in enumerate(idx):
            u[b, :len(self.seqs[i])] = self.seqs[i]
        feats, states = self.reservoir.run_batch(u, record_states=True)
        for b, i in enumerate(idx):
            t_len = len(self.seqs[i])
            self._cache[i] = self._sequence(feats[b, :t_len], states[b, :t_len], np.asarray(self.seqs[i]),
                                            self.ends(i))

    def ends(self, s: int) -> bool:
        """Whether sequence ``s`` ends (its last frame is marked ``last``): all but a cut last one."""
        return not (self.open_end and s == len(self.seqs) - 1)

    def _sequence(self, feats: np.ndarray, states: np.ndarray, u: np.ndarray, ends: bool = True) -> SequenceExpectation:
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
        words = self.trace.pack_array({"n": dev, "m": np.broadcast_to(node, dev.shape),
                                       "frame": np.broadcast_to(frame, dev.shape), "g": g, "i": i}, t_len * rows)
        words &= np.tile(self.row_mask, (t_len, 1))
        y = self.readout(feats)
        _, dec = sequence_results(p, y)
        last = np.zeros(t_len, dtype=np.int64)
        last[-1] = int(ends)
        results = self.result.pack({"y": y, "decision": np.array(dec), "last": last}, t_len)
        first = np.zeros(t_len, dtype=np.int64)
        first[0] = 1
        frames = self.frame.pack({"u": u, "first": first, "last": last}, t_len)
        return SequenceExpectation(t_len, words, results, y, dec, frames,
                                   feats.copy() if self.keep_features else None)

    def frame_array(self) -> np.ndarray:
        """``frames.payload`` of every frame of the stimulus, in order: ``(frames, words64)`` uint64."""
        p = self.p
        u = np.concatenate([np.asarray(s, dtype=np.int64).reshape(-1, p.n_inputs) for s in self.seqs]) \
            if self.seqs else np.zeros((0, p.n_inputs), dtype=np.int64)
        first = np.zeros(self.n_frames, dtype=np.int64)
        last = np.zeros(self.n_frames, dtype=np.int64)
        first[self.starts[:-1][np.diff(self.starts) > 0]] = 1
        last[self.starts[1:][np.diff(self.starts) > 0] - 1] = 1
        if self.open_end and self.n_frames:
            last[-1] = 0
        return self.frame.pack_array({"u": u, "first": first, "last": last}, self.n_frames)

    def result_word(self, y: np.ndarray, decision: int, last: bool) -> int:
        """``results.payload`` of one frame."""
        return self.result.pack_one({"y": [int(v) for v in y], "decision": decision, "last": int(last)})

    def load_array(self, beats: list[dict]) -> np.ndarray:
        """``load.payload`` of every beat, in order: ``(beats, words64)`` uint64."""
        cols = {name: np.array([b[name] for b in beats], dtype=np.int64)
                for name in ("value", "k", "device", "node", "bias")}
        return self.load.pack_array(cols, len(beats))


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
