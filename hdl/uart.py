"""8N1 UART receiver and transmitter with ``amaranth.lib.stream`` byte ports.

Both take the clock frequency and the baud rate and use one whole-number
divisor (clocks per bit), rounded to the nearest integer.  They refuse a
combination whose baud error exceeds :data:`MAX_BAUD_ERROR` (the receiver
samples mid-bit, so 10 bits of a frame tolerate a few per cent in total
between both ends) or whose divisor is below :data:`MIN_DIVISOR` (with a
2-flip-flop synchroniser the start edge is known to +-1 clock; mid-bit
sampling needs a few clocks per bit).  Examples: 12 MHz / 115200 -> 104
(+0.16 %), 12 MHz / 3 Mbaud -> 4 (exact), 25 MHz / 3 Mbaud is refused (8,
+4.2 %), 25 MHz / 1 Mbaud -> 25 (exact).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out
from memres.sw_model.errors import MemresError

from .checked import CheckedComponent

__all__ = ["UartRx", "UartTx", "BaudError", "baud_divisor", "MAX_BAUD_ERROR", "MIN_DIVISOR"]

#: Largest accepted relative difference between the requested and the achieved baud rate.
MAX_BAUD_ERROR = 0.02
#: Fewest clocks per bit.
MIN_DIVISOR = 4


class BaudError(MemresError, ValueError):
    """The clock cannot produce the requested baud rate closely enough; the message gives the numbers."""


def baud_divisor(clk_freq: float, baud: float) -> int:
    """Clocks per bit for *baud* at *clk_freq*; raises :class:`BaudError` if it is off by more than 2 %."""
    if not clk_freq > 0 or not baud > 0:
        raise BaudError(f"clock frequency and baud rate must be positive, not {clk_freq!r} Hz and {baud!r} baud")
    divisor = max(1, round(clk_freq / baud))
    actual = clk_freq / divisor
    error = actual / baud - 1
    if divisor < MIN_DIVISOR:
        raise BaudError(f"{baud:g} baud at {clk_freq / 1e6:g} MHz is only {clk_freq / baud:.2f} clocks per bit; "
                        f"the UART needs at least {MIN_DIVISOR} (at most {clk_freq / MIN_DIVISOR:g} baud)")
    if abs(error) > MAX_BAUD_ERROR:
        raise BaudError(f"{baud:g} baud at {clk_freq / 1e6:g} MHz: divisor {divisor} gives {actual:.1f} baud, "
                        f"{error:+.2%} off (limit {MAX_BAUD_ERROR:.0%}); pick another baud rate or clock")
    return divisor


class _Uart(CheckedComponent):
    """What the receiver and the transmitter share: the divisor, checked before either exists."""

    @classmethod
    def check(cls, clk_freq: float, baud: float) -> None:
        baud_divisor(clk_freq, baud)

    @property
    def divisor(self) -> int:
        """Clocks per bit."""
        return self._divisor


class UartRx(_Uart):
    """UART receiver, 8 data bits, no parity, 1 stop bit, LSB first.

    The line goes through a 2-flip-flop synchroniser; a falling edge starts a
    byte, the start bit is checked again half a bit later (shorter glitches are
    ignored), then every bit is sampled once in its middle.  A low stop bit is
    a framing error: the byte is dropped, ``framing_error`` pulses, and the
    receiver waits for the line to go high again (so a break is one error).
    A UART cannot be stalled: a byte completed while the previous one is still
    offered on ``o`` is dropped and ``overrun`` pulses.

    Parameters
    ----------
    clk_freq : float
        Frequency of the ``sync`` domain in Hz.
    baud : float
        Bits per second.

    Attributes
    ----------
    rx : In(1), idle high
        The pin (asynchronous to the clock).
    o : Out(stream.Signature(8))
    framing_error, overrun : Out(1)
        One-clock pulses.

    Raises
    ------
    BaudError
        See :func:`baud_divisor`.
    """

    def __init__(self, clk_freq: float, baud: float):
        self._divisor = baud_divisor(clk_freq, baud)
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(d))
        bit = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), timer.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    with m.If(self.o.valid & ~self.o.ready):
                        m.d.comb += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.framing_error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UartTx(_Uart):
    """UART transmitter, 8N1, LSB first; takes a byte from ``i`` whenever the line is free.

    Back-to-back bytes follow each other with no idle time (a stop bit of exactly
    one bit time).

    Parameters
    ----------
    clk_freq : float
    baud : float

    Attributes
    ----------
    i : In(stream.Signature(8))
    tx : Out(1), idle high
        The pin.

    Raises
    ------
    BaudError
        See :func:`baud_divisor`.
    """

    def __init__(self, clk_freq: float, baud: float):
        self._divisor = baud_divisor(clk_freq, baud)
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        timer = Signal(range(d))
        left = Signal(range(11))      # bit periods still to send, the current one included
        shreg = Signal(9)             # data bits then the stop bit

        # Ready in the last clock of the stop bit, so the next start bit follows without a gap.
        m.d.comb += self.i.ready.eq((left == 0) | ((left == 1) & (timer == 0)))
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                self.tx.eq(0),
                shreg.eq(Cat(self.i.payload, 1)),
                left.eq(10),
                timer.eq(d - 1),
            ]
        with m.Elif(left != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [left.eq(left - 1), timer.eq(d - 1)]
                with m.If(left != 1):
                    m.d.sync += [self.tx.eq(shreg[0]), shreg.eq(shreg >> 1)]
        return m
