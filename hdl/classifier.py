"""Classifier: per-sequence sums of the readout, running and final argmax decision."""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import clamp
from .params import CoreParams

__all__ = ["Classifier"]


class Classifier(wiring.Component):
    """``Y[k] = clamp(Y[k] + y[k], -Y_lim, Y_lim)`` per sequence; decision = argmax Y after each frame.

    ``Y`` restarts at 0 with a frame flagged ``first``. The decision after a
    frame is the smallest ``k`` with the largest ``Y[k]``; after the frame
    flagged ``last`` it is the sequence decision.

    The outputs are handled one per clock: one adder, one clamp and one
    comparator instead of K of each (the sums are ``w_seq`` bits wide, about
    40). Step ``k`` updates ``Y[k]`` and the running maximum, which ``Y[k]``
    replaces only when strictly larger, so ties keep the lowest index. The
    frame's sums are read from the input payload, which the stream rules keep
    stable until the beat is taken; it is taken at the last step, when the
    result register is free. So a frame takes ``K`` clocks here, which is
    less than the clocks the cell array spends on it in all but tiny
    configurations (see :attr:`interval`).

    Parameters
    ----------
    params : CoreParams

    Attributes
    ----------
    i : In(stream.Signature(params.frame_sum_layout))
    o : Out(stream.Signature(params.result_layout))
    """

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
        """Clocks from a frame's sums becoming valid at ``i`` to its result being valid at ``o`` (= K)."""
        return self._p.n_outputs

    @property
    def interval(self) -> int:
        """Clocks per frame at most one frame per this many clocks (= K)."""
        return self._p.n_outputs

    def elaborate(self, platform):
        p = self._p
        n_out, lim = p.n_outputs, p.seq_limit
        m = Module()

        seq = Array(Signal(signed(p.widths.seq_acc), name=f"seq_sum{k}") for k in range(n_out))
        step = Signal(range(max(n_out, 2)))
        best_index = Signal(p.decision_bits)
        best_value = Signal(signed(p.widths.seq_acc))

        total = Signal(signed(p.widths.seq_acc))
        better = Signal()
        last_step = Signal()
        can_finish = Signal()
        m.d.comb += [
            total.eq(clamp(Mux(self.i.p.first, 0, seq[step]) + self.i.p.y[step], -lim, lim)),
            better.eq((step == 0) | (total > best_value)),
            last_step.eq(step == n_out - 1),
            can_finish.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(last_step & can_finish),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & (~last_step | can_finish)):
            m.d.sync += [
                seq[step].eq(total),
                best_index.eq(Mux(better, step, best_index)),
                best_value.eq(Mux(better, total, best_value)),
                step.eq(Mux(last_step, 0, step + 1)),
            ]
            with m.If(last_step):
                m.d.sync += [
                    self.o.valid.eq(1),
                    self.o.p.y.eq(self.i.p.y),
                    self.o.p.decision.eq(Mux(better, step, best_index)),
                    self.o.p.last.eq(self.i.p.last),
                ]
        return m
