"""Classifier: per-sequence sums of the readout, running and final argmax decision."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import clamp
from .params import CoreParams

__all__ = ["Classifier", "argmax"]


def argmax(values: list, index_bits: int):
    """Index of the largest value, the lowest index among equals (a comparison tree).

    Returns ``(index, value)`` expressions. In each comparison the left operand
    holds only lower indices than the right one, and the right one wins only
    when strictly larger, so ties go to the lowest index.
    """
    nodes = [(Const(i, index_bits), v) for i, v in enumerate(values)]
    while len(nodes) > 1:
        nxt = []
        for pos in range(0, len(nodes), 2):
            if pos + 1 == len(nodes):
                nxt.append(nodes[pos])
                continue
            (ia, va), (ib, vb) = nodes[pos], nodes[pos + 1]
            right = vb > va
            nxt.append((Mux(right, ib, ia), Mux(right, vb, va)))
        nodes = nxt
    return nodes[0]


class Classifier(wiring.Component):
    """``Y[k] = clamp(Y[k] + y[k], -Y_lim, Y_lim)`` per sequence; decision = argmax Y after each frame.

    ``Y`` restarts at 0 with a frame flagged ``first``. The decision after a
    frame is the smallest ``k`` with the largest ``Y[k]``; after the frame
    flagged ``last`` it is the sequence decision.

    Pipeline (stall on ``o.valid & ~o.ready``): accept (``Y`` updated) |
    argmax of ``Y`` -> output. ``Y`` cannot change while the frame that made
    it waits, because the next frame is accepted only when that frame moves on.

    Parameters
    ----------
    params : CoreParams

    Attributes
    ----------
    i : In(stream.Signature(params.frame_sum_layout))
    o : Out(stream.Signature(params.result_layout))
    """

    #: Clocks from accepting a frame's sums to its result being valid at ``o``.
    LATENCY = 2

    def __init__(self, params: CoreParams):
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {params!r}")
        self._p = params
        super().__init__({
            "i": In(stream.Signature(params.frame_sum_layout)),
            "o": Out(stream.Signature(params.result_layout)),
        })

    @property
    def latency(self) -> int:
        return self.LATENCY

    def elaborate(self, platform):
        p = self._p
        lim = p.seq_limit
        m = Module()

        seq = [Signal(signed(p.widths.seq_acc), name=f"seq_sum{k}") for k in range(p.n_outputs)]
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        s1_valid = Signal()
        s1 = Signal(p.frame_sum_layout)
        with m.If(advance):
            m.d.sync += [s1_valid.eq(self.i.valid), s1.eq(self.i.p)]
            with m.If(self.i.valid):
                for k in range(p.n_outputs):
                    m.d.sync += seq[k].eq(clamp(Mux(self.i.p.first, 0, seq[k]) + self.i.p.y[k], -lim, lim))

        decision, _ = argmax(seq, p.decision_bits)
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(s1_valid),
                self.o.p.y.eq(s1.y),
                self.o.p.decision.eq(decision),
                self.o.p.last.eq(s1.last),
            ]
        return m
