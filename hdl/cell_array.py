"""Decaying cell array: N emulated devices, ``lanes`` of them updated per clock (contract steps 3-6)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arith import const_mul, rshr, rshr_constant
from .checked import CoreBlock
from .multiplier import RegisteredMultiplier
from .params import CoreParams
from .pipeline import beat_stages, pass_beat

__all__ = ["CellArray"]


class CellArray(CoreBlock):
    """Device states, pulse update through the A/H/F tables, saturation and read current.

    Per beat and lane, from the state ``g`` before the pulse (``g0`` on the
    first pass of a sequence's first frame)::

        decay = g0 + rshr(r[n] (g - g0), B_r)
        move  = rshr(A[q] (H[q] g_max - g), B_l)
        g'    = clamp(decay + move, 0, g_max)          -> written back (sides that can act only)
        i     = rshr(g' F[q], B_g + B_l - B_i)          -> feature

    On the end pass (``node == ML``) the feature is the state feature
    ``g >> (B_g - B_i)`` of the state after the last pulse (or 0 without
    state features), and with an idle gap the state written back is
    ``g0 + rshr(r_idle[n] (g - g0), B_r)`` (``move`` is 0; the clamp cannot
    act there). Padding lanes give feature 0.

    The states of one slot of all lanes are one row of a ``slots``-deep
    memory. A state is read into the "read" stage (:attr:`STATE_READ_STAGE`)
    and written ``params.state_loop`` beats later (:meth:`write_stage_of`); the read port
    is transparent, so a pass of that many slots already sees the value
    written by the previous pass: 4 beats (``DIRECT_WRITE_SLOTS``, the write
    straight from the terms' sum and clamp), or 5 where a pass has at least 5
    used slots (``params.state_write_registered``: the write from the new
    state's register). The state loop itself is ``MIN_SLOTS = 3`` beats: in a
    pass of 3 slots (``params.state_forwarded``) the beat right behind an
    update takes its state from the terms' sum, through a multiplexer in
    front of the multipliers' operand registers, instead of the memory.

    The multipliers take the state ``g`` itself (no adder before the DSP
    blocks): ``r (g - g0)`` and ``A (H g_max - g)`` are ``r g`` and ``-A g``
    plus constants made from ``r``, ``A`` and ``H`` beside the products.

    Pipeline (one global stall), the stages of :attr:`STAGES`: accept (decay
    factors and tables read) -> memory outputs | registered in the fabric,
    state read | multiplier operands | products | decay and move terms
    rounded (a fabric register), their sum and clamp: write back (4-beat
    loop), forwarded (3 slots) | new state registered, write back (5-beat
    loop) | current operands | current product -> output (combinational).
    The latency (:meth:`latency_of`) is the number of stages, the same for
    every loop.

    Parameters
    ----------
    params : CoreParams

    Attributes
    ----------
    i : In(stream.Signature(params.pulse_layout))
    o : Out(stream.Signature(params.feature_layout))
    trace : Out(stream.Signature(params.trace_entry_layout, always_ready=True)).array(params.lanes)
        Lane ``l``'s cell writes: ``trace[l].valid`` is high for one clock per
        cell written, when the beat leaves the block, and ``trace[l].payload``
        says what was written (device ``n``, pass ``m``, frame, new state
        ``g``, feature ``i``). One stream per lane, because the lanes write
        independently (a padding lane-slot writes nothing while the others
        of its beat do), which one ``valid`` for all lanes could not say;
        ``always_ready``, because a trace only reports and cannot stall the
        pipeline. Plain outputs: nothing else depends on them, so they cost
        no logic when left unconnected.
    """

    #: The register stages, in order, from the accepted beat to the one ``o`` shows.
    STAGES = ("tables", "read", "operands", "products", "terms", "new_state", "current_operands", "current")
    #: The stage whose register is the state memory's read register (the address is the beat of the stage
    #: before): the state loop counts from it.
    STATE_READ_STAGE = "read"
    #: RegisteredMultipliers per lane (decay, move, current): on an ECP5 each is a DSP block.
    MULTIPLIERS_PER_LANE = 3

    def __init__(self, params: CoreParams):
        self._p = params
        super().__init__({
            "i": In(stream.Signature(params.pulse_layout)),
            "o": Out(stream.Signature(params.feature_layout)),
            "trace": Out(stream.Signature(params.trace_entry_layout, always_ready=True)).array(params.lanes),
        })

    @classmethod
    def latency_of(cls, params: CoreParams) -> int:
        """Clocks from accepting a beat to its features being valid at ``o``: one per stage."""
        return len(cls.STAGES)

    @property
    def latency(self) -> int:
        return self.latency_of(self._p)

    @classmethod
    def write_stage_of(cls, params: CoreParams) -> str:
        """The stage whose beat writes its new state back: ``params.state_loop`` beats after the read.

        A state is read in the clock before its beat holds :attr:`STATE_READ_STAGE` (index ``r``), and the
        beat holds ``STAGES[r + i]`` ``i`` beats after that, so the write from ``STAGES[r + state_loop - 1]``
        is in the clock that reads the same slot of the next pass when ``slots == state_loop``, which the
        transparent read port sees: "terms" (the terms' sum and clamp, ``DIRECT_WRITE_SLOTS``), "new_state"
        (its register) when ``params.state_write_registered``. A pass of fewer slots (``MIN_SLOTS``,
        ``params.state_forwarded``) takes the state of the beat right behind from the sum instead.
        """
        return cls.STAGES[cls.STAGES.index(cls.STATE_READ_STAGE) + params.state_loop - 1]

    @staticmethod
    def table_layout(params: CoreParams) -> data.StructLayout:
        """One entry of the A/H/F table: ``a`` and ``f``, and ``h`` only when H is no step in q (``params.h_threshold``)."""
        h_field = {"h": 1} if params.h_threshold is None and params.h_acts else {}
        return data.StructLayout({"a": params.a_shape, **h_field, "f": params.f_shape})

    def elaborate(self, platform):
        p = self._p
        k, fx = p.k, p.k.fx
        lanes = p.lanes
        g0, g_max = int(k.g0), int(k.g_max)
        m = Module()

        # --- tables. H is left out of the table when it is a step in q (params.h_threshold, the
        # contract's case): a comparison of q, registered beside the table's read, gives it.
        h_threshold = p.h_threshold
        lut_layout = self.table_layout(p)
        lut_init = [{"a": int(a), "f": int(f), **({"h": int(h)} if h_threshold is None and p.h_acts else {})}
                    for a, h, f in zip(k.a_lut, k.h_lut, k.f_lut)]
        # One copy of the tables per two lanes: block RAMs have one (iCE40) or two (ECP5)
        # read ports, and Yosys maps a ROM with more read ports to logic.
        lut_rd = []
        for pair in range((lanes + 1) // 2):
            lut = Memory(shape=lut_layout, depth=len(k.a_lut), init=lut_init)
            m.submodules[f"lut{pair}"] = lut
            lut_rd += [lut.read_port() for _ in range(min(2, lanes - 2 * pair))]

        # Without an idle gap the end pass writes no state, so its decay and move can never act: the ROM
        # then holds r alone and the end pass's operands are left as they are.
        decay_fields = {"r": unsigned(fx.decay_bits)} | ({"r_idle": unsigned(fx.decay_bits)} if p.has_idle else {})
        decay_layout = data.ArrayLayout(data.StructLayout(decay_fields), lanes)
        decay_init = []
        for slot in range(p.slots):
            word = []
            for lane in range(lanes):
                n = p.device_of(slot, lane)
                word.append({name: 0 if n is None else int({"r": k.r, "r_idle": k.r_idle}[name][n])
                             for name in decay_fields})
            decay_init.append(word)
        m.submodules.decay_rom = decay_rom = Memory(shape=decay_layout, depth=p.slots, init=decay_init)
        decay_rd = decay_rom.read_port()

        state_layout = data.ArrayLayout(unsigned(fx.state_bits), lanes)
        m.submodules.state = state = Memory(shape=state_layout, depth=p.slots, init=[[g0] * lanes] * p.slots)
        state_wr = state.write_port()
        state_rd = state.read_port(transparent_for=(state_wr,))

        advance = Signal()
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
            decay_rd.en.eq(advance), decay_rd.addr.eq(self.i.p.slot),
        ]
        for lane in range(lanes):
            m.d.comb += [lut_rd[lane].en.eq(advance), lut_rd[lane].addr.eq(self.i.p.q[lane])]
        # --- the stages: the beat's valid bit and fields (beat_stages), the data beside them
        st = beat_stages(m, advance, self.STAGES, self.i.valid, self.i.p, p.pulse_layout)

        # --- tables: the table entries and decay factors read at accept (block RAM outputs) are
        # registered in the fabric before they go anywhere: a block RAM's clock-to-output is 5.8 ns
        # on the ECP5, and the route from it to a DSP block's operand register was the FSDD default's
        # worst path at one seed. The state is read in this clock (for the "read" stage), so the
        # state loop is as long as without this stage.
        _, s0 = st["tables"]
        m.d.comb += [state_rd.en.eq(advance), state_rd.addr.eq(s0.slot)]
        t_entry = Signal(data.ArrayLayout(lut_layout, lanes))
        t_decay = Signal(decay_layout)
        with m.If(advance):
            m.d.sync += [t_decay.eq(decay_rd.data), *(t_entry[lane].eq(lut_rd[lane].data) for lane in range(lanes))]
        # H[q] of each lane, beside the registered table entry (same enable, so it stalls with it): from
        # the table, or a comparison of the beat's q; none where A = 0 wherever H = 0 (not p.h_acts):
        # the move is then A (g_max - g) for every code
        lut_h = []
        for lane in range(lanes if p.h_acts else 0):
            if h_threshold is None:
                lut_h.append(t_entry[lane].h)
            else:
                h0, h = Signal(name=f"h_tables{lane}"), Signal(name=f"h{lane}")   # the stages carry no q
                with m.If(advance):
                    m.d.sync += [h0.eq(self.i.p.q[lane] >= h_threshold), h.eq(h0)]
                lut_h.append(h)

        # --- read: the state memory's output (its read register), the tables' registers. Only the
        # multipliers' operands are made after them. Whether the beat restarts from g0 (pass 0 of a
        # sequence's first frame) is registered beside the state read, and so is whether the state comes
        # instead from the terms' sum of the beat MIN_SLOTS ahead (params.state_forwarded: in a pass of 3
        # slots, the beat right behind a state's update is the next pass of the same slot, before the
        # memory holds it): the operand is one multiplexer away from registers.
        _, s1 = st["read"]
        s2_valid, s2 = st["products"]

        def writes_state(stage) -> Value:
            # A beat writes its new state back, except the end pass without an idle gap (it changes none).
            return (stage.node < p.n_virtual) | p.has_idle

        s1_end = Signal()
        s1_restart = Signal()
        s1_forward = Signal()
        s2_writes = Signal()
        m.d.comb += [s1_end.eq(s1.node >= p.n_virtual), s2_writes.eq(writes_state(s2))]
        with m.If(advance):
            m.d.sync += s1_restart.eq(s0.seq_first & (s0.node == 0))
            if p.state_forwarded:
                m.d.sync += s1_forward.eq(s2_valid & s2_writes & (s2.slot == s0.slot))

        # The state g goes into both multipliers as it is: the operands' offsets are taken out of the
        # products and added after them, from constants made beside the products, off the state loop
        # (exact integer identities, rshr's rounding constants folded in, from arith.rshr_constant):
        #   r (g - g0) + g0 2^B_r + 2^(B_r-1) = r g + c_r,   c_r = (g0 2^B_r + 2^(B_r-1)) - r g0
        #   A (H g_max - g) + 2^(B_l-1)        = c_a - A g,   c_a = H A g_max + 2^(B_l-1)
        # so decay = (r g + c_r) >> B_r and move = (c_a - A g) >> B_l. The "operands" and "products"
        # stages are the two registers of each RegisteredMultiplier (on an ECP5, those of its MULT18X18D);
        # the constants are made from the operands' copies in the fabric, registered at "products".
        round_r = rshr_constant(fx.decay_bits, offset=g0 << fx.decay_bits)     # g0 2^B_r + 2^(B_r-1)
        round_l = rshr_constant(fx.lut_bits)                                     # 2^(B_l-1)
        sm_g = Signal(state_layout)
        sm_f = Signal(data.ArrayLayout(p.f_shape, lanes))
        sm_r = Signal(data.ArrayLayout(unsigned(fx.decay_bits), lanes))
        sm_a = Signal(data.ArrayLayout(p.a_shape, lanes))
        sm_h = Signal(lanes)
        c_r_expr = [Const(round_r) - const_mul(sm_r[lane], g0) for lane in range(lanes)]
        c_a_expr = [(Mux(sm_h[lane], const_mul(sm_a[lane], g_max), 0) if p.h_acts else const_mul(sm_a[lane], g_max))
                    + round_l for lane in range(lanes)]
        s2_g = Signal(state_layout)
        s2_c_r = Signal(data.ArrayLayout(c_r_expr[0].shape(), lanes))
        s2_c_a = Signal(data.ArrayLayout(c_a_expr[0].shape(), lanes))
        s2_decay = Signal(data.ArrayLayout(signed(fx.decay_bits + fx.state_bits + 2), lanes))
        s2_move = Signal(data.ArrayLayout(signed(p.a_shape.width + fx.state_bits + 2), lanes))
        s2_f = Signal(data.ArrayLayout(p.f_shape, lanes))
        s25_new = Signal(state_layout)      # the terms' sum: the new state of the beat at "terms"
        for lane in range(lanes):
            g = Signal(unsigned(fx.state_bits), name=f"g_old{lane}")
            entry = t_entry[lane]
            g_read = Mux(s1_forward, s25_new[lane], state_rd.data[lane]) if p.state_forwarded else state_rd.data[lane]
            m.d.comb += g.eq(Mux(s1_restart, g0, g_read))
            m.submodules[f"mul_decay{lane}"] = mul_r = RegisteredMultiplier(unsigned(fx.decay_bits),
                                                                            unsigned(fx.state_bits))
            m.submodules[f"mul_move{lane}"] = mul_a = RegisteredMultiplier(p.a_shape, unsigned(fx.state_bits))
            r = Mux(s1_end, t_decay[lane].r_idle, t_decay[lane].r) if p.has_idle else t_decay[lane].r
            a = Mux(s1_end, 0, entry.a) if p.has_idle else entry.a      # no move on the end pass
            m.d.comb += [
                mul_r.en.eq(advance), mul_r.a.eq(r), mul_r.b.eq(g),
                mul_a.en.eq(advance), mul_a.a.eq(a), mul_a.b.eq(g),
                s2_decay[lane].eq(mul_r.p),
                s2_move[lane].eq(mul_a.p),
            ]
            with m.If(advance):
                m.d.sync += [sm_g[lane].eq(g), sm_f[lane].eq(entry.f), sm_r[lane].eq(r), sm_a[lane].eq(a),
                             s2_g[lane].eq(sm_g[lane]), s2_f[lane].eq(sm_f[lane]),
                             s2_c_r[lane].eq(c_r_expr[lane]), s2_c_a[lane].eq(c_a_expr[lane])]
                if p.h_acts:
                    m.d.sync += sm_h[lane].eq(lut_h[lane])

        # --- terms: the decay and move terms, rounded, in a register of the fabric, so the route from
        # the DSP blocks (fixed columns) has a clock of its own with one adder each.
        s25_valid, s25 = st["terms"]
        s25_writes = Signal()
        s25_g = Signal(state_layout)
        s25_f = Signal(data.ArrayLayout(p.f_shape, lanes))
        # Range analysis (`CoreParams.update_range`, exhaustive over every state and table entry):
        # a side of the clamp that the update can never reach is left out (for the FSDD default,
        # decay + move stays 59 LSB below g_max and above 0, so there is no clamp at all). Without a
        # clamp the new state is the sum's low state_bits bits, which depend on the terms' low bits only.
        upd_lo, upd_hi = p.update_range
        clamped = upd_lo < 0 or upd_hi > g_max
        decay_expr = [(s2_decay[lane] + s2_c_r[lane]) >> fx.decay_bits for lane in range(lanes)]
        move_expr = [(s2_c_a[lane] - s2_move[lane]) >> fx.lut_bits for lane in range(lanes)]
        s25_decay = Signal(data.ArrayLayout(decay_expr[0].shape() if clamped else unsigned(fx.state_bits), lanes))
        s25_move = Signal(data.ArrayLayout(move_expr[0].shape() if clamped else unsigned(fx.state_bits), lanes))
        with m.If(advance):
            for lane in range(lanes):
                m.d.sync += [s25_g[lane].eq(s2_g[lane]), s25_f[lane].eq(s2_f[lane]),
                             s25_decay[lane].eq(decay_expr[lane]), s25_move[lane].eq(move_expr[lane])]
        m.d.comb += s25_writes.eq(writes_state(s25))
        for lane in range(lanes):
            total = s25_decay[lane] + s25_move[lane]
            if upd_lo < 0:
                total = Mux(total < 0, 0, total)
            if upd_hi > g_max:
                total = Mux(total > g_max, g_max, total)
            m.d.comb += s25_new[lane].eq(total)

        # --- the current product g' F, in clocks of their own: the new state is registered in the
        # fabric ("new_state"), then it and F go into the multiplier's operand registers
        # ("current_operands"). The sum and clamp of the new state feed the state write; a multiplier
        # after them would be the slowest path, and so was the route from the sum into the operand
        # registers of an ECP5 DSP block (fixed columns, away from the adders).
        s3_writes = Signal()
        s3_g = Signal(state_layout)
        s3_f = Signal(data.ArrayLayout(p.f_shape, lanes))
        feat_layout = data.ArrayLayout(unsigned(max(fx.state_bits, fx.current_bits)), lanes)
        s3_state_feat = Signal(feat_layout)
        with m.If(advance):
            m.d.sync += [s3_writes.eq(s25_writes), s3_g.eq(s25_new), s3_f.eq(s25_f)]
            for lane in range(lanes):
                if fx.state_bits >= fx.current_bits:
                    feat = s25_g[lane] >> (fx.state_bits - fx.current_bits)
                else:
                    feat = s25_g[lane] << (fx.current_bits - fx.state_bits)
                m.d.sync += s3_state_feat[lane].eq(feat)

        # --- the state write-back, params.state_loop beats after the memory read (write_stage_of):
        # straight from the terms' sum and clamp ("terms"), or, where a pass has the slots for the longer
        # loop (params.state_write_registered), from the new state's register ("new_state").
        wr_valid, wr_beat = st[self.write_stage_of(p)]
        wr_data, wr_writes = {"terms": (s25_new, s25_writes), "new_state": (s3_g, s3_writes)}[self.write_stage_of(p)]
        m.d.comb += [
            state_wr.addr.eq(wr_beat.slot),
            state_wr.data.eq(wr_data),
            state_wr.en.eq(advance & wr_valid & wr_writes),
        ]

        # current_operands: what the output needs besides the product, one stage on
        s35_writes = Signal()
        s35_g = Signal(state_layout)
        s35_state_feat = Signal(feat_layout)
        with m.If(advance):
            m.d.sync += [s35_writes.eq(s3_writes), s35_g.eq(s3_g), s35_state_feat.eq(s3_state_feat)]

        s4_valid, s4 = st["current"]
        s4_writes = Signal()
        s4_g = Signal(state_layout)
        s4_cur = Signal(data.ArrayLayout(signed(fx.state_bits + p.f_shape.width + 1), lanes))
        s4_state_feat = Signal(feat_layout)
        with m.If(advance):
            m.d.sync += [s4_writes.eq(s35_writes), s4_g.eq(s35_g), s4_state_feat.eq(s35_state_feat)]
        for lane in range(lanes):    # g' F: the operands registered at current_operands, the product at current
            m.submodules[f"mul_current{lane}"] = mul_c = RegisteredMultiplier(unsigned(fx.state_bits), p.f_shape)
            m.d.comb += [mul_c.en.eq(advance), mul_c.a.eq(s3_g[lane]), mul_c.b.eq(s3_f[lane]),
                         s4_cur[lane].eq(mul_c.p)]

        # --- output (combinational): read current / state feature
        s4_end = Signal()
        m.d.comb += s4_end.eq(s4.node >= p.n_virtual)
        m.d.comb += [self.o.valid.eq(s4_valid), *pass_beat(self.o.p, s4)]
        for lane in range(lanes):
            n_of_lane = s4.slot * lanes + lane
            # A lane's last slot may be padding (N not a multiple of the lanes); where every slot of the lane
            # holds a device, the test can never fail and is left out.
            active = (n_of_lane < p.n_devices) if (p.slots - 1) * lanes + lane >= p.n_devices else Const(1)
            end_feature = s4_state_feat[lane] if k.state_features else Const(0)
            m.d.comb += self.o.p.x[lane].eq(
                Mux(active, Mux(s4_end, end_feature, rshr(s4_cur[lane], k.current_shift)), 0))

            # Trace: once per cell written, when its beat leaves.
            entry = self.trace[lane].payload
            m.d.comb += [
                self.trace[lane].valid.eq(s4_valid & advance & s4_writes & active),
                entry.n.eq(n_of_lane), entry.m.eq(s4.node), entry.g.eq(s4_g[lane]), entry.i.eq(self.o.p.x[lane]),
            ]

        # Frame index within the sequence, for the trace only.
        frame_count = Signal(len(self.trace[0].payload.frame))
        frame_now = Mux(s4.seq_first, 0, frame_count)
        with m.If(s4_valid & advance & s4.frame_end):
            m.d.sync += frame_count.eq(frame_now + 1)
        m.d.comb += [self.trace[lane].payload.frame.eq(frame_now) for lane in range(lanes)]
        return m
