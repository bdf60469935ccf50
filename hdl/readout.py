"""Readout crossbar: K integer weighted sums of the features of a frame, plus bias."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arith import clamp, const_mul, tree_sum
from .checked import CoreBlock
from .cell_array import CellArray
from .multiplier import ECP5_DSPS, RegisteredMultiplier
from .params import CoreParams, HardwareParamError
from .pipeline import beat_stages
from .spram import Spram

__all__ = ["ReadoutCrossbar", "SerialReadoutCrossbar", "check_readout"]


def check_readout(params: CoreParams, weights, biases) -> tuple[np.ndarray, np.ndarray]:
    """Integer weights (F_tot, K) and biases (K,) as int64 arrays, checked against the contract ranges.

    Raises
    ------
    HardwareParamError
        On a wrong shape, ``|W| > 2^(B_w-1) - 1`` or ``|b| > b_lim``.
    """
    w = np.asarray(weights)
    b = np.asarray(biases)
    if w.shape != (params.n_features, params.n_outputs):
        raise HardwareParamError(f"readout weights have shape {w.shape}; this reservoir needs "
                                 f"({params.n_features}, {params.n_outputs}) (features x outputs)")
    if b.shape != (params.n_outputs,):
        raise HardwareParamError(f"readout biases have shape {b.shape}; expected ({params.n_outputs},)")
    for name, arr in (("weights", w), ("biases", b)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer) and not np.all(arr == np.round(arr)):
            raise HardwareParamError(f"readout {name} must be integers (an IntReadout), not {arr.dtype} values")
    w = w.astype(np.int64)
    b = b.astype(np.int64)
    if w.size and int(np.abs(w).max()) > params.weight_max:
        raise HardwareParamError(f"a readout weight is {int(np.abs(w).max())} in magnitude; "
                                 f"weight_bits={params.k.fx.weight_bits} allows at most {params.weight_max}")
    if b.size and int(np.abs(b).max()) > params.bias_max:
        raise HardwareParamError(f"a readout bias is {int(np.abs(b).max())} in magnitude; "
                                 f"the contract allows at most b_lim = {params.bias_max}")
    return w, b


class _LoadWrite:
    """A ``load`` beat taken when ``take``, held in registers: the weight or bias memory is written from
    them the clock after (``pending``), so the load's address arithmetic stays out of the write enable.

    ``addr``: the weight memory address of the beat, from its fields and ``slot``; ``k_ok``: a test of
    ``k`` (the serial readout refuses an output index beyond K).
    """

    def __init__(self, m, p: CoreParams, ld, take, addr_shape, addr_of, k_ok=None):
        slot = ld.device >> p.lane_bits
        weight_ok = (ld.node < p.passes) & (ld.device < p.n_devices)
        bias_ok = ld.bias
        if k_ok is not None:
            weight_ok, bias_ok = weight_ok & k_ok, bias_ok & k_ok
        self.pending, self.bias, self.weight = Signal(), Signal(), Signal()
        self.k, self.lane = Signal.like(ld.k), Signal.like(ld.device)
        self.value, self.addr = Signal.like(ld.value), Signal(addr_shape)
        m.d.sync += self.pending.eq(take)
        with m.If(take):
            m.d.sync += [
                self.bias.eq(bias_ok), self.weight.eq(~ld.bias & weight_ok), self.k.eq(ld.k),
                self.lane.eq(ld.device & (p.lanes - 1)), self.value.eq(ld.value),
                self.addr.eq(addr_of(ld, slot)),     # shifts and adds, not a DSP
            ]


class _Crossbar(CoreBlock):
    """What both readout crossbars share: the checked readout and the signature (``i``, ``o``, ``load``)."""

    @classmethod
    def check(cls, params: CoreParams, weights, biases) -> None:
        """Refuse what :func:`check_readout` refuses (before the crossbar exists)."""
        super().check(params)
        check_readout(params, weights, biases)

    def __init__(self, params: CoreParams, weights, biases, output_layout):
        self._p = params
        self._w, self._b = check_readout(params, weights, biases)
        super().__init__({
            "i": In(stream.Signature(params.feature_layout)),
            "o": Out(stream.Signature(output_layout)),
            "load": In(stream.Signature(params.load_layout)),
        })

    @property
    def latency(self) -> int:
        return self.latency_of(self._p)

    @property
    def beat_clocks(self) -> int:
        return self.beat_clocks_of(self._p)


class ReadoutCrossbar(_Crossbar):
    """``y[k] = b[k] + sum_j W[j, k] x[j]`` per frame, ``lanes x K`` multipliers (the parallel readout).

    The weights of one beat (``lanes x K``) are one row of a ``rows``-deep
    memory, so the beat's features and weights meet after one synchronous
    read. Padding lanes and beats without features hold weight 0 (and their
    features are 0 too).

    Run-time load (``load``): one beat writes one weight ``W[j, k]`` with
    ``j`` given as (``node``, ``device``), ``j = node N + device`` (``node = ML``
    for the state features), or with ``bias = 1`` the bias ``b[k]``. Values
    are saturated to the contract ranges (``|W| <= 2^(B_w-1)-1``,
    ``|b| <= b_lim``) so no accumulator can overflow; addresses outside the
    readout are ignored. Loads are accepted only between frames (no frame
    entered and none in the pipeline) and a pending load holds off the next
    frame, so every frame is summed with one consistent readout.

    Weights and biases live in memories (initialised with the baked readout,
    not changed by reset, so loaded values survive a reset); the biases are
    one word of ``K`` values, read all at once.

    Pipeline (one global stall, held only by a finished frame that cannot
    leave), the stages of :attr:`STAGES`: accept (weights read) -> beat
    registered | weight row registered (fabric) | multiplier operands | products | products registered
    (fabric) | sums of groups of
    :attr:`LANE_GROUP` lanes | the group sums summed | the beat's sum accumulated -> output register. The latency (:meth:`latency_of`) is the number of stages.

    :class:`SerialReadoutCrossbar` has the same signature and computes one
    output per clock instead.

    Parameters
    ----------
    params : CoreParams
    weights : array (F_tot, K) of int
    biases : array (K,) of int

    Attributes
    ----------
    i : In(stream.Signature(params.feature_layout))
    o : Out(stream.Signature(params.frame_sum_layout))
        One beat per frame: its K sums.
    load : In(stream.Signature(params.load_layout))
    """

    #: The register stages, in order, from the accepted beat to the output register ``o``.
    STAGES = ("read", "weights", "operands", "products", "fabric_products", "lane_sum", "beat_sum",
              "accumulate")

    #: Lanes summed together in the "lane_sum" stage (per output; the group sums are added to the
    #: accumulator in the "accumulate" stage).
    LANE_GROUP = 4

    def __init__(self, params: CoreParams, weights, biases):
        super().__init__(params, weights, biases, params.frame_sum_layout)

    @classmethod
    def latency_of(cls, params: CoreParams) -> int:
        """Clocks from accepting a frame's last beat to its sums being valid at ``o``: one per stage."""
        return len(cls.STAGES)

    @classmethod
    def beat_clocks_of(cls, params: CoreParams) -> int:
        """Clocks the crossbar spends on one beat."""
        return 1

    def elaborate(self, platform):
        p = self._p
        lanes, n_out = p.lanes, p.n_outputs
        m = Module()

        m.submodules.weights = weights = Memory(
            shape=data.ArrayLayout(signed(p.k.fx.weight_bits), lanes * n_out), depth=p.rows,
            init=p.weight_rows(self._w))
        w_rd = weights.read_port()
        w_wr = weights.write_port(granularity=1)
        # The biases: one memory word (all K read at once, one written per load beat). As a memory its
        # initial value is an `initial` block that every simulator applies (a reset-less register's
        # declaration initialiser is not seen by Icarus' `always @*` blocks at time 0), and like the
        # weights it keeps loaded values through reset. Depth 2 (word 1 unused, removed by synthesis)
        # because a depth-1 memory has a zero-width address, which Verilator refuses ([-1:0]).
        m.submodules.biases = biases = Memory(
            shape=data.ArrayLayout(signed(p.widths.bias), n_out), depth=2, init=[[int(v) for v in self._b]])
        bias_rd = biases.read_port(domain="comb")
        bias_wr = biases.write_port(granularity=1)
        bias = [bias_rd.data[kk] for kk in range(n_out)]

        # --- load port. A load beat is registered when accepted and written one clock later (its
        # value clamped after the register): the path from the link's frame register through the
        # WriteAdapter into the clamp and the memory write was the slowest of the ECP5 design. A
        # frame is not accepted while a write is pending, so it reads the weights written.
        in_frame = Signal()
        busy = Signal()         # a beat in one of the stages before the output
        m.d.comb += self.load.ready.eq(~in_frame & ~busy)
        wr = _LoadWrite(m, p, self.load.p, self.load.valid & self.load.ready, w_wr.addr.shape(),
                        lambda ld, slot: const_mul(ld.node, p.slots) + slot)
        wr_pending, wr_bias, wr_weight, wr_k, wr_lane, wr_value, wr_addr = \
            wr.pending, wr.bias, wr.weight, wr.k, wr.lane, wr.value, wr.addr
        m.d.comb += w_wr.addr.eq(wr_addr)
        weight_value = clamp(wr_value, -p.weight_max, p.weight_max)
        for j in range(lanes * n_out):
            m.d.comb += w_wr.data[j].eq(weight_value)
        with m.If(wr_pending & wr_weight):
            for ln in range(lanes):
                for kk in range(n_out):
                    m.d.comb += w_wr.en[ln * n_out + kk].eq((wr_lane == ln) & (wr_k == kk))
        bias_value = clamp(wr_value, -p.bias_max, p.bias_max)
        m.d.comb += [bias_rd.addr.eq(0), bias_wr.addr.eq(0)]
        for kk in range(n_out):
            m.d.comb += [bias_wr.data[kk].eq(bias_value),
                         bias_wr.en[kk].eq(wr_pending & wr_bias & (wr_k == kk))]

        # --- accept: a frame may only start when no load is waiting
        advance = Signal()
        s2_valid = Signal()
        s2 = Signal(p.feature_layout)
        m.d.comb += [
            advance.eq(~(s2_valid & s2.frame_end & self.o.valid & ~self.o.ready)),
            self.i.ready.eq(advance & (in_frame | ~self.load.valid & ~wr_pending)),
            w_rd.en.eq(advance), w_rd.addr.eq(self.i.p.row),
        ]
        with m.If(self.i.valid & self.i.ready):
            with m.If(self.i.p.frame_end):
                m.d.sync += in_frame.eq(0)
            with m.Elif(self.i.p.frame_start):
                m.d.sync += in_frame.eq(1)

        # --- the stages but the last (the output register): the beat's valid bit and fields
        # (beat_stages), the data beside them
        st = beat_stages(m, advance, self.STAGES[:-1], self.i.valid & self.i.ready, self.i.p, p.feature_layout)
        m.d.comb += [busy.eq(Cat(v for v, _ in st.values()).any()),
                     s2_valid.eq(st[self.STAGES[-2]][0]), s2.eq(st[self.STAGES[-2]][1])]
        s1_x = Signal.like(self.i.p.x)
        with m.If(advance):
            m.d.sync += s1_x.eq(self.i.p.x)

        # weights: the weight row (a block RAM's output, slow) and the features into fabric registers;
        # operands: from there into the multipliers' operand registers; products: the products into
        # theirs. On an ECP5 the multipliers are MULT18X18D blocks while blocks are left after the cell
        # array's (hdl/multiplier.py), in fixed columns: the route from a block RAM's output straight
        # into a DSP block's operand register (12.98 ns, 5.83 of it the RAM's clock-to-output) was the
        # FSDD core's slowest path.
        s2_w = Signal.like(w_rd.data)
        s2_x = Signal.like(self.i.p.x)
        with m.If(advance):
            m.d.sync += [s2_w.eq(w_rd.data), s2_x.eq(s1_x)]
        prod_w = p.k.fx.weight_bits + p.widths.feature
        s2_prod = Signal(data.ArrayLayout(signed(prod_w), lanes * n_out))
        for ln in range(lanes):
            for kk in range(n_out):
                j = ln * n_out + kk
                on_dsp = CellArray.MULTIPLIERS_PER_LANE * lanes + j < ECP5_DSPS
                m.submodules[f"mul{j}"] = mul = RegisteredMultiplier(self.i.p.x[ln].shape(), w_rd.data[j].shape(),
                                                                     dsp=on_dsp)
                m.d.comb += [mul.en.eq(advance), mul.a.eq(s2_x[ln]), mul.b.eq(s2_w[j]),
                             s2_prod[j].eq(mul.p)]

        # --- lane sums: per output, the products of groups of LANE_GROUP lanes summed into registers (the
        # DSP blocks sit in fixed columns, far from the adders: the route from their output registers
        # and a whole lane sum with the accumulator add did not fit one 100 MHz clock at 16 lanes)
        groups = [range(g, min(g + self.LANE_GROUP, lanes)) for g in range(0, lanes, self.LANE_GROUP)]
        group_w = prod_w + (min(self.LANE_GROUP, lanes) - 1).bit_length()
        s3_sum = [[Signal(signed(group_w), name=f"lane_sum{kk}_{gi}") for gi in range(len(groups))]
                  for kk in range(n_out)]
        # fabric_products: the products (DSP output registers, in the DSP columns) into fabric registers
        # first: the route from a DSP column across the die into the lane sum's adders (5.78 ns of a
        # 10.43 ns path) was the FSDD default's worst path at one seed
        s2_prod_f = Signal.like(s2_prod)
        with m.If(advance):
            m.d.sync += s2_prod_f.eq(s2_prod)
            for kk in range(n_out):
                for gi, group in enumerate(groups):
                    m.d.sync += s3_sum[kk][gi].eq(tree_sum([s2_prod_f[ln * n_out + kk] for ln in group]))

        # --- beat sum: per output, the group sums summed into a register, so that the accumulator's clock
        # has one adder (at 16 lanes the four group sums and the accumulator add, after the bias
        # multiplexer, were the regression reservoir's worst path on the ECP5)
        s4_sum = [Signal(signed(group_w + (len(groups) - 1).bit_length()), name=f"beat_sum{kk}")
                  for kk in range(n_out)]
        with m.If(advance):
            m.d.sync += [s4_sum[kk].eq(tree_sum(s3_sum[kk])) for kk in range(n_out)]

        # --- accumulate; the sum of the frame's last beat goes to the output
        acc = [Signal(signed(p.widths.frame_acc), name=f"acc{kk}") for kk in range(n_out)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(advance & s2_valid):
            for kk in range(n_out):
                base = Mux(s2.frame_start, bias[kk], acc[kk])
                total = base + s4_sum[kk]
                with m.If(s2.frame_end):
                    m.d.sync += self.o.p.y[kk].eq(total)
                with m.Else():
                    m.d.sync += acc[kk].eq(total)
            with m.If(s2.frame_end):
                m.d.sync += [self.o.valid.eq(1), self.o.p.first.eq(s2.seq_first), self.o.p.last.eq(s2.seq_last)]
        return m


class SerialReadoutCrossbar(_Crossbar):
    """The readout with ``lanes`` multipliers, one output per clock; the signature of :class:`ReadoutCrossbar`.

    A beat's features times ``W[row, k]`` for ``k = 0 .. K-1`` over K clocks:
    one adder, the weights in a ``rows x K`` deep memory, the K accumulators
    and biases in a small memory, and ``o`` carrying one ``y[k]`` per beat
    (``params.output_sum_layout``, K beats per frame, ``k`` in order). Same
    results as :class:`ReadoutCrossbar`, bit for bit.

    Stages (:attr:`STAGES`; the latency, :meth:`latency_of`, is their number):

    * issue (step ``k`` of the beat at ``i``): weight word ``row * K + k``
      read; the beat is taken at its last step (``i.ready`` only then), so
      its payload is read from the stream, which keeps it stable meanwhile;
    * stage 1: ``lanes`` products; accumulator ``k`` read (the bias ``b[k]``,
      word ``K + k`` of the same memory, on the first beat of a frame);
    * stage 2: ``acc + lane sum``: written back to accumulator ``k``, or on
      the frame's last beat put into the output register as ``y[k]``.

    Accumulator ``k`` is read in stage 1 and written in stage 2, one clock
    later; the next beat's step ``k`` reads it K clocks after this read,
    ``K - 1`` after the write: with ``K = 1`` in the clock of the write,
    so then the read port is transparent to the write port.
    One global stall as in the parallel crossbar (a ``y[k]`` that meets a
    full, untaken output register). Loads: as in the parallel crossbar;
    the accumulator memory's write port writes the bias (``K + k``).

    Parameters
    ----------
    params : CoreParams
    weights : array (F_tot, K) of int
    biases : array (K,) of int

    Attributes
    ----------
    i : In(stream.Signature(params.feature_layout))
    o : Out(stream.Signature(params.output_sum_layout))
        One beat per output ``y[k]`` of a frame.
    load : In(stream.Signature(params.load_layout))
    """

    #: The register stages, in order, from the issued step to the output register ``o``.
    STAGES = ("issue", "products", "accumulate")

    def __init__(self, params: CoreParams, weights, biases):
        super().__init__(params, weights, biases, params.output_sum_layout)

    @classmethod
    def latency_of(cls, params: CoreParams) -> int:
        """Clocks from issuing the last step of a frame's last beat to its ``y[K-1]`` being valid at ``o``."""
        return len(cls.STAGES)

    @classmethod
    def beat_clocks_of(cls, params: CoreParams) -> int:
        """Clocks the crossbar spends on one beat: K, one per output."""
        return params.n_outputs

    def elaborate(self, platform):
        p = self._p
        lanes, n_out = p.lanes, p.n_outputs
        m = Module()

        w_layout = data.ArrayLayout(signed(p.k.fx.weight_bits), lanes)
        if p.weight_ram == "block":
            m.submodules.weights = weights = Memory(shape=w_layout, depth=p.rows * n_out,
                                                    init=p.weight_words(self._w))
            w_rd = weights.read_port()
            w_wr = weights.write_port(granularity=1)
        else:
            # SPRAM (iCE40): one read or write per clock, registered read (its STAGES: one clock, as
            # the block RAM's read port, so the "issue" stage covers it). No initial contents: the
            # weights arrive through `load` (WEIGHT_WRITE) after start-up; a write only happens
            # between frames, when no read is wanted.
            m.submodules.weights = spram = Spram(w_layout.size, max(p.rows * n_out, 2),
                                                 granularity=p.k.fx.weight_bits,
                                                 primitive=p.weight_ram == "spram")
            assert len(Spram.STAGES) == 1     # the weight word arrives at "products", as from a block RAM
            w_rd = Signal(data.StructLayout({"addr": len(spram.addr), "en": 1, "data": w_layout}))
            w_wr = Signal(data.StructLayout({"addr": len(spram.addr), "data": w_layout, "en": lanes}))
            m.d.comb += [spram.addr.eq(Mux(w_wr.en.any(), w_wr.addr, w_rd.addr)), spram.en.eq(w_rd.en),
                         spram.we.eq(w_wr.en), spram.wdata.eq(w_wr.data), w_rd.data.eq(spram.rdata)]
        # Words 0 .. K-1: the frame accumulators; K .. 2K-1: the biases (kept through reset, as memory).
        m.submodules.acc = acc = Memory(
            shape=signed(p.widths.frame_acc), depth=2 * n_out, init=[0] * n_out + [int(v) for v in self._b])
        acc_wr = acc.write_port()
        acc_rd = acc.read_port(transparent_for=(acc_wr,) if n_out < 2 else ())

        step = Signal(range(max(n_out, 2)))
        last_step = Signal()
        in_frame = Signal()
        advance = Signal()
        issue = Signal()
        s1_k = Signal.like(step)
        s1_x = Signal.like(self.i.p.x)
        s2_k = Signal.like(step)

        # --- the stages but the last (the output register): the beat's valid bit and fields
        st = beat_stages(m, advance, self.STAGES[:-1], issue, self.i.p, p.feature_layout)
        (s1_valid, s1), (s2_valid, s2) = (st[name] for name in self.STAGES[:-1])

        # --- load port: only between frames, with the pipeline empty and no beat started. A load beat
        # is registered when accepted and written one clock later (its value clamped after the
        # register), as in the parallel crossbar: the path from the WriteAdapter through the address
        # arithmetic into the SPRAM's write enable was the iCE40 board's slowest. No step is issued
        # while a write is pending, so the weight memory's one port is free for it.
        load_now = Signal()
        m.d.comb += [
            self.load.ready.eq(~in_frame & (step == 0) & ~s1_valid & ~s2_valid),
            load_now.eq(self.load.valid & self.load.ready),
        ]
        wr = _LoadWrite(m, p, self.load.p, load_now, w_wr.addr.shape(),
                        lambda ld, slot: const_mul(const_mul(ld.node, p.slots) + slot, n_out) + ld.k,
                        k_ok=self.load.p.k < n_out)
        wr_pending, wr_bias, wr_weight, wr_k, wr_lane, wr_value, wr_addr = \
            wr.pending, wr.bias, wr.weight, wr.k, wr.lane, wr.value, wr.addr
        m.d.comb += w_wr.addr.eq(wr_addr)
        weight_value = clamp(wr_value, -p.weight_max, p.weight_max)
        for ln in range(lanes):
            m.d.comb += [w_wr.data[ln].eq(weight_value),
                         w_wr.en[ln].eq(wr_pending & wr_weight & (wr_lane == ln))]

        # --- issue: step `step` of the beat at `i`; a frame's first step waits while a load is offered
        # or being written
        m.d.comb += [
            last_step.eq(step == n_out - 1),
            advance.eq(~(s2_valid & s2.frame_end & self.o.valid & ~self.o.ready)),
            issue.eq(self.i.valid & advance & ~wr_pending & (in_frame | (step != 0) | ~self.load.valid)),
            self.i.ready.eq(advance & ~wr_pending & last_step & (in_frame | (step != 0) | ~self.load.valid)),
            w_rd.en.eq(advance), w_rd.addr.eq(const_mul(self.i.p.row, n_out) + step),
        ]
        with m.If(issue):
            m.d.sync += step.eq(Mux(last_step, 0, step + 1))
        with m.If(self.i.valid & self.i.ready):
            with m.If(self.i.p.frame_end):
                m.d.sync += in_frame.eq(0)
            with m.Elif(self.i.p.frame_start):
                m.d.sync += in_frame.eq(1)

        # --- issue registered: products; accumulator (or bias) read
        with m.If(advance):
            m.d.sync += [s1_x.eq(self.i.p.x), s1_k.eq(step)]
        m.d.comb += [acc_rd.en.eq(advance), acc_rd.addr.eq(Mux(s1.frame_start, n_out + s1_k, s1_k))]
        prod_w = p.k.fx.weight_bits + p.widths.feature
        s2_prod = Signal(data.ArrayLayout(signed(prod_w), lanes))
        with m.If(advance):
            m.d.sync += s2_k.eq(s1_k)
            for ln in range(lanes):
                m.d.sync += s2_prod[ln].eq(s1_x[ln] * w_rd.data[ln])

        # --- accumulate, into the output register; on the frame's last beat y[k] goes to the output register
        total = Signal(signed(p.widths.frame_acc))
        m.d.comb += total.eq(acc_rd.data + tree_sum([s2_prod[ln] for ln in range(lanes)]))
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        bias_value = clamp(wr_value, -p.bias_max, p.bias_max)
        with m.If(wr_pending):
            m.d.comb += [acc_wr.addr.eq(n_out + wr_k), acc_wr.data.eq(bias_value), acc_wr.en.eq(wr_bias)]
        with m.Else():
            m.d.comb += [acc_wr.addr.eq(s2_k), acc_wr.data.eq(total),
                         acc_wr.en.eq(advance & s2_valid & ~s2.frame_end)]
        with m.If(advance & s2_valid & s2.frame_end):
            m.d.sync += [self.o.valid.eq(1), self.o.p.y.eq(total),
                         self.o.p.first.eq(s2.seq_first), self.o.p.last.eq(s2.seq_last)]
        return m
