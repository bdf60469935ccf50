"""Input projection: C input codes times the +1/-1 mask -> pulse codes (contract steps 1-2)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arith import clamp, const_mul, rshr, tree_sum
from .checked import CoreBlock
from .params import CoreParams
from .pipeline import beat_stages

__all__ = ["InputProjection"]


class InputProjection(CoreBlock):
    """Holds one frame and issues its beats: ``lanes`` pulse codes per beat, ``rows`` beats per frame.

    ``p[m, n] = sum_c mask[c, m, n] u[c]`` is computed as ``2 P - U`` with
    ``P`` the sum of the inputs whose mask bit is +1 and ``U`` the sum of all
    inputs (shared by the lanes), which needs no negations. Then
    ``q = clamp(rshr(p gain + center, B_k), 0, q_max)``.

    The mask is a ROM with one row per beat (``lanes * C`` bits). It is read
    one row ahead: while the issue stage holds row ``r``, a register beside it
    holds mask row ``r`` and the ROM's synchronous read port holds row
    ``r + 1`` (the next frame's row 0 after the last row); when the issue
    stage moves on, the register takes the ROM's output and the ROM reads the
    row after that. So the mask row and the frame register meet in the same
    clock, the frame register can take the next frame as soon as the last
    beat of the current one is issued (frames follow back to back), and the
    group sums start from a register, not from the block RAM's slow output
    (5.8 ns of clock-to-output on the ECP5, the slowest path of the FSDD core).

    Pipeline (one global stall, ``o.valid & ~o.ready``), the stages of
    :attr:`STAGES`: issue (frame register, row counter, mask row) | sums of
    groups of :attr:`GROUP` inputs | the groups summed in two halves | ``p`` |
    ``p`` gain | round, clamp -> ``q`` output. The latency (:meth:`latency_of`) is the number of stages.

    Parameters
    ----------
    params : CoreParams

    Attributes
    ----------
    i : In(stream.Signature(params.frame_layout))
        Frames; accepted only when the last beat of the previous frame issues.
        The first frame after reset counts as ``first`` whatever its flag.
    o : Out(stream.Signature(params.pulse_layout))
        Beats. End-pass beats (``node == ML``) carry ``q = 0``.
    """

    #: The register stages, in order, from the frame register (issue) to the output register ``o``.
    STAGES = ("issue", "group_sums", "half_sums", "projection", "gain", "pulse")

    #: Inputs summed together in the issue stage (the rest of the masked sum follows a clock later).
    GROUP = 4

    def __init__(self, params: CoreParams):
        self._p = params
        super().__init__({
            "i": In(stream.Signature(params.frame_layout)),
            "o": Out(stream.Signature(params.pulse_layout)),
        })

    @classmethod
    def latency_of(cls, params: CoreParams) -> int:
        """Clocks from accepting a frame to its first beat being valid at ``o``: one per stage."""
        return len(cls.STAGES)

    @property
    def latency(self) -> int:
        return self.latency_of(self._p)

    def elaborate(self, platform):
        p = self._p
        k = p.k
        lanes, n_in = p.lanes, p.n_inputs
        m = Module()

        # The ROM holds the pulse passes' rows (params.mask_depth); the end pass, whose pulse codes
        # are 0 whatever the mask, may read any row.
        rom_rows = p.mask_rom_rows()
        m.submodules.mask_rom = mask_rom = Memory(shape=lanes * n_in, depth=p.mask_depth, init=rom_rows)
        mask_rd = mask_rom.read_port()

        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # --- issue stage: frame register and beat counters
        busy = Signal()
        frame = Signal(p.frame_layout)
        row = Signal.like(self.o.p.row)
        node = Signal.like(self.o.p.node)
        slot = Signal.like(self.o.p.slot)
        row_next = Signal.like(row)
        node_next = Signal.like(node)
        slot_next = Signal.like(slot)
        busy_next = Signal()
        last_row = Signal(init=int(p.rows == 1))

        # last_row (row == rows - 1) is a register of its own, loaded with row_next's comparison, so that
        # frames.ready is one LUT of registers: it goes to the link's frame buffer, across the die on the
        # ECP5 (the FSDD default's worst path at one seed, with the row comparison before it)
        m.d.comb += [
            self.i.ready.eq(advance & (~busy | last_row)),
            busy_next.eq(busy), row_next.eq(row), node_next.eq(node), slot_next.eq(slot),
        ]
        with m.If(advance & busy):
            with m.If(last_row):
                m.d.comb += [busy_next.eq(0), row_next.eq(0), node_next.eq(0), slot_next.eq(0)]
            with m.Else():
                m.d.comb += row_next.eq(row + 1)
                with m.If(slot == p.slots - 1):
                    m.d.comb += [slot_next.eq(0), node_next.eq(node + 1)]
                with m.Else():
                    m.d.comb += slot_next.eq(slot + 1)
        # After reset the first frame starts a sequence whatever its flag says, so that
        # states and sums never continue from before the reset.
        after_reset = Signal(init=1)
        with m.If(self.i.valid & self.i.ready):
            m.d.comb += [busy_next.eq(1), row_next.eq(0), node_next.eq(0), slot_next.eq(0)]
            m.d.sync += [frame.eq(self.i.payload), frame.first.eq(self.i.p.first | after_reset), after_reset.eq(0)]
        m.d.sync += [busy.eq(busy_next), row.eq(row_next), node.eq(node_next), slot.eq(slot_next),
                     last_row.eq(row_next == p.rows - 1)]
        # The mask, one row ahead: `bits` holds the mask of `row`, the ROM's output that of `row_ahead`,
        # the row after `row` (row_next is always `row` or that row). When the issue stage moves on
        # (`moves`), `bits` takes the ROM's output and the ROM reads the row after `row_ahead`. After
        # reset (row 0, idle) `bits` starts as row 0's mask and the ROM reads row 1 while idle.
        def after(r):
            return Mux(r == p.rows - 1, 0, r + 1)
        row_ahead = Signal.like(row, init=1 % p.rows)
        bits = Signal(lanes * n_in, init=rom_rows[0])
        moves = Signal()
        m.d.comb += [moves.eq(advance & busy),
                     mask_rd.addr.eq(Mux(moves, after(row_ahead), row_ahead)[:len(mask_rd.addr)])]
        with m.If(moves):
            m.d.sync += [row_ahead.eq(after(row_ahead)), bits.eq(mask_rd.data)]

        # The masked sums are split over two clocks: groups of GROUP inputs summed in the issue
        # stage (from the mask register), the groups summed in stage 1. One adder tree over all
        # C inputs was the iCE40 design's slowest path.
        groups = [range(c, min(c + self.GROUP, n_in)) for c in range(0, n_in, self.GROUP)]
        part_shape = unsigned(p.k.fx.input_bits + (self.GROUP - 1).bit_length())
        # lane l's plus-sums, then (index lanes) the sum of all inputs shared by the lanes
        parts = Signal(data.ArrayLayout(data.ArrayLayout(part_shape, len(groups)), lanes + 1))

        # --- the stages after issue: the beat's valid bit and fields (beat_stages), the data beside them
        issue_beat = Signal(p.pulse_layout)
        m.d.comb += [
            issue_beat.row.eq(row), issue_beat.node.eq(node), issue_beat.slot.eq(slot),
            issue_beat.frame_start.eq(row == 0), issue_beat.frame_end.eq(last_row),
            issue_beat.seq_first.eq(frame.first), issue_beat.seq_last.eq(frame.last),
        ]
        st = beat_stages(m, advance, self.STAGES[1:], busy, issue_beat, p.pulse_layout,
                         last=(self.o.valid, self.o.p))

        # group sums
        with m.If(advance):
            for gi, grp in enumerate(groups):
                m.d.sync += parts[lanes][gi].eq(tree_sum([frame.u[c] for c in grp]))
                for lane in range(lanes):
                    m.d.sync += parts[lane][gi].eq(
                        tree_sum([Mux(bits[lane * n_in + c], frame.u[c], 0) for c in grp]))

        # half sums: each lane's groups (and the shared total's) summed in two halves, so that the
        # projection stage is one addition and one subtraction (the eight group sums of 32 inputs
        # and 2P - U in one clock were the slowest path on the ECP5)
        n_groups = len(groups)
        halves = [range(0, (n_groups + 1) // 2), range((n_groups + 1) // 2, n_groups)]
        half_shape = unsigned(part_shape.width + max(1, (len(halves[0]) - 1).bit_length()))
        s_half = Signal(data.ArrayLayout(data.ArrayLayout(half_shape, 2), lanes + 1))
        with m.If(advance):
            for lane in range(lanes + 1):
                for h, idx in enumerate(halves):
                    m.d.sync += s_half[lane][h].eq(tree_sum([parts[lane][gi] for gi in idx]) if idx else 0)

        # projection p = 2 P - U
        total = s_half[lanes][0] + s_half[lanes][1]
        s_p = Signal(data.ArrayLayout(signed(p.widths.projection), lanes))
        with m.If(advance):
            m.d.sync += [s_p[lane].eq(((s_half[lane][0] + s_half[lane][1]) << 1) - total) for lane in range(lanes)]

        # p gain (a constant: shifts and adds)
        gained = [const_mul(s_p[lane], k.gain) for lane in range(lanes)]
        s_pg = Signal(data.ArrayLayout(signed(max(len(g) for g in gained) + 1), lanes))
        with m.If(advance):
            m.d.sync += [s_pg[lane].eq(gained[lane]) for lane in range(lanes)]

        # output: pulse codes q = clamp(rshr(p gain + center, B_k), 0, q_max); one adder,
        # the center and rshr's rounding half being one constant
        # The end pass takes code 0 (A = 0: no move) where it writes the idle-relaxed state; without an
        # idle gap it writes nothing and its code is never used, so no multiplexer is built.
        _, gain_beat = st["gain"]
        with m.If(advance):
            end_pass = gain_beat.node >= p.n_virtual
            for lane in range(lanes):
                code = clamp(rshr(s_pg[lane], k.fx.gain_bits, offset=int(k.center)), 0, k.q_max)
                m.d.sync += self.o.p.q[lane].eq(Mux(end_pass, 0, code) if p.has_idle else code)
        return m
