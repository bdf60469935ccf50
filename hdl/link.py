"""The framed UART link between the host and the reservoir core.

::

    rx pin ─► UartRx ─► Deframer ─┬─► o_frames  (INPUT_FRAME payloads, to the core)
                                  ├─► o_writes  (WEIGHT_WRITE payloads, run-time readout)
                                  └─► status_request, events
                                             │
    tx pin ◄─ UartTx ◄─ Framer ◄─────────────┴── i_results (from the core)
                          └─ counters and the STATUS message in one BRAM

The wire format is ``pygen.protocol`` (``docs/link.md``); every size comes
from one :class:`pygen.protocol.LinkFormat`.  Nothing is passed on from a
frame before its CRC has been checked: payloads are written into a two-slot
byte Memory and copied into the output register only once the whole frame
was good.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from pygen.protocol import COUNTERS, HOST_TO_BOARD, PROTOCOL_VERSION, SYNC, LinkFormat, MsgType, crc16

from .crc import CRC16_INIT, crc16_update
from .uart import UartRx, UartTx, baud_divisor

__all__ = ["Deframer", "Framer", "Link", "frame_layout", "result_layout", "write_layout",
           "counters_layout", "events_layout", "RX_COUNTERS"]

#: Counters kept by the deframer (all but ``results``, which the framer counts).
RX_COUNTERS = tuple(c for c in COUNTERS if c != "results")
#: Default inter-byte timeout (s): a frame not continued within it is dropped as truncated.
DEFAULT_TIMEOUT = 5e-3


def frame_layout(fmt: LinkFormat) -> data.StructLayout:
    """An INPUT_FRAME as the core takes it (same as ``CoreParams.frame_layout``)."""
    return data.StructLayout({
        "u": data.ArrayLayout(unsigned(fmt.input_bits), fmt.n_inputs),
        "first": 1,
        "last": 1,
    })


def result_layout(fmt: LinkFormat) -> data.StructLayout:
    """A result as the core gives it (same as ``CoreParams.result_layout``)."""
    return data.StructLayout({
        "y": data.ArrayLayout(signed(fmt.result_width), fmt.n_outputs),
        "decision": fmt.decision_bits,
        "last": 1,
    })


def write_layout(fmt: LinkFormat) -> data.StructLayout:
    """A WEIGHT_WRITE: a flat address and a value (the core side maps the address)."""
    return data.StructLayout({"addr": unsigned(fmt.addr_bits), "value": signed(fmt.value_bits)})


def counters_layout(fmt: LinkFormat, names=COUNTERS) -> data.StructLayout:
    return data.StructLayout({name: unsigned(fmt.counter_bits) for name in names})


def events_layout(names=COUNTERS) -> data.StructLayout:
    """One bit per counter: pulses for one clock each time that counter counts."""
    return data.StructLayout({name: 1 for name in names})


def _check_format(fmt) -> LinkFormat:
    if not isinstance(fmt, LinkFormat):
        raise TypeError(f"fmt must be a pygen.protocol.LinkFormat, not {fmt!r}")
    return fmt


def _bytes_const(raw: bytes) -> Const:
    """Bytes as a constant whose byte 0 is in the least significant bits (sent first)."""
    return Const(int.from_bytes(raw, "little"), 8 * len(raw))


class Deframer(wiring.Component):
    """Hunts headers, checks type, length and CRC, and passes on only good frames.

    Bytes are taken every clock (a UART cannot wait).  The header's type and
    length are checked as they arrive (a wrong one drops the frame at once);
    the payload goes into the current slot of a two-slot byte Memory while the
    CRC runs; a frame with a good CRC marks its slot full, and a copier moves
    full slots, oldest first, into the output register that ``o_frames`` /
    ``o_writes`` present.  So two frames can wait behind the one being offered;
    a frame arriving with both slots full is received, checked and counted as
    ``overrun``.  A STATUS_REQUEST with a good CRC pulses ``status_request``.

    After a drop the hunt for the next header starts with the byte that showed
    the frame to be bad (it may be the SYNC0 of the next header); the bytes
    before it are not looked at again (see ``docs/link.md``).  ``LinkFormat.board_decoder()`` is the exact Python
    model of what is accepted and counted.

    Parameters
    ----------
    fmt : LinkFormat
    timeout_cycles : int
        A frame whose header was seen and whose next byte does not come within
        this many clocks is dropped as ``truncated``.

    Attributes
    ----------
    i : In(stream.Signature(8))
        Received bytes (``ready`` is always 1).
    line_error : In(1)
        A UART framing error: abandons the frame in progress, counts ``line_errors``.
    o_frames : Out(stream.Signature(frame_layout(fmt)))
    o_writes : Out(stream.Signature(write_layout(fmt)))
    status_request : Out(1)
        One-clock pulse per good STATUS_REQUEST.
    events : Out(events_layout(RX_COUNTERS))
        One-clock pulses, one per count of each counter (``pygen.protocol.COUNTERS``);
        the :class:`Framer` keeps the counters.
    """

    def __init__(self, fmt: LinkFormat, timeout_cycles: int):
        self._fmt = _check_format(fmt)
        if not isinstance(timeout_cycles, int) or timeout_cycles < 1:
            raise ValueError(f"timeout_cycles must be a positive integer, not {timeout_cycles!r}")
        self._timeout = timeout_cycles
        super().__init__({
            "i": In(stream.Signature(8)),
            "line_error": In(1),
            "o_frames": Out(stream.Signature(frame_layout(fmt))),
            "o_writes": Out(stream.Signature(write_layout(fmt))),
            "status_request": Out(1),
            "events": Out(events_layout(RX_COUNTERS)),
        })

    @property
    def slot_bytes(self) -> int:
        """Bytes per Memory slot: the largest payload passed on to the core side."""
        return max(self._fmt.payload_bytes(MsgType.INPUT_FRAME), self._fmt.payload_bytes(MsgType.WEIGHT_WRITE))

    def elaborate(self, platform):
        m = Module()
        fmt = self._fmt
        nbytes = self.slot_bytes
        abits = max(1, (nbytes - 1).bit_length())
        m.submodules.mem = mem = Memory(shape=8, depth=2 << abits, init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        byte = self.i.payload
        got = Signal()
        # A byte arriving with a line error (never from UartRx) is ignored.
        m.d.comb += [self.i.ready.eq(1), got.eq(self.i.valid & ~self.line_error)]

        # --- receive: header hunt, checks, payload into the write slot, CRC ---------------
        crc = Signal(16)
        crc_next = crc16_update(crc, byte)
        kind = Signal(2)                  # 0 INPUT_FRAME, 1 WEIGHT_WRITE, 2 STATUS_REQUEST
        len_lo_ok = Signal()              # LEN's low byte was the type's
        offset = Signal(range(nbytes + 2))  # payload and CRC bytes received
        skip = Signal()                   # no free slot: receive and check, then count overrun
        full = Signal(2)                  # slot holds a good frame not yet copied
        slot_write = Signal(2)            # slot holds a WEIGHT_WRITE (else an INPUT_FRAME)
        wslot = Signal()                  # slot the next frame is written into
        idle = Signal(range(self._timeout + 1))
        # Set by the receive FSM for the counter logic below.
        ev = {name: Signal(name=f"ev_{name}") for name in RX_COUNTERS}
        done_slot = Signal()              # a good frame filled wslot this clock

        lengths = fmt.lengths(HOST_TO_BOARD)
        kinds = {MsgType.INPUT_FRAME: 0, MsgType.WEIGHT_WRITE: 1, MsgType.STATUS_REQUEST: 2}
        crc_after_sync = crc16(SYNC)

        with m.If(got):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self._timeout):
            m.d.sync += idle.eq(idle + 1)
        timed_out = ~got & (idle == self._timeout)

        m.d.comb += [wr.addr.eq(Cat(offset[:abits], wslot)), wr.data.eq(byte)]

        def abandon_on_error():
            # Leaving a frame half-received: a garbled byte, or the line went quiet.
            with m.If(self.line_error):
                m.next = "HUNT"
            with m.Elif(timed_out):
                m.d.comb += ev["truncated"].eq(1)
                m.next = "HUNT"

        def drop():
            # The byte that shows a frame to be bad may itself be the SYNC0 of the next header.
            with m.If(byte == SYNC[0]):
                m.next = "SYNC1"
            with m.Else():
                m.next = "HUNT"

        with m.FSM():
            with m.State("HUNT"):
                with m.If(got & (byte == SYNC[0])):
                    m.next = "SYNC1"
            with m.State("SYNC1"):
                with m.If(self.line_error | timed_out):
                    m.next = "HUNT"
                with m.Elif(got):
                    with m.If(byte == SYNC[1]):
                        m.d.sync += crc.eq(crc_after_sync)
                        m.next = "TYPE"
                    with m.Elif(byte != SYNC[0]):
                        m.next = "HUNT"
            with m.State("TYPE"):
                with m.If(got):
                    m.d.sync += crc.eq(crc_next)
                    drop()
                    m.d.comb += ev["unknown_type"].eq(1)
                    for t, k in kinds.items():
                        with m.If(byte == t):
                            m.d.comb += ev["unknown_type"].eq(0)
                            m.d.sync += [kind.eq(k), skip.eq((k != 2) & full.bit_select(wslot, 1))]
                            m.next = "LEN0"
                abandon_on_error()
            with m.State("LEN0"):
                with m.If(got):
                    m.d.sync += crc.eq(crc_next)
                    for t, k in kinds.items():
                        with m.If(kind == k):
                            m.d.sync += len_lo_ok.eq(byte == (lengths[t] & 0xFF))
                    m.next = "LEN1"
                abandon_on_error()
            with m.State("LEN1"):
                with m.If(got):
                    ok = Signal()
                    for t, k in kinds.items():
                        with m.If(kind == k):
                            m.d.comb += ok.eq(len_lo_ok & (byte == (lengths[t] >> 8)))
                    m.d.sync += [crc.eq(crc_next), offset.eq(0)]
                    with m.If(ok):
                        m.next = "BODY"
                    with m.Else():
                        m.d.comb += ev["bad_length"].eq(1)
                        drop()
                abandon_on_error()
            with m.State("BODY"):
                in_payload, at_crc_lo = Signal(), Signal()
                for t, k in kinds.items():
                    with m.If(kind == k):
                        m.d.comb += [in_payload.eq(offset < lengths[t] if lengths[t] else 0),
                                     at_crc_lo.eq(offset == lengths[t] + 1)]
                with m.If(got):
                    m.d.sync += [crc.eq(crc_next), offset.eq(offset + 1)]
                    # Only payload bytes are stored, never the CRC.
                    m.d.comb += wr.en.eq(~skip & in_payload)
                    with m.If(at_crc_lo):
                        m.next = "HUNT"
                        with m.If(crc_next != 0):
                            m.d.comb += ev["bad_crc"].eq(1)
                            drop()
                        with m.Elif(kind == 2):
                            m.d.comb += [ev["frames_ok"].eq(1), self.status_request.eq(1)]
                        with m.Elif(skip):
                            m.d.comb += ev["overrun"].eq(1)
                        with m.Else():
                            m.d.comb += [ev["frames_ok"].eq(1), done_slot.eq(1)]
                abandon_on_error()
        m.d.comb += ev["line_errors"].eq(self.line_error)

        m.d.comb += [getattr(self.events, name).eq(ev[name]) for name in RX_COUNTERS]

        # --- copy a full slot into the output register ------------------------------------
        rslot = Signal()
        hold = Signal(8 * nbytes)
        hold_full = Signal()
        hold_write = Signal()
        count = Signal(range(nbytes))
        shift = Signal()
        copy_done = Signal()
        m.d.comb += rd.addr.eq(Cat(count[:abits], rslot))
        m.d.sync += shift.eq(0)
        with m.If(shift):
            m.d.sync += hold.eq(Cat(hold[8:], rd.data))   # byte 0 ends in hold[0:8]
        with m.FSM(name="copy"):
            with m.State("WAIT"):
                with m.If(full.bit_select(rslot, 1) & ~hold_full):
                    m.d.sync += count.eq(0)
                    m.next = "READ"
            with m.State("READ"):
                m.d.sync += [shift.eq(1), count.eq(count + 1)]
                with m.If(count == nbytes - 1):
                    m.next = "LAST"
            with m.State("LAST"):   # the last byte shifts in now
                m.d.comb += copy_done.eq(1)
                m.d.sync += [hold_full.eq(1), hold_write.eq(slot_write.bit_select(rslot, 1)),
                             rslot.eq(~rslot)]
                m.next = "WAIT"

        full_next = Signal(2)
        m.d.comb += full_next.eq(full)
        with m.If(copy_done):
            m.d.comb += full_next.bit_select(rslot, 1).eq(0)
        with m.If(done_slot):
            m.d.comb += full_next.bit_select(wslot, 1).eq(1)
            m.d.sync += [slot_write.bit_select(wslot, 1).eq(kind == 1), wslot.eq(~wslot)]
        m.d.sync += full.eq(full_next)

        # --- present the output register ------------------------------------------------
        code_bits = fmt.n_inputs * fmt.input_bits
        m.d.comb += [
            self.o_frames.valid.eq(hold_full & ~hold_write),
            self.o_frames.payload.first.eq(hold[0]),
            self.o_frames.payload.last.eq(hold[1]),
            self.o_frames.payload.u.eq(hold[8:8 + code_bits]),
            self.o_writes.valid.eq(hold_full & hold_write),
            self.o_writes.payload.addr.eq(hold[:fmt.addr_bits]),
            self.o_writes.payload.value.eq(hold[fmt.addr_bits:fmt.addr_bits + fmt.value_bits]),
        ]
        with m.If((self.o_frames.valid & self.o_frames.ready) | (self.o_writes.valid & self.o_writes.ready)):
            m.d.sync += hold_full.eq(0)
        return m


class Framer(wiring.Component):
    """Sends a RESULT message per result beat, and a STATUS message per request; keeps the counters.

    A RESULT is sent straight from the offered result beat, one byte at a time
    picked by a multiplexer, with its CRC computed on the way; the beat is
    taken (``ready``) with the last CRC byte, so the core holds it meanwhile,
    which is the back-pressure towards the core.  A pending STATUS goes before
    the next RESULT.

    The counters live in one byte-wide BRAM, next to a copy of the whole
    STATUS message (header, protocol version, counters, hash, version string)
    that the STATUS is sent from.  Each ``events`` pulse (and each RESULT
    sent) marks its counter pending; an updater adds 1 to one pending counter
    at a time, a byte per two clocks (read, write), which is far faster than
    any counter can count (every counter needs at least one UART byte time,
    40 clocks or more, between two counts).  When a STATUS starts, the
    updater first finishes every count pending so far, then copies the
    counters into the message (so no multi-byte value tears), and the STATUS
    is sent from that copy.  After reset the updater clears the counters.

    Parameters
    ----------
    fmt : LinkFormat
    config_hash : bytes (8) or a 16-digit hex string
        Sent in STATUS (``ModelConfig.hash()`` of the configuration built).
    version : str
        Generator version, sent in STATUS (at most ``fmt.version_bytes`` ASCII characters).

    Attributes
    ----------
    i_results : In(stream.Signature(result_layout(fmt)))
    status_request : In(1)
    events : In(events_layout(RX_COUNTERS))
        The :class:`Deframer`'s count pulses.
    o : Out(stream.Signature(8))
        Bytes to the UART transmitter.
    result_sent : Out(1)
        Pulses once per RESULT message sent (the ``results`` counter counts these).
    """

    def __init__(self, fmt: LinkFormat, config_hash: bytes | str = bytes(8), version: str = ""):
        self._fmt = _check_format(fmt)
        if isinstance(config_hash, str):
            try:
                config_hash = bytes.fromhex(config_hash)
            except ValueError:
                raise ValueError(f"config_hash must be 16 hex digits, not {config_hash!r}") from None
        if not isinstance(config_hash, (bytes, bytearray)) or len(config_hash) != 8:
            self._MustUse__silence = True
            raise ValueError(f"config_hash must be 8 bytes, not {config_hash!r}")
        self._hash = bytes(config_hash)
        try:
            self._version = fmt.version_field(version)  # raises if too long / not ASCII
        except ValueError:
            self._MustUse__silence = True
            raise
        super().__init__({
            "i_results": In(stream.Signature(result_layout(fmt))),
            "status_request": In(1),
            "events": In(events_layout(RX_COUNTERS)),
            "o": Out(stream.Signature(8)),
            "result_sent": Out(1),
        })

    def _header(self, msg_type: MsgType) -> bytes:
        length = self._fmt.payload_bytes(msg_type)
        return SYNC + bytes([msg_type]) + length.to_bytes(2, "little")

    def _result_image(self, r) -> Value:
        fmt = self._fmt
        parts = [_bytes_const(self._header(MsgType.RESULT)), Cat(r.last, Const(0, 7)),
                 Cat(r.decision, Const(0, 8 * fmt.decision_bytes - fmt.decision_bits))]
        pad = 8 * fmt.result_bytes - fmt.result_width
        for k in range(fmt.n_outputs):
            y = r.y[k]
            parts.append(Cat(y, y[-1].replicate(pad)) if pad else y)
        return Cat(*parts)

    #: Offset of the first counter byte in the STATUS message (header, protocol version).
    COUNTERS_AT = 6

    def status_image(self) -> bytes:
        """The STATUS message without its CRC, all counters 0 (the memory's initial contents)."""
        fmt = self._fmt
        payload = bytes([PROTOCOL_VERSION]) + bytes(len(COUNTERS) * fmt.counter_bytes) + self._hash + self._version
        assert len(payload) == fmt.payload_bytes(MsgType.STATUS)
        return self._header(MsgType.STATUS) + payload

    def elaborate(self, platform):
        m = Module()
        fmt = self._fmt
        nb = fmt.counter_bytes
        n_counter_bytes = len(COUNTERS) * nb
        image = self.status_image()
        # Memory map: the STATUS message at 0; the live counters at `live`, so that the live
        # counter byte at address a is copied to a - span (clear bit `span` of a).
        span = 1 << (len(image) - 1).bit_length()
        live = self.COUNTERS_AT + span
        depth = 1 << (live + n_counter_bytes - 1).bit_length()
        m.submodules.mem = mem = Memory(shape=8, depth=depth, init=list(image))
        wr = mem.write_port()
        rd = mem.read_port()

        # --- counters: pending bits, one updater ----------------------------------------
        fetch = Signal()                      # the sender uses the read port this clock
        fetch_addr = Signal(range(depth))
        snap_req = Signal()                   # the sender waits for a copy of the counters
        snap_done = Signal()
        ev = Cat(*(getattr(self.events, n) for n in RX_COUNTERS), self.result_sent)
        pend = Signal(len(COUNTERS))
        take = Signal(len(COUNTERS))
        m.d.sync += pend.eq((pend & ~take) | ev)
        addr = Signal(range(depth), init=live)
        lo = Signal(range(nb))
        top_mask = (1 << (fmt.counter_bits - 8 * (nb - 1))) - 1
        counter_end = live + n_counter_bytes - 1
        m.d.comb += rd.addr.eq(Mux(fetch, fetch_addr, addr))

        with m.FSM(name="counters"):
            with m.State("CLEAR"):            # after reset: every live counter byte to 0
                m.d.comb += [wr.en.eq(1), wr.addr.eq(addr), wr.data.eq(0)]
                m.d.sync += addr.eq(addr + 1)
                with m.If(addr == counter_end):
                    m.next = "IDLE"
            with m.State("IDLE"):
                with m.If(pend.any()):
                    # The lowest pending counter; its bytes from the least significant one.
                    for i in reversed(range(len(COUNTERS))):
                        with m.If(pend[i]):
                            m.d.comb += take.eq(1 << i)
                            m.d.sync += addr.eq(live + i * nb)
                    m.d.sync += lo.eq(0)
                    m.next = "READ"
                with m.Elif(snap_req):
                    m.d.sync += addr.eq(live)
                    m.next = "COPY_READ"
            with m.State("READ"):
                with m.If(~fetch):
                    m.next = "ADD"
            with m.State("ADD"):
                top = lo == nb - 1
                plus = Signal(8)
                m.d.comb += [plus.eq(rd.data + 1), wr.en.eq(1), wr.addr.eq(addr),
                             wr.data.eq(Mux(top, plus & top_mask, plus))]
                m.d.sync += [addr.eq(addr + 1), lo.eq(lo + 1)]
                with m.If(top | (rd.data != 0xFF)):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "READ"
            with m.State("COPY_READ"):
                with m.If(~fetch):
                    m.next = "COPY_WRITE"
            with m.State("COPY_WRITE"):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(addr - span), wr.data.eq(rd.data)]
                m.d.sync += addr.eq(addr + 1)
                with m.If(addr == counter_end):
                    m.d.comb += snap_done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "COPY_READ"

        # --- sender ---------------------------------------------------------------------
        result_image = self._result_image(self.i_results.payload)
        n_result, n_status = len(result_image) // 8, len(image)
        index = Signal(range(max(n_result, n_status)))
        is_status = Signal()
        crc = Signal(16)
        pending = Signal()
        byte = Signal(8)
        last = Signal()
        m.d.comb += [fetch_addr.eq(index), last.eq(index == Mux(is_status, n_status - 1, n_result - 1))]

        with m.If(self.status_request):
            m.d.sync += pending.eq(1)

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += [index.eq(0), crc.eq(CRC16_INIT)]
                with m.If(pending):
                    m.d.sync += is_status.eq(1)
                    with m.If(~self.status_request):
                        m.d.sync += pending.eq(0)
                    m.next = "SNAP"
                with m.Elif(self.i_results.valid):
                    m.d.sync += is_status.eq(0)
                    m.next = "FETCH"
            with m.State("SNAP"):            # wait for the counters' copy
                m.d.comb += snap_req.eq(1)
                with m.If(snap_done):
                    m.next = "FETCH"
            with m.State("FETCH"):           # the STATUS byte is read from the memory
                m.d.comb += fetch.eq(is_status)
                m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += byte.eq(Mux(is_status, rd.data, result_image.word_select(index, 8)))
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(byte)]
                with m.If(self.o.ready):
                    m.d.sync += [crc.eq(crc16_update(crc, byte)), index.eq(index + 1)]
                    with m.If(last):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "FETCH"
            with m.State("CRC_HI"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc[8:])]
                with m.If(self.o.ready):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc[:8])]
                with m.If(self.o.ready):
                    # The result beat was held by the core while its message went out.
                    m.d.comb += [self.i_results.ready.eq(~is_status), self.result_sent.eq(~is_status)]
                    m.next = "IDLE"
        return m


class Link(wiring.Component):
    """UART pins on one side, the core's streams on the other.

    Parameters
    ----------
    fmt : LinkFormat
    clk_freq : float
        ``sync`` domain frequency, Hz.
    baud : float
        Default 115200; up to clk_freq / 4 when the divisor is within 2 %.
    config_hash, version
        Constants sent in STATUS (see :class:`Framer`).
    timeout : float
        Inter-byte timeout in seconds (default 5 ms, at least 2 byte times).

    Attributes
    ----------
    rx : In(1), tx : Out(1)
        The UART pins (FTDI TXD -> rx, tx -> FTDI RXD).
    o_frames : Out(stream.Signature(frame_layout(fmt)))
        To the core; same signature as ``ReservoirCore.frames`` for a matching format.
    i_results : In(stream.Signature(result_layout(fmt)))
        From the core; same signature as ``ReservoirCore.results``.
    o_writes : Out(stream.Signature(write_layout(fmt)))
        WEIGHT_WRITE requests (flat address, value); leave unconnected (ready
        low) and the link stalls at the first one, so tie ``ready`` high if unused.
    events : Out(events_layout())
        One-clock pulse per count of each STATUS counter, e.g. for LEDs.

    Raises
    ------
    BaudError, ValueError
    """

    def __init__(self, fmt: LinkFormat, clk_freq: float, baud: float = 115200, *,
                 config_hash: bytes | str = bytes(8), version: str = "", timeout: float = DEFAULT_TIMEOUT):
        try:
            self._fmt = _check_format(fmt)
            self._divisor = baud_divisor(clk_freq, baud)
            self._clk_freq, self._baud = clk_freq, baud
            cycles = round(timeout * clk_freq)
            if cycles < 20 * self._divisor:
                raise ValueError(f"timeout {timeout:g} s is {cycles} clocks, less than 2 byte times "
                                 f"({20 * self._divisor} clocks at {baud:g} baud)")
            self._timeout_cycles = cycles
            # Built here so that a bad hash or version is refused at construction.
            self.framer = Framer(fmt, config_hash, version)
            self.deframer = Deframer(fmt, cycles)
        except Exception:
            self._MustUse__silence = True   # no "created but never used" warning for a refused Link
            raise
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "o_frames": Out(stream.Signature(frame_layout(fmt))),
            "i_results": In(stream.Signature(result_layout(fmt))),
            "o_writes": Out(stream.Signature(write_layout(fmt))),
            "events": Out(events_layout()),
        })

    @property
    def fmt(self) -> LinkFormat:
        return self._fmt

    @property
    def divisor(self) -> int:
        """UART clocks per bit."""
        return self._divisor

    @property
    def timeout_cycles(self) -> int:
        return self._timeout_cycles

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = rx = UartRx(self._clk_freq, self._baud)
        m.submodules.uart_tx = tx = UartTx(self._clk_freq, self._baud)
        m.submodules.deframer = deframer = self.deframer
        m.submodules.framer = framer = self.framer
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx), deframer.line_error.eq(rx.framing_error)]
        wiring.connect(m, rx.o, deframer.i)
        wiring.connect(m, framer.o, tx.i)
        m.d.comb += [framer.status_request.eq(deframer.status_request),
                     framer.events.eq(deframer.events)]
        wiring.connect(m, wiring.flipped(self.o_frames), deframer.o_frames)
        wiring.connect(m, wiring.flipped(self.o_writes), deframer.o_writes)
        wiring.connect(m, wiring.flipped(self.i_results), framer.i_results)
        for name in RX_COUNTERS:
            m.d.comb += getattr(self.events, name).eq(getattr(deframer.events, name))
        m.d.comb += self.events.results.eq(framer.result_sent)
        return m
