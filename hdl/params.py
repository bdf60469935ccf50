"""Geometry, widths and payload layouts shared by the reservoir hardware blocks.

The blocks of ``hdl/`` are built from one :class:`CoreParams`: the integer
constants of the contract (:class:`sw_model.fixed.FixedConstants`), the number
of readout outputs ``K`` and the number of ``lanes`` (cells updated per clock).

Schedule
--------
Devices are split into ``slots`` groups of ``lanes`` consecutive devices:
lane ``l`` of slot ``s`` is device ``n = s * lanes + l`` (``lanes`` is a power
of two, so this is a bit concatenation). A frame is processed as ``passes``
passes over the slots: pass ``m < ML`` applies virtual node ``m``; with state
features or an idle gap there is one more, the *end pass* (``m = ML``), which
reads the state features and applies the idle relaxation. One pass over one
slot is one *beat* (one clock when nothing stalls), so a frame is
``rows = passes * slots`` beats, beat ``row = m * slots + s``.

The cell array's state loop is :data:`MIN_SLOTS` (3) beats: the state enters the multipliers'
operand registers, their products are rounded into the decay and move terms (a register), and the
terms' sum is the new state, forwarded into the operand registers for the same slot of the next pass
when that is the beat right behind (a pass of 3 slots, :attr:`CoreParams.state_forwarded`). It is
also written to the state memory, :attr:`CoreParams.state_loop` beats after the memory read: straight
from the sum (4), or from its register (5, :attr:`CoreParams.state_write_registered`, chosen only where
the pass has that many slots, so it never adds a slot). When ``ceil(N / lanes)`` is smaller than
:data:`MIN_SLOTS`, idle slots are added (a frame then costs more beats than cells).
"""

from __future__ import annotations

import enum
import operator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from memres.sw_model.fixed import (FixedConstants, Widths, bias_limit, bits_signed, bits_unsigned, derive_widths,
                                     update_range)
from memres.sw_model.errors import MemresError

__all__ = ["CoreParams", "HardwareParamError", "MIN_SLOTS", "DIRECT_WRITE_SLOTS", "REGISTERED_WRITE_SLOTS",
           "TRACE_FRAME_BITS", "MAX_INPUTS", "ReadoutMode", "READOUT_MODES"]

#: The cell array's state loop: the state in the multipliers' operand registers, their products, the
#: rounded decay and move terms, and their sum back into the operand registers (forwarded). The fewest
#: slots a pass can have.
MIN_SLOTS = 3
#: Beats from reading a state from the state memory (its read port is transparent) to writing the new
#: state straight from the terms' sum: the fewest slots of a pass that needs no forwarding.
DIRECT_WRITE_SLOTS = MIN_SLOTS + 1
#: The read-to-write distance when the new state is registered before it is written back (one beat
#: more): the cell array does so when a pass has at least this many used slots anyway.
REGISTERED_WRITE_SLOTS = DIRECT_WRITE_SLOTS + 1
#: Width of the frame-in-sequence counter on the trace port (wraps beyond).
TRACE_FRAME_BITS = 16
#: Largest number of input channels: the projection adds all of them in one clock.
MAX_INPUTS = 256
#: Widest datapath signal accepted: the integer reference model (numpy int64) must hold every
#: value exactly for the bit-exact comparison, so no signal may be wider than 64 bits.
MAX_WIDTH = 64


class ReadoutMode(enum.StrEnum):
    """The readout crossbar and classifier variant; its values are the CLI and JSON spellings.

    ``parallel``: ``lanes x K`` multipliers, a beat per clock, K accumulator registers
    (``hdl.readout.ReadoutCrossbar``, ``hdl.classifier.Classifier``). ``serial``: ``lanes``
    multipliers, one output ``k`` per clock: a beat takes K clocks, the accumulators, biases and the
    classifier's sequence sums are memories, ``y[k]`` goes to the classifier one per clock
    (``SerialReadoutCrossbar``, ``SerialClassifier``). Same results, bit for bit; see docs/hardware.md.
    """

    PARALLEL = "parallel"
    SERIAL = "serial"


#: The values of :class:`ReadoutMode` (command-line choices).
READOUT_MODES = tuple(mode.value for mode in ReadoutMode)

#: Where the serial readout keeps its weights: block RAM (initialised with the baked readout), the iCE40
#: SPRAM blocks (``SB_SPRAM256KA``; iCE40 builds and Verilator with Yosys' model), or the behavioural
#: equivalent of the SPRAM for Amaranth's simulator. SPRAM starts empty (zero in simulation): the
#: weights are written through ``load`` after start-up (WEIGHT_WRITE).
WEIGHT_RAMS = ("block", "spram", "spram-sim")


class HardwareParamError(MemresError, ValueError):
    """A parameter combination the hardware cannot implement; the message names it."""


def _shape_of(lo: int, hi: int):
    """Smallest Amaranth shape holding lo .. hi (unsigned when lo >= 0)."""
    return unsigned(bits_unsigned(hi)) if lo >= 0 else signed(bits_signed(lo, hi))


def _index_bits(count: int) -> int:
    """Width of an index 0 .. count-1 (at least 1 bit)."""
    return bits_unsigned(max(count - 1, 1))


@dataclass(frozen=True, eq=False)
class CoreParams:
    """Everything the blocks need to know, checked once.

    Parameters
    ----------
    k : FixedConstants
        The integer constants (``build_constants``).
    n_outputs : int
        Readout outputs ``K``.
    lanes : int
        Cells updated per clock: a power of two, at most the number of devices.
    readout : ReadoutMode or its value ("parallel" | "serial")
        The readout crossbar and classifier variant; stored as a :class:`ReadoutMode`.
    weight_ram : str
        One of :data:`WEIGHT_RAMS`: where the serial readout keeps its weights.

    Raises
    ------
    HardwareParamError
        If ``lanes`` is not a power of two or exceeds the devices, if there are
        more than :data:`MAX_INPUTS` inputs, a width exceeds :data:`MAX_WIDTH`,
        or ``readout`` is not one of :data:`READOUT_MODES`.
    """

    k: FixedConstants
    n_outputs: int
    lanes: int = 1
    readout: ReadoutMode = ReadoutMode.PARALLEL
    weight_ram: str = "block"

    def __post_init__(self):
        lanes = operator.index(self.lanes)
        n = self.k.n_devices
        if lanes < 1 or lanes & (lanes - 1):
            raise HardwareParamError(f"lanes must be a power of two (1, 2, 4, 8, ...), not {self.lanes!r}")
        if lanes > n:
            raise HardwareParamError(f"lanes={lanes} exceeds the {n} devices: at most one lane per device "
                                     f"(use lanes <= {1 << (n.bit_length() - 1)})")
        if self.readout not in READOUT_MODES:
            raise HardwareParamError(f"readout must be one of {', '.join(READOUT_MODES)}, not {self.readout!r}")
        object.__setattr__(self, "readout", ReadoutMode(self.readout))
        if self.weight_ram not in WEIGHT_RAMS:
            raise HardwareParamError(f"weight_ram must be one of {', '.join(WEIGHT_RAMS)}, not {self.weight_ram!r}")
        if self.weight_ram != "block" and self.readout is not ReadoutMode.SERIAL:
            raise HardwareParamError(f"weight_ram={self.weight_ram!r} needs the serial readout (its weights are "
                                     f"one lanes-wide word per clock); the parallel readout keeps them in block RAM")
        if operator.index(self.n_outputs) < 1:
            raise HardwareParamError(f"the readout needs at least one output, not {self.n_outputs!r}")
        if not 1 <= self.k.n_inputs <= MAX_INPUTS:
            raise HardwareParamError(f"{self.k.n_inputs} input channels: the projection supports 1 to "
                                     f"{MAX_INPUTS} (it adds all of them in one clock)")
        w = self.widths
        for name, value in w.to_dict().items():
            if value > MAX_WIDTH:
                raise HardwareParamError(f"the {name} width would be {value} bits, more than the {MAX_WIDTH} "
                                         f"bits the integer reference model computes exactly (numpy int64); "
                                         f"reduce fixed.max_frames, weight_bits or the feature count")
        if self.k.current_shift < 0:
            raise HardwareParamError("current_bits exceeds state_bits + lut_bits")

    # --- geometry ---------------------------------------------------------

    @property
    def n_inputs(self) -> int:
        return self.k.n_inputs

    @property
    def n_devices(self) -> int:
        return self.k.n_devices

    @property
    def n_virtual(self) -> int:
        return self.k.n_virtual

    @property
    def n_features(self) -> int:
        return self.k.n_features

    @property
    def lane_bits(self) -> int:
        return self.lanes.bit_length() - 1

    @property
    def used_slots(self) -> int:
        """Slots that hold at least one device: ceil(N / lanes)."""
        return -(-self.n_devices // self.lanes)

    @property
    def state_write_registered(self) -> bool:
        """Whether the cell array registers the new state before writing it back (a beat longer state loop).

        The write is then one register away from the state memory instead of the terms' sum and clamp.
        It is chosen where the pass has at least :data:`REGISTERED_WRITE_SLOTS` used slots, so the longer
        loop costs no slot (the FSDD default at 8 lanes, 25 slots); a pass of fewer keeps the direct write.
        """
        return self.used_slots >= REGISTERED_WRITE_SLOTS

    @property
    def state_loop(self) -> int:
        """Beats from reading a device state from the state memory to writing it back."""
        return REGISTERED_WRITE_SLOTS if self.state_write_registered else DIRECT_WRITE_SLOTS

    @property
    def state_forwarded(self) -> bool:
        """Whether a pass is shorter than :attr:`state_loop`: the cell array then forwards the new state into
        the multipliers' operand registers for the beat :data:`MIN_SLOTS` behind (the 40-device regression
        reservoir at 16 lanes, 3 slots)."""
        return self.slots < self.state_loop

    @property
    def slots(self) -> int:
        """Beats per pass: ``max(ceil(N / lanes), MIN_SLOTS)``."""
        return max(self.used_slots, MIN_SLOTS)

    @property
    def idle_lanes(self) -> int:
        """Lane-beats per pass that update no device (padding)."""
        return self.slots * self.lanes - self.n_devices

    @property
    def has_idle(self) -> bool:
        return self.k.r_idle is not None

    @property
    def has_end_pass(self) -> bool:
        """Whether a frame ends with a pass for state features and/or the idle gap."""
        return self.k.state_features or self.has_idle

    @property
    def passes(self) -> int:
        return self.n_virtual + int(self.has_end_pass)

    @property
    def rows(self) -> int:
        """Beats per frame."""
        return self.passes * self.slots

    @property
    def serial(self) -> bool:
        """Whether the readout is the serial one (one output ``k`` per clock)."""
        return self.readout is ReadoutMode.SERIAL

    def device_of(self, slot: int, lane: int) -> int | None:
        """Device at (slot, lane), or None for a padding lane."""
        n = slot * self.lanes + lane
        return n if n < self.n_devices else None

    def feature_index(self, node: int, device: int) -> int | None:
        """Index j of the feature made by pass ``node`` on ``device``, or None if it makes none."""
        if node < self.n_virtual:
            return node * self.n_devices + device
        if self.k.state_features:
            return self.n_virtual * self.n_devices + device
        return None

    # --- widths -----------------------------------------------------------

    @cached_property
    def widths(self) -> Widths:
        return derive_widths(self.k, self.n_outputs)

    @cached_property
    def update_range(self) -> tuple[int, int]:
        """Smallest and largest state update before its clamp (``sw_model.fixed.update_range``)."""
        return update_range(self.k)

    @property
    def weight_max(self) -> int:
        return (1 << (self.k.fx.weight_bits - 1)) - 1

    @property
    def bias_max(self) -> int:
        return bias_limit(self.k)

    @property
    def seq_limit(self) -> int:
        """Y_lim: the per-sequence sums saturate at +-this."""
        return (1 << (self.widths.seq_acc - 1)) - 1

    @property
    def a_shape(self):
        return _shape_of(int(self.k.a_lut.min()), int(self.k.a_lut.max()))

    @property
    def f_shape(self):
        return _shape_of(int(self.k.f_lut.min()), int(self.k.f_lut.max()))

    @cached_property
    def h_threshold(self) -> int | None:
        """The pulse code from which ``H[q] = 1``, when ``H`` is a step (``H[q] = q >= threshold``), else None.

        ``H[q] = 1`` where ``V(q) > 0``, and ``V`` grows with ``q``, so the contract's ``H`` is a step and
        the cell array compares ``q`` with this code instead of storing ``H`` in its table: the FSDD
        table's entries are then 28 bits, 7 iCE40 block RAMs of 1024 x 4 instead of 8.
        """
        h = np.asarray(self.k.h_lut).astype(np.int64)
        threshold = int(np.argmax(h)) if h.any() else len(h)
        step = (np.arange(len(h)) >= threshold).astype(np.int64)
        return threshold if np.array_equal(h, step) else None

    @cached_property
    def h_acts(self) -> bool:
        """Whether ``H`` changes any move: some pulse code has ``H[q] = 0`` and ``A[q] != 0``.

        The move is ``A[q] (H[q] g_max - g)``; where ``A[q] = 0`` it is 0 whatever ``H[q]`` is, so when
        ``A`` vanishes on every code with ``H[q] = 0`` the cell array computes ``A[q] (g_max - g)`` and
        has no ``H`` at all (for example with ``v_min = 0``: only code 0 has ``H = 0``, and ``A[0] = 0``).
        """
        h = np.asarray(self.k.h_lut).astype(np.int64)
        a = np.asarray(self.k.a_lut).astype(np.int64)
        return bool(np.any((h == 0) & (a != 0)))

    @property
    def decision_bits(self) -> int:
        return _index_bits(self.n_outputs)

    # --- payload layouts ----------------------------------------------------

    @cached_property
    def frame_layout(self) -> data.StructLayout:
        """Input of the core: one frame of C input codes and the sequence flags."""
        return data.StructLayout({
            "u": data.ArrayLayout(unsigned(self.k.fx.input_bits), self.n_inputs),
            "first": 1,
            "last": 1,
        })

    def _beat_fields(self) -> dict:
        return {
            "row": _index_bits(self.rows),
            "node": _index_bits(self.passes),
            "slot": _index_bits(self.slots),
            "frame_start": 1,
            "frame_end": 1,
            "seq_first": 1,
            "seq_last": 1,
        }

    @cached_property
    def pulse_layout(self) -> data.StructLayout:
        """Projection -> cell array: the pulse codes of one slot of one pass."""
        return data.StructLayout({"q": data.ArrayLayout(unsigned(self.k.fx.pulse_bits), self.lanes),
                                  **self._beat_fields()})

    @cached_property
    def feature_layout(self) -> data.StructLayout:
        """Cell array -> readout: the features of one slot of one pass (0 where none)."""
        return data.StructLayout({"x": data.ArrayLayout(signed(self.widths.feature), self.lanes),
                                  **self._beat_fields()})

    @cached_property
    def frame_sum_layout(self) -> data.StructLayout:
        """Readout -> classifier: y[k] of one frame."""
        return data.StructLayout({
            "y": data.ArrayLayout(signed(self.widths.frame_acc), self.n_outputs),
            "first": 1,
            "last": 1,
        })

    @cached_property
    def output_sum_layout(self) -> data.StructLayout:
        """Serial readout -> classifier: ``y[k]`` of one frame, one beat per output, ``k = 0 .. K-1`` in order."""
        return data.StructLayout({"y": signed(self.widths.frame_acc), "first": 1, "last": 1})

    @property
    def readout_output_layout(self) -> data.StructLayout:
        """What the readout hands the classifier: one frame per beat (parallel) or one output per beat (serial)."""
        return self.output_sum_layout if self.serial else self.frame_sum_layout

    @cached_property
    def result_layout(self) -> data.StructLayout:
        """Output of the core: y[k] of the frame, the running decision, end of sequence."""
        return data.StructLayout({
            "y": data.ArrayLayout(signed(self.widths.frame_acc), self.n_outputs),
            "decision": self.decision_bits,
            "last": 1,
        })

    @cached_property
    def load_layout(self) -> data.StructLayout:
        """Run-time readout write: one weight W[j(node, device), k] or one bias b[k] per beat."""
        return data.StructLayout({
            "value": signed(max(self.k.fx.weight_bits, self.widths.bias)),
            "k": _index_bits(self.n_outputs),
            "device": _index_bits(self.n_devices),
            "node": _index_bits(self.passes),
            "bias": 1,
        })

    @cached_property
    def trace_entry_layout(self) -> data.StructLayout:
        """One cell write: device n, pass m (ML = end pass), frame in sequence, new state, feature."""
        return data.StructLayout({
            "n": _index_bits(self.slots * self.lanes),
            "m": _index_bits(self.passes),
            "frame": TRACE_FRAME_BITS,
            "g": unsigned(self.k.fx.state_bits),
            "i": signed(self.widths.feature),
        })

    # --- tables -----------------------------------------------------------

    @property
    def mask_depth(self) -> int:
        """Rows of the projection's mask ROM, addressed by the low bits of the beat's row.

        Only the ``ML * slots`` beats of the pulse passes use the mask (the end pass sends no pulse).
        When a power of two at least that large is no more than :attr:`rows`, the ROM has that many
        rows and the row's low bits address it: the end pass then reads rows it does not use, and the
        ROM saves the end pass's rows without a comparator in the address (the FSDD default: 2048 of
        2200 rows, which the iCE40 maps to 16 block RAMs of 2048 x 2 bits, not 18 of 256 x 16 bits).
        Otherwise it has all :attr:`rows` rows.
        """
        pow2 = 1 << _index_bits(self.n_virtual * self.slots)
        return pow2 if pow2 <= self.rows else self.rows

    def mask_rom_rows(self) -> list[int]:
        """The projection's mask ROM: the first :attr:`mask_depth` rows of :meth:`mask_rows`."""
        return self.mask_rows()[:self.mask_depth]

    def mask_rows(self) -> list[int]:
        """Projection ROM: per row, lanes x C bits, bit ``l*C + c`` set where mask[c, m, n] = +1."""
        c_count, lanes = self.n_inputs, self.lanes
        rows = []
        for row in range(self.rows):
            node, slot = divmod(row, self.slots)
            word = 0
            if node < self.n_virtual:
                for lane in range(lanes):
                    n = self.device_of(slot, lane)
                    if n is None:
                        continue
                    for c in range(c_count):
                        if self.k.mask[c, node, n] > 0:
                            word |= 1 << (lane * c_count + c)
            rows.append(word)
        return rows

    def weight_rows(self, w: np.ndarray) -> list[list[int]]:
        """Readout memory: per row, lanes x K weights (lane-major), 0 where no feature."""
        rows = []
        for row in range(self.rows):
            node, slot = divmod(row, self.slots)
            word = []
            for lane in range(self.lanes):
                n = self.device_of(slot, lane)
                j = None if n is None else self.feature_index(node, n)
                word.extend([0] * self.n_outputs if j is None else [int(v) for v in w[j]])
            rows.append(word)
        return rows

    def weight_words(self, w: np.ndarray) -> list[list[int]]:
        """Serial readout memory: word ``row * K + k`` holds ``W[j, k]`` of the row's lanes, 0 where no feature."""
        k_out = self.n_outputs
        return [[word[lane * k_out + k] for lane in range(self.lanes)]
                for word in self.weight_rows(w) for k in range(k_out)]
