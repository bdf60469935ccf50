"""Deliberately broken cores: the checker must catch each of them.

Every fault is made while the core is elaborated, without touching ``hdl/``:
constants are changed in the :class:`~memres.hdl.params.CoreParams` the core is built
from, the readout in the weights it is given, operators and blocks are
monkeypatched in the ``hdl`` modules for the duration of one elaboration
(:func:`patched`). :func:`fault_verilog` writes the Verilog of ``design`` with
one fault; the golden model (:mod:`testbenches.predict`) is always that of the
intact ``design``.

=====================  ==========================================================================
fault                  what is wrong
=====================  ==========================================================================
cell_rounding          the cell array floors instead of rounding (decay, move: ``rshr_constant``; current: ``rshr``)
cell_rounding_tie      the cell array's rounding constant one LSB more than half: wrong at one residue only
pulse_rounding         the projection's pulse-code ``rshr`` floors instead of rounding
decay_lsb              one device's decay factor ``r[n]`` one LSB too large
g0_lsb                 the resting state ``g0`` one LSB too large
mask_sign              one input-mask sign flipped (input 0, virtual node 0, device 0)
swapped_weight         two readout weights of output 0 swapped
valid_not_held         results.valid drops after one clock when results.ready is low (beat lost)
stall_ignored          the cell array keeps going while the readout stalls (beats lost)
input_stall_ignored    frames.ready stays high while the projection is busy (frames lost)
load_dropped           load beats are acknowledged but not written (a run-time readout never arrives)
stray_load_written     a load beat addressed outside the readout is written inside it (``k - K``, ``node -
                       passes``, ``device - N``): the range checks left out, the address wrapped
serial_weight_layout   serial readout: weight memory laid out k-major (``k * rows + row``), not ``row * K + k``
serial_stall_ignored   serial readout: ``y[k]`` offered to the classifier is dropped when not taken
reset_ignored          the input projection ignores ``rst``: a frame it is issuing goes on after a reset
=====================  ==========================================================================

The ``serial_*`` faults need a design with the serial readout (``Design.readout_mode``);
the others apply to both readouts.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Module, Mux
from amaranth.lib import wiring

import memres.hdl.cell_array
import memres.hdl.params
import memres.hdl.projection
import memres.hdl.top
from memres.hdl import CoreParams, ReservoirCore
from memres.hdl.arith import rshr, rshr_constant
from memres.hdl.cell_array import CellArray
from memres.hdl.classifier import Classifier
from memres.hdl.projection import InputProjection
from memres.hdl.readout import ReadoutCrossbar, SerialReadoutCrossbar
from memres.hdl.verilog import to_verilog

from .predict import Design

__all__ = ["FAULTS", "patched", "fault_verilog"]


@contextlib.contextmanager
def patched(*changes: tuple[object, str, object]) -> Iterator[None]:
    """Set ``obj.name = value`` for each ``(obj, name, value)`` and restore the originals afterwards."""
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in changes]
    try:
        for obj, name, value in changes:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


def _floor_shift(x, s, offset=0):
    """``rshr`` without its rounding term: a plain arithmetic shift (floor)."""
    if offset:
        x = x + offset
    return x >> s if s > 0 else x << -s


def _tie_shift(x, s, offset=0):
    """``rshr`` whose rounding constant is one LSB too large: wrong only where the shifted-out bits are
    ``2^(s-1) - 1``, which random stimulus almost never makes (``testbenches.directed.tie_sequences``)."""
    return rshr(x, s, offset=offset + 1) if s > 0 else rshr(x, s, offset=offset)


def _floor_constant(s, offset=0):
    """``rshr_constant`` without the rounding term (the constant of :func:`_floor_shift`)."""
    return int(offset)


def _tie_constant(s, offset=0):
    """``rshr_constant`` one LSB too large (the constant of :func:`_tie_shift`)."""
    return rshr_constant(s, offset) + 1


# --- broken blocks: the intact block inside, its handshake miswired --------------------------

class _ClassifierDropsResults(Classifier):
    """The result register is emptied every clock: a beat offered while results.ready is low is lost."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = Classifier(self._p)
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        m.d.comb += [self.o.valid.eq(inner.o.valid), self.o.payload.eq(inner.o.payload), inner.o.ready.eq(1)]
        return m


class _CellArrayIgnoresStall(CellArray):
    """The cell array advances even when the readout does not take its beat."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = CellArray(self._p)
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        for inner_lane, lane in zip(inner.trace, self.trace):
            wiring.connect(m, inner_lane, wiring.flipped(lane))
        m.d.comb += [self.o.valid.eq(inner.o.valid), self.o.payload.eq(inner.o.payload), inner.o.ready.eq(1)]
        return m


class _ProjectionIgnoresBusy(InputProjection):
    """frames.ready ignores that a frame is still being issued: frames offered meanwhile are lost."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = InputProjection(self._p)
        wiring.connect(m, inner.o, wiring.flipped(self.o))
        m.d.comb += [inner.i.valid.eq(self.i.valid), inner.i.payload.eq(self.i.payload),
                     self.i.ready.eq(~inner.o.valid | inner.o.ready)]
        return m


class _ProjectionIgnoresReset(InputProjection):
    """The intact projection in a clock domain of its own without reset: ``rst`` does not stop a frame."""

    def elaborate(self, platform):
        m = Module()
        m.domains.norst = cd = ClockDomain("norst", reset_less=True, local=True)
        m.d.comb += cd.clk.eq(ClockSignal("sync"))
        m.submodules.inner = inner = DomainRenamer({"sync": "norst"})(InputProjection(self._p))
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        wiring.connect(m, inner.o, wiring.flipped(self.o))
        return m


class _WrappedReadout:
    """An intact readout crossbar inside (the class's ``INNER``), its input ``i`` passed through; subclasses
    wire ``o`` and ``load``. Mixed into a subclass of the crossbar it wraps (:func:`_wrapping`)."""

    INNER = ReadoutCrossbar

    def __init__(self, params, weights, biases):
        super().__init__(params, weights, biases)
        self._args = (params, weights, biases)

    def _inner(self, m):
        m.submodules.inner = inner = self.INNER(*self._args)
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        return inner


class _ReadoutDropsLoads(_WrappedReadout):
    """Load beats are acknowledged but never written."""

    def elaborate(self, platform):
        m = Module()
        inner = self._inner(m)
        wiring.connect(m, inner.o, wiring.flipped(self.o))
        m.d.comb += [inner.load.payload.eq(self.load.payload), inner.load.valid.eq(0),
                     self.load.ready.eq(inner.load.ready)]
        return m


class _ReadoutWritesStrayLoads(_WrappedReadout):
    """A load beat addressed outside the readout lands inside it: ``k >= K`` at ``k - K``, ``node >= passes``
    at ``node - passes``, ``device >= N`` at ``device - N``."""

    def elaborate(self, platform):
        m = Module()
        inner = self._inner(m)
        wiring.connect(m, inner.o, wiring.flipped(self.o))
        p, ld = self._p, self.load.payload
        m.d.comb += [inner.load.payload.eq(ld), inner.load.valid.eq(self.load.valid),
                     self.load.ready.eq(inner.load.ready)]
        for name, size in (("k", p.n_outputs), ("node", p.passes), ("device", p.n_devices)):
            field = getattr(ld, name)
            m.d.comb += getattr(inner.load.payload, name).eq(Mux(field >= size, field - size, field))
        return m


class _ReadoutIgnoresStall(_WrappedReadout):
    """The readout never sees the classifier's ``ready``: an output not taken at once is overwritten."""

    def elaborate(self, platform):
        m = Module()
        inner = self._inner(m)
        wiring.connect(m, wiring.flipped(self.load), inner.load)
        m.d.comb += [self.o.valid.eq(inner.o.valid), self.o.payload.eq(inner.o.payload), inner.o.ready.eq(1)]
        return m


def _wrapping(wrapper, inner):
    """``wrapper`` (a :class:`_WrappedReadout`) around the crossbar class ``inner``, with its signature."""
    return type(f"{wrapper.__name__}_{inner.__name__}", (wrapper, inner), {"INNER": inner})


def _k_major_weight_words(self, w):
    """The serial weight memory in the wrong order: word ``k * rows + row`` instead of ``row * K + k``."""
    words = _WEIGHT_WORDS(self, w)
    return [words[row * self.n_outputs + k] for k in range(self.n_outputs) for row in range(self.rows)]


_WEIGHT_WORDS = CoreParams.weight_words


# --- the faults ---------------------------------------------------------------------------

def _params_with(p: CoreParams, **changes) -> CoreParams:
    return CoreParams(dataclasses.replace(p.k, **changes), p.n_outputs, p.lanes, p.readout)


def _core(design: Design, p: CoreParams | None = None, w=None) -> ReservoirCore:
    p = p or design.params
    w = design.w if w is None else w
    return ReservoirCore(p, w if design.baked else None, design.b if design.baked else None)


def _decay_lsb(design: Design) -> ReservoirCore:
    k = design.params.k
    r = k.r.copy()
    n = k.n_devices // 2
    r[n] = r[n] + 1 if r[n] < (1 << k.fx.decay_bits) - 1 else r[n] - 1
    return _core(design, _params_with(design.params, r=r))


def _g0_lsb(design: Design) -> ReservoirCore:
    k = design.params.k
    return _core(design, _params_with(design.params, g0=k.g0 + 1 if k.g0 < k.g_max else k.g0 - 1))


def _mask_sign(design: Design) -> ReservoirCore:
    mask = design.params.k.mask.copy()
    mask[0, 0, 0] *= -1
    return _core(design, _params_with(design.params, mask=mask))


def _swapped_weight(design: Design) -> ReservoirCore:
    if not design.baked:
        raise ValueError("swapped_weight needs a design with a baked readout")
    w = np.array(design.w, copy=True)
    col = w[:, 0]
    n = design.params.n_devices
    # two current features of pass 0 with different weights
    j1 = 0
    j2 = next((j for j in range(1, min(n, len(col))) if col[j] != col[j1]), None)
    if j2 is None:
        j2 = next(j for j in range(len(col)) if col[j] != col[j1])
    w[[j1, j2], 0] = w[[j2, j1], 0]
    return _core(design, w=w)


def _patching(*changes, serial: bool = False) -> Callable[[Design], tuple[ReservoirCore, tuple]]:
    """A fault made by monkeypatches that must hold while the core is built and elaborated.

    ``serial``: the fault is in the serial readout; refuse a design without it.
    """
    def make(design: Design):
        if serial and not design.params.serial:
            raise ValueError("this fault is in the serial readout: it needs a design with readout_mode='serial'")
        with patched(*changes):
            return _core(design), changes
    return make


def _plain(build: Callable[[Design], ReservoirCore]) -> Callable[[Design], tuple[ReservoirCore, tuple]]:
    return lambda design: (build(design), ())


FAULTS: dict[str, tuple[str, Callable[[Design], tuple[ReservoirCore, tuple]]]] = {
    "cell_rounding": ("cell array rshr floors instead of rounding",
                      _patching((memres.hdl.cell_array, "rshr", _floor_shift),
                                (memres.hdl.cell_array, "rshr_constant", _floor_constant))),
    "cell_rounding_tie": ("cell array rshr rounds up from one LSB below the half (a rounding tie)",
                          _patching((memres.hdl.cell_array, "rshr", _tie_shift),
                                    (memres.hdl.cell_array, "rshr_constant", _tie_constant))),
    "pulse_rounding": ("pulse-code rshr floors instead of rounding",
                       _patching((memres.hdl.projection, "rshr", _floor_shift))),
    "decay_lsb": ("decay factor r[N/2] one LSB off", _plain(_decay_lsb)),
    "g0_lsb": ("resting state g0 one LSB off", _plain(_g0_lsb)),
    "mask_sign": ("mask[0, 0, 0] sign flipped", _plain(_mask_sign)),
    "swapped_weight": ("W[0, 0] and W[j, 0] swapped", _plain(_swapped_weight)),
    "valid_not_held": ("results.valid not held while results.ready is low",
                       _patching((memres.hdl.top, "Classifier", _ClassifierDropsResults))),
    "stall_ignored": ("cell array ignores the readout's stall",
                      _patching((memres.hdl.top, "CellArray", _CellArrayIgnoresStall))),
    "input_stall_ignored": ("frames.ready high while the projection is busy",
                            _patching((memres.hdl.top, "InputProjection", _ProjectionIgnoresBusy))),
    "load_dropped": ("load beats acknowledged but not written",
                     _patching((memres.hdl.top, "ReadoutCrossbar", _wrapping(_ReadoutDropsLoads, ReadoutCrossbar)),
                               (memres.hdl.top, "SerialReadoutCrossbar",
                                _wrapping(_ReadoutDropsLoads, SerialReadoutCrossbar)))),
    "stray_load_written": ("load beats addressed outside the readout written inside it",
                           _patching((memres.hdl.top, "ReadoutCrossbar",
                                      _wrapping(_ReadoutWritesStrayLoads, ReadoutCrossbar)),
                                     (memres.hdl.top, "SerialReadoutCrossbar",
                                      _wrapping(_ReadoutWritesStrayLoads, SerialReadoutCrossbar)))),
    "serial_weight_layout": ("serial weight memory k-major instead of row * K + k",
                             _patching((memres.hdl.params.CoreParams, "weight_words", _k_major_weight_words), serial=True)),
    "reset_ignored": ("input projection ignores rst",
                      _patching((memres.hdl.top, "InputProjection", _ProjectionIgnoresReset))),
    "serial_stall_ignored": ("serial readout drops a y[k] the classifier does not take",
                             _patching((memres.hdl.top, "SerialReadoutCrossbar",
                                        _wrapping(_ReadoutIgnoresStall, SerialReadoutCrossbar)), serial=True)),
}


def fault_verilog(design: Design, fault: str, path: str | Path) -> Path:
    """Write the Verilog of ``design`` with ``fault`` (a key of :data:`FAULTS`) to ``path``.

    Monkeypatches are in place while the core is built and converted (Amaranth
    elaborates during conversion) and undone before return.
    """
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    core, changes = FAULTS[fault][1](design)
    with patched(*changes):
        text = to_verilog(core)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
