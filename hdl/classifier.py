"""Classifier: per-sequence sums of the readout, running and final argmax decision."""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arith import clamp
from .checked import CoreBlock
from .params import CoreParams

__all__ = ["Classifier", "SerialClassifier"]


class Classifier(CoreBlock):
    """``Y[k] = clamp(Y[k] + y[k], -Y_lim, Y_lim)`` per sequence; decision = argmax Y after each frame.

    ``Y`` restarts at 0 with a frame flagged ``first``. The decision after a
    frame is the smallest ``k`` with the largest ``Y[k]``; after the frame
    flagged ``last`` it is the sequence decision.

    The outputs are handled one per clock: one adder, one clamp and one
    comparator instead of K of each (the sums are ``w_seq`` bits wide, about
    40), in a two-stage pipeline:

    * step ``k`` (stage A): ``Y[k] + y[k]`` (or ``y[k]`` on a ``first``
      frame) into a register;
    * stage B, one clock later: the clamp, the write of ``Y[k]`` and the
      running maximum, which ``Y[k]`` replaces only when strictly larger, so
      ties keep the lowest index. The comparison is made on the unclamped sum
      (``clamp(s) > best`` equals ``s > best and best < Y_lim``), in parallel
      with the clamp.

    The frame's sums are read from the input payload, which the stream rules
    keep stable until the beat is taken; it is taken at the last step, when
    the result register is free: the step writes ``y`` and ``last`` into it,
    and stage B adds the decision and sets ``valid`` a clock later (the
    register is empty meanwhile). So a frame takes ``K`` clocks here
    (at least 2: with ``K = 1`` a frame waits for the previous one's stage
    B), and its result is valid after the last step has passed the stages
    (:meth:`latency_of`, :meth:`interval_of`).

    The stages are :attr:`STAGES` (A, B). :class:`SerialClassifier`, for the
    serial readout, has the same signature and takes one ``y[k]`` per beat.

    Parameters
    ----------
    params : CoreParams

    Attributes
    ----------
    i : In(stream.Signature(params.frame_sum_layout))
    o : Out(stream.Signature(params.result_layout))
    """

    #: The pipeline stages a step passes through: A (the sum) and B (clamp, write, running maximum).
    STAGES = ("sum", "decide")
    #: From this many outputs on, step ``k`` selects the operands of step ``k + 1`` into registers (no
    #: latency added); fewer outputs select them in the step itself (the prefetch would read a ``Y``
    #: being written).
    PREFETCH_OUTPUTS = 3

    def __init__(self, params: CoreParams):
        self._p = params
        super().__init__({
            "i": In(stream.Signature(self.input_layout(params))),
            "o": Out(stream.Signature(params.result_layout)),
        })

    @classmethod
    def input_layout(cls, params: CoreParams):
        """One frame's K sums per beat."""
        return params.frame_sum_layout

    @classmethod
    def latency_of(cls, params: CoreParams) -> int:
        """Clocks from a frame's sums becoming valid at ``i`` to its result being valid at ``o``.

        The K steps take one clock each, the last one then passes through the stages.
        """
        return params.n_outputs - 1 + len(cls.STAGES)

    @classmethod
    def interval_of(cls, params: CoreParams) -> int:
        """At most one frame per this many clocks: K steps, and a frame's last step waits while the
        previous frame's last step is still in the stages."""
        return max(params.n_outputs, len(cls.STAGES))

    @property
    def latency(self) -> int:
        return self.latency_of(self._p)

    @property
    def interval(self) -> int:
        return self.interval_of(self._p)

    def elaborate(self, platform):
        p = self._p
        n_out, lim = p.n_outputs, p.seq_limit
        w_seq = p.widths.seq_acc
        m = Module()

        seq = Array(Signal(signed(w_seq), name=f"seq_sum{k}") for k in range(n_out))
        step = Signal(range(max(n_out, 2)))
        best_index = Signal(p.decision_bits)
        best_value = Signal(signed(w_seq))

        # --- stage A: step `step`, the unclamped sum
        b_valid = Signal()
        b_last = Signal()
        b_step = Signal.like(step)
        b_sum = Signal(signed(w_seq + 1))
        last_step = Signal()
        can_finish = Signal()
        m.d.comb += [
            last_step.eq(step == n_out - 1),
            # the result register is free this clock, and no result is waiting in stage B
            can_finish.eq((~self.o.valid | self.o.ready) & ~(b_valid & b_last)),
            self.i.ready.eq(last_step & can_finish),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += b_valid.eq(0)
        fire = Signal()
        m.d.comb += fire.eq(self.i.valid & (~last_step | can_finish))
        if n_out >= self.PREFETCH_OUTPUTS:
            # The operands of the next step are selected a step ahead into registers (seq_next: Y of the
            # step after this one, the next frame's Y[0] after the last; y_next: y[k + 1] of this frame),
            # so that the sum starts from registers, not from two K-way multiplexers (the FSDD default's
            # worst path on the ECP5 at one seed). Exact for K >= 3: the one write in flight (stage B,
            # the previous step k - 1) is never the prefetched Y[k + 1 mod K], and the next write (Y[k])
            # neither. Step 0 takes y[0] from the payload, which is new then.
            seq_next = Signal(signed(w_seq))
            y_next = Signal.like(self.i.p.y[0])
            nxt = Signal.like(step)
            m.d.comb += nxt.eq(Mux(last_step, 0, step + 1))
            seq_now = seq_next
            y_now = Mux(step == 0, self.i.p.y[0], y_next)
            with m.If(fire):
                m.d.sync += [seq_next.eq(seq[nxt]), y_next.eq(self.i.p.y[nxt])]
        else:
            nxt = Mux(last_step, 0, step + 1)
            seq_now, y_now = seq[step], self.i.p.y[step]
        with m.If(fire):
            m.d.sync += [
                b_valid.eq(1), b_last.eq(last_step), b_step.eq(step),
                b_sum.eq(Mux(self.i.p.first, 0, seq_now) + y_now),
                step.eq(nxt),
            ]
            with m.If(last_step):
                m.d.sync += [self.o.p.y.eq(self.i.p.y), self.o.p.last.eq(self.i.p.last)]

        # --- stage B: clamp, write back, running maximum; the decision after the last step
        # best_at_lim: best_value == lim, kept in a register of its own (b_sum >= lim is when the clamped
        # total is lim), so that `better` waits on one comparison, not on a 45-bit equality after it
        total = Signal(signed(w_seq))
        better = Signal()
        best_at_lim = Signal()
        m.d.comb += [
            total.eq(clamp(b_sum, -lim, lim)),
            better.eq((b_step == 0) | ((b_sum > best_value) & ~best_at_lim)),
        ]
        with m.If(b_valid):
            m.d.sync += [
                seq[b_step].eq(total),
                best_index.eq(Mux(better, b_step, best_index)),
                best_value.eq(Mux(better, total, best_value)),
                best_at_lim.eq(Mux(better, b_sum >= lim, best_at_lim)),
            ]
            with m.If(b_last):
                m.d.sync += [self.o.valid.eq(1), self.o.p.decision.eq(Mux(better, b_step, best_index))]
        return m


class SerialClassifier(Classifier):
    """The classifier of the serial readout: one ``y[k]`` per input beat; the signature of :class:`Classifier`.

    The K sums ``Y`` are a memory, read one clock ahead.

    * accept (step ``k``): ``y[k]`` into the result register's ``y[k]``,
      ``Y[k]`` read (synchronous read port);
    * stage A: ``Y[k] + y[k]`` (or ``y[k]`` on a ``first`` frame) into a
      register;
    * stage B: clamp, write ``Y[k]``, running maximum as in the parallel
      classifier; after step ``K - 1`` the result is valid.

    Every step writes into the result register, so a beat is accepted only
    while that register is free (empty, or being taken this clock) and no
    frame's last step is still in stage A or B. So the next frame's step
    ``k`` reads ``Y[k]`` at least one clock after this frame wrote it, and
    a frame takes at least ``K + 2`` clocks here.

    Attributes
    ----------
    i : In(stream.Signature(params.output_sum_layout))
    o : Out(stream.Signature(params.result_layout))
    """

    #: The stages a step passes through: accept (Y[k] read), A (the sum), B (clamp, write, maximum).
    STAGES = ("read", "sum", "decide")

    @classmethod
    def input_layout(cls, params: CoreParams):
        """One output ``y[k]`` per beat."""
        return params.output_sum_layout

    @classmethod
    def latency_of(cls, params: CoreParams) -> int:
        """Clocks from a frame's last output ``y[K-1]`` becoming valid at ``i`` to its result at ``o``."""
        return len(cls.STAGES)

    @classmethod
    def interval_of(cls, params: CoreParams) -> int:
        """A frame's K steps, then its last step must leave the stages before the next frame starts."""
        return params.n_outputs + len(cls.STAGES) - 1

    def elaborate(self, platform):
        p = self._p
        n_out, lim = p.n_outputs, p.seq_limit
        w_seq = p.widths.seq_acc
        m = Module()

        # depth at least 2: a depth-1 memory has a zero-width address, which Verilator refuses
        m.submodules.sums = sums = Memory(shape=signed(w_seq), depth=max(n_out, 2), init=[])
        sums_rd = sums.read_port()
        sums_wr = sums.write_port()
        step = Signal(range(max(n_out, 2)))
        last_step = Signal()
        best_index = Signal(p.decision_bits)
        best_value = Signal(signed(w_seq))

        a_valid, a_end, a_first = Signal(), Signal(), Signal()
        a_step = Signal.like(step)
        a_y = Signal(signed(p.widths.frame_acc))
        b_valid, b_end = Signal(), Signal()
        b_step = Signal.like(step)
        b_sum = Signal(signed(w_seq + 1))
        accept = Signal()
        m.d.comb += [
            last_step.eq(step == n_out - 1),
            self.i.ready.eq((~self.o.valid | self.o.ready) & ~(a_valid & a_end) & ~(b_valid & b_end)),
            accept.eq(self.i.valid & self.i.ready),
            sums_rd.addr.eq(step),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        # --- accept: y[k] into the result register, Y[k] read
        m.d.sync += a_valid.eq(accept)
        with m.If(accept):
            m.d.sync += [
                a_end.eq(last_step), a_step.eq(step), a_first.eq(self.i.p.first), a_y.eq(self.i.p.y),
                self.o.p.y[step].eq(self.i.p.y),
                step.eq(Mux(last_step, 0, step + 1)),
            ]
            with m.If(last_step):
                m.d.sync += self.o.p.last.eq(self.i.p.last)

        # --- stage A: the unclamped sum
        m.d.sync += [b_valid.eq(a_valid), b_end.eq(a_end), b_step.eq(a_step),
                     b_sum.eq(Mux(a_first, 0, sums_rd.data) + a_y)]

        # --- stage B: clamp, write back, running maximum; the decision after the last step
        # best_at_lim: best_value == lim in a register of its own, as in Classifier
        total = Signal(signed(w_seq))
        better = Signal()
        best_at_lim = Signal()
        m.d.comb += [
            total.eq(clamp(b_sum, -lim, lim)),
            better.eq((b_step == 0) | ((b_sum > best_value) & ~best_at_lim)),
            sums_wr.addr.eq(b_step), sums_wr.data.eq(total), sums_wr.en.eq(b_valid),
        ]
        with m.If(b_valid):
            m.d.sync += [
                best_index.eq(Mux(better, b_step, best_index)),
                best_value.eq(Mux(better, total, best_value)),
                best_at_lim.eq(Mux(better, b_sum >= lim, best_at_lim)),
            ]
            with m.If(b_end):
                m.d.sync += [self.o.valid.eq(1), self.o.p.decision.eq(Mux(better, b_step, best_index))]
        return m
