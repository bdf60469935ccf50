"""Board tops: the reservoir core behind the UART link, on an iCEBreaker or a ULX3S.

::

    FTDI TXD ─► rx ─► Link ─┬─ o_frames ──► ReservoirCore ─ results ─► Link ─► tx ─► FTDI RXD
                            └─ o_writes ─► WriteAdapter ─► core.load
                                                    leds ◄─ decision, activity, dropped, heartbeat

:class:`ReservoirBoard` is everything but the clock: its ports are the two
UART pins and the LEDs, so the very same component is built for a board
(inside :class:`BoardTop`, which adds the PLL and the pins) and simulated on
Verilator by ``memres run --sim``. The host side of the address map of
WEIGHT_WRITE is :func:`weight_address` / :func:`bias_address`; the sizes of
every message are :func:`link_format`.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Elaboratable, Module, Mux, Signal
from amaranth.lib import data, io, stream, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from .boards import BOARDS, BoardSpec
from .checked import CheckedComponent
from .link import Link, write_layout
from .params import CoreParams
from .pll import PllError, PllPlan, ecp5_pll, ice40_pll, pll_instance, plan_clock
from .top import ReservoirCore
from .wire import COUNTERS, LinkFormat

__all__ = ["BOARDS", "BoardSpec", "BoardTop", "ReservoirBoard", "WriteAdapter", "PllError", "PllPlan",
           "ice40_pll", "ecp5_pll", "plan_clock", "link_format", "weight_address", "bias_address",
           "led_layout"]

#: Counters whose change lights the "dropped" LED (everything the link threw away).
DROP_COUNTERS = tuple(c for c in COUNTERS if c not in ("frames_ok", "results"))


# --- link format and WEIGHT_WRITE address map --------------------------------------------

def _bytes_for(bits: int, minimum: int) -> int:
    return max(minimum, 8 * math.ceil(bits / 8))


def link_format(params: CoreParams) -> LinkFormat:
    """The message sizes for this core: its frame and result layouts; address and value wide enough.

    Address: ``(j << kb) | k`` with ``kb`` the width of an output index and
    ``j`` the feature index, ``j = F_tot`` for the biases (so at least 16
    bits, more for large readouts). Value: at least 32 bits, more if a bias
    needs it.
    """
    kb = params.decision_bits
    addr_bits = _bytes_for((params.n_features + 1).bit_length() + kb, 16)
    value_bits = _bytes_for(params.load_layout["value"].shape.width, 32)
    return LinkFormat.from_layouts(params.frame_layout, params.result_layout,
                                   addr_bits=addr_bits, value_bits=value_bits)


def weight_address(params: CoreParams, j: int, k: int) -> int:
    """WEIGHT_WRITE address of W[j, k] (feature ``j = m N + n``, state features after the currents)."""
    if not (0 <= j < params.n_features and 0 <= k < params.n_outputs):
        raise ValueError(f"W[{j}, {k}] is outside the readout ({params.n_features} x {params.n_outputs})")
    return (j << params.decision_bits) | k


def bias_address(params: CoreParams, k: int) -> int:
    """WEIGHT_WRITE address of the bias b[k]."""
    if not 0 <= k < params.n_outputs:
        raise ValueError(f"bias b[{k}] is outside the readout ({params.n_outputs} outputs)")
    return (params.n_features << params.decision_bits) | k


class WriteAdapter(wiring.Component):
    """WEIGHT_WRITE (flat address, value) -> one beat of the core's ``load`` stream.

    The address is ``(j << kb) | k`` (:func:`weight_address`); ``j`` is split
    into ``(node, device) = divmod(j, N)`` by repeated subtraction, at most
    ``passes`` clocks, which is nothing next to the 13+ byte times a write
    takes on the UART (so no divider). ``j = F_tot`` is the bias; anything
    beyond the readout is taken and dropped. Values are saturated to the
    load port's width (the readout then saturates to the contract ranges).
    A write is taken from ``i`` only when its beat is taken (or it is
    dropped), so value and k come straight from ``i`` and are not copied.
    """

    def __init__(self, params: CoreParams, fmt: LinkFormat):
        self._p, self._fmt = params, fmt
        super().__init__({
            "i": In(stream.Signature(write_layout(fmt))),
            "o": Out(stream.Signature(params.load_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._p
        kb = p.decision_bits
        value_shape = p.load_layout["value"].shape
        lo, hi = -(1 << (value_shape.width - 1)), (1 << (value_shape.width - 1)) - 1
        j = Signal(range(max(2, 1 << (self._fmt.addr_bits - kb))))
        node = Signal(range(p.passes + 1))
        beat = Signal(p.load_layout)
        value = self.i.payload.value
        # The write stays offered on ``i`` (the link holds it) until its beat is taken, so the
        # value and k are not copied: only j is split into (node, device).
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.i.valid):
                    m.d.sync += [j.eq(self.i.payload.addr >> kb), node.eq(0)]
                    with m.If(self.i.payload.addr[:kb] < p.n_outputs):
                        m.next = "DIVIDE"
                    with m.Else():
                        m.d.comb += self.i.ready.eq(1)
            with m.State("DIVIDE"):
                with m.If(j == p.n_features):
                    m.d.sync += beat.bias.eq(1)
                    m.next = "SEND"
                with m.Elif(j > p.n_features):
                    m.d.comb += self.i.ready.eq(1)
                    m.next = "IDLE"
                with m.Elif(j >= p.n_devices):
                    m.d.sync += [j.eq(j - p.n_devices), node.eq(node + 1)]
                with m.Else():
                    m.d.sync += [beat.bias.eq(0), beat.node.eq(node), beat.device.eq(j)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(beat),
                             self.o.payload.k.eq(self.i.payload.addr[:kb]),
                             self.o.payload.value.eq(_saturate(value, lo, hi, value_shape.width))]
                with m.If(self.o.ready):
                    m.d.comb += self.i.ready.eq(1)
                    m.next = "IDLE"
        return m


def _saturate(value, lo: int, hi: int, width: int):
    """``value`` saturated to lo..hi = the signed ``width``-bit range, as ``width`` bits.

    It fits when its bits from ``width - 1`` up are all equal (no comparators).
    """
    assert lo == -(1 << (width - 1)) and hi == (1 << (width - 1)) - 1
    if len(value) <= width:   # value_bits is at least the load port's width
        return value
    top, sign = value[width - 1:], value[-1]
    fits = (top == 0) | (top == (1 << len(top)) - 1)
    return Mux(fits, value[:width], Cat(sign.replicate(width - 1) ^ ((1 << (width - 1)) - 1), sign))


# --- the board without its clock ---------------------------------------------------------

def led_layout(params: CoreParams) -> data.StructLayout:
    """What the LEDs show: the last sequence decision (binary), link activity, drops, a heartbeat."""
    return data.StructLayout({"decision": params.decision_bits, "activity": 1, "dropped": 1, "heartbeat": 1})


class ReservoirBoard(CheckedComponent):
    """Link + ReservoirCore + WriteAdapter + LED drivers: the board top without its clock.

    Parameters
    ----------
    core : ReservoirCore
        Built without the trace port (``trace=False``) for hardware.
    clk_freq : float
        The ``sync`` clock in Hz (the UART divisor and the LED timings depend on it).
    baud : float
    config_hash : str
        16 hex digits, sent in STATUS (``ModelConfig.hash()``).
    version : str
        Generator version, sent in STATUS.

    Attributes
    ----------
    rx : In(1), tx : Out(1)
        UART pins (FTDI TXD -> rx, tx -> FTDI RXD).
    leds : Out(led_layout(params))
        ``decision``: the decision of the last finished sequence; ``activity``:
        a UART start bit in either direction, stretched to 30-40 ms; ``dropped``:
        a frame the link dropped (any drop counter counted), stretched to 0.3 s;
        ``heartbeat``: toggles every 0.25 s while the clock runs. All timings
        count 10 ms ticks of one prescaler.
    """

    @classmethod
    def check(cls, core: ReservoirCore, clk_freq: float, baud: float = 115200, *,
              config_hash: str | bytes = bytes(8), version: str = "") -> None:
        """Refuse what the :class:`Link` would refuse, before the board (and its link) exists."""
        if not isinstance(core, ReservoirCore):
            raise TypeError(f"core must be a ReservoirCore, not {core!r}")
        Link.check(link_format(core.params), clk_freq, baud, config_hash=config_hash, version=version)

    def __init__(self, core: ReservoirCore, clk_freq: float, baud: float = 115200, *,
                 config_hash: str | bytes = bytes(8), version: str = ""):
        self.core = core
        p = core.params
        self.fmt = link_format(p)
        self.link = Link(self.fmt, clk_freq, baud, config_hash=config_hash, version=version)
        self.adapter = WriteAdapter(p, self.fmt)
        self._clk_freq = float(clk_freq)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(led_layout(p))})

    @property
    def clk_freq(self) -> float:
        return self._clk_freq

    #: The LED timings count ticks of this period (s) from one shared prescaler.
    LED_TICK = 0.01

    def _clocks(self, seconds: float) -> int:
        return max(1, round(seconds * self._clk_freq))

    @classmethod
    def _ticks(cls, seconds: float) -> int:
        return max(1, round(seconds / cls.LED_TICK))

    @staticmethod
    def _prescaler(m, period: int):
        """A registered ``tick``, high one clock in every ``lo * hi ~= period`` clocks (``lo <= 256``, a power of 2)."""
        lo_n = 1 << min(8, period.bit_length() - 1)
        hi_n = max(1, round(period / lo_n))
        lo_tick = Signal()
        if lo_n == 1:
            m.d.comb += lo_tick.eq(1)
        else:
            lo = Signal(range(lo_n), name="prescale_lo")      # wraps
            m.d.sync += [lo.eq(lo + 1), lo_tick.eq(lo == lo_n - 1)]
        hi = Signal(range(hi_n), name="prescale_hi")
        tick = Signal(name="prescale_tick")
        with m.If(lo_tick):
            m.d.sync += hi.eq(Mux(hi == 0, hi_n - 1, hi - 1))
        m.d.sync += tick.eq(lo_tick & (hi == 0))
        return tick

    def _stretch(self, m, name: str, trigger, tick, seconds: float):
        """High from ``trigger`` until ``seconds`` (to one tick more) later."""
        n = self._ticks(seconds) + 1
        count = Signal(range(n + 1), name=f"{name}_timer")
        with m.If(trigger):
            m.d.sync += count.eq(n)
        with m.Elif(tick & (count != 0)):
            m.d.sync += count.eq(count - 1)
        return count != 0

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.core = core = self.core
        m.submodules.adapter = adapter = self.adapter
        m.d.comb += [link.rx.eq(self.rx), self.tx.eq(link.tx)]
        wiring.connect(m, link.o_frames, core.frames)
        wiring.connect(m, core.results, link.i_results)
        wiring.connect(m, link.o_writes, adapter.i)
        wiring.connect(m, adapter.o, core.load)

        # LEDs. The decision is latched when the result of a sequence's last frame is taken.
        decision = Signal(self.leds.decision.shape())
        res = core.results
        with m.If(res.valid & res.ready & res.payload.last):
            m.d.sync += decision.eq(res.payload.decision)
        # One prescaler for every LED timing: a tick every LED_TICK seconds (rounded to a multiple of
        # up to 256 clocks: 120 064 for 120 000 at 12 MHz), made of
        # two short counters with registered carries. One 17-bit counter with its reload compare was
        # the slowest path of the whole iCE40 design (nextpnr splits long carry chains into pieces).
        tick = self._prescaler(m, self._clocks(self.LED_TICK))
        beat = Signal(range(self._ticks(0.25)))
        toggle = Signal()
        with m.If(tick):
            with m.If(beat == 0):
                m.d.sync += [beat.eq(self._ticks(0.25) - 1), toggle.eq(~toggle)]
            with m.Else():
                m.d.sync += beat.eq(beat - 1)
        dropped = Cat(*(getattr(link.events, n) for n in DROP_COUNTERS)).any()
        m.d.comb += [
            self.leds.decision.eq(decision),
            self.leds.activity.eq(self._stretch(m, "activity", ~self.rx | ~link.tx, tick, 0.03)),
            self.leds.dropped.eq(self._stretch(m, "dropped", dropped, tick, 0.3)),
            self.leds.heartbeat.eq(toggle),
        ]
        return m


class BoardTop(Elaboratable):
    """:class:`ReservoirBoard` on a board: oscillator or PLL, UART pins, LEDs.

    With a PLL the ``sync`` domain is held in reset until the PLL locks and
    then for 15 us more (iCE40 BRAMs read as zero for a few us after
    configuration); without one, the platform's own clock domain (which does
    the same) is used.
    """

    def __init__(self, board: BoardSpec, design: ReservoirBoard, pll: PllPlan | None):
        self.board, self.design, self.pll = board, design, pll

    @property
    def clk_freq(self) -> float:
        return self.board.f_osc if self.pll is None else self.pll.f_out

    def elaborate(self, platform):
        m = Module()
        b = self.board
        if b.extra_resources:
            platform.add_resources(getattr(platform, b.extra_resources))
        if self.pll is not None:
            self._clocking(m, platform)
        m.submodules.design = d = self.design
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [d.rx.eq(rx.i), tx.o.eq(d.tx)]
        leds = [(res, d.leds.decision[i]) for i, res in enumerate(b.decision_leds) if i < len(d.leds.decision)]
        leds += [(b.activity_led, d.leds.activity), (b.dropped_led, d.leds.dropped)]
        if b.heartbeat_led is not None:
            leds.append((b.heartbeat_led, d.leds.heartbeat))
        for (name, number), value in leds:
            buf = io.Buffer("o", platform.request(name, number, dir="-"))
            m.submodules[f"{name}_{number}"] = buf
            m.d.comb += buf.o.eq(value)
        return m

    def _clocking(self, m, platform):
        b, pll = self.board, self.pll
        m.domains.sync = ClockDomain("sync")
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        clk = Signal(name="pll_clk")
        lock = Signal(name="pll_lock")
        pin = platform.request(b.clock, dir="-")
        buffers, m.submodules.pll = pll_instance(pll, pin, clk, lock)
        for name, buf in buffers.items():
            m.submodules[name] = buf
        # No constraint on the PLL output: nextpnr derives it from the oscillator pin's constraint
        # through the PLL's dividers (and a constraint on a net Yosys renames would be ignored).
        delay = max(1, round(15e-6 * pll.f_out))
        timer = Signal(range(delay + 1))
        ready = Signal()
        m.d.comb += [ClockSignal("por").eq(clk), ClockSignal("sync").eq(clk)]
        with m.If(~lock):
            m.d.por += [timer.eq(0), ready.eq(0)]
        with m.Elif(timer == delay):
            m.d.por += ready.eq(1)
        with m.Else():
            m.d.por += timer.eq(timer + 1)
        m.submodules.reset_sync = ResetSynchronizer(~ready, domain="sync")
