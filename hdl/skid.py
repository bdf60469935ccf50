"""Skid buffer: a stream register slice that registers ``ready`` without adding latency."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Cuts the combinational ``ready`` path of a stream; a beat passes straight through when it is empty.

    One register (``full`` + a payload copy). ``i.ready`` is ``~full``, a
    register, so the stall of everything downstream no longer reaches the
    upstream block in the same clock. While empty, ``o`` shows ``i`` as it is
    (no extra clock); a beat offered at ``i`` while ``o.ready`` is low is
    taken into the register, and ``o`` shows the register until it is taken.
    Together with the upstream block's output register this is the standard
    two-entry skid buffer: the upstream block stalls one clock after the
    downstream one, with its beat held in the buffer.

    Parameters
    ----------
    layout : the payload layout of the stream

    Attributes
    ----------
    i : In(stream.Signature(layout))
    o : Out(stream.Signature(layout))
    """

    def __init__(self, layout):
        self._layout = layout
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        held = Signal(self._layout)
        m.d.comb += [
            self.i.ready.eq(~full),
            self.o.valid.eq(full | self.i.valid),
            self.o.payload.eq(Mux(full, held, self.i.payload)),
        ]
        with m.If(full):
            with m.If(self.o.ready):
                m.d.sync += full.eq(0)
        with m.Elif(self.i.valid & ~self.o.ready):
            m.d.sync += [full.eq(1), held.eq(self.i.payload)]
        return m
