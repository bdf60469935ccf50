"""The framed UART link between the host and the reservoir core.

::

    rx pin ─► UartRx ─► Deframer ─┬─► o_frames  (INPUT_FRAME payloads, to the core)
                                  ├─► o_writes  (WEIGHT_WRITE payloads, run-time readout)
                                  └─► status_request, events
                                             │
    tx pin ◄─ UartTx ◄─ Framer ◄─────────────┴── i_results (from the core)
                          └─ counters and the STATUS message in one BRAM

The wire format is ``hdl/wire.py`` (``docs/link.md``): every size and every
payload layout comes from one :class:`hdl.wire.LinkFormat`, the one the host
(``pygen/protocol.py``) packs and unpacks with.  The CRC is
``amaranth.lib.crc``'s CRC-16/CCITT-FALSE.  The deframer is two components,
one idea each: :class:`FrameReceiver` (sync hunting, header checks, payload
with the CRC check, the verdict) and :class:`SlotBuffer` (two payload slots
and the output register that dispatches a frame to ``o_frames`` or
``o_writes``).  Nothing is passed on from a frame before its CRC has been
checked.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .checked import CheckedComponent
from .uart import UartRx, UartTx, baud_divisor
from .wire import COUNTERS, CRC16, CRC16_AFTER_SYNC, HEADER_BYTES, HOST_TO_BOARD, SYNC, LinkFormat, MsgType, Status

__all__ = ["Deframer", "FrameReceiver", "SlotBuffer", "Framer", "Link", "line_timing", "frame_layout", "result_layout",
           "write_layout", "counters_layout", "events_layout", "RX_COUNTERS"]

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
        raise TypeError(f"fmt must be a hdl.wire.LinkFormat, not {fmt!r}")
    return fmt


def _check_timeout(timeout_cycles) -> int:
    if not isinstance(timeout_cycles, int) or isinstance(timeout_cycles, bool) or timeout_cycles < 1:
        raise ValueError(f"timeout_cycles must be a positive integer, not {timeout_cycles!r}")
    return timeout_cycles


def _config_hash(config_hash: bytes | str) -> bytes:
    """The 8 bytes of a configuration hash given as bytes or 16 hex digits."""
    if isinstance(config_hash, str):
        try:
            config_hash = bytes.fromhex(config_hash)
        except ValueError:
            raise ValueError(f"config_hash must be 16 hex digits, not {config_hash!r}") from None
    if not isinstance(config_hash, (bytes, bytearray)) or len(config_hash) != 8:
        raise ValueError(f"config_hash must be 8 bytes, not {config_hash!r}")
    return bytes(config_hash)


def line_timing(clk_freq: float, baud: float, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, int]:
    """(UART clocks per bit, frame timeout in clocks) of a :class:`Link` at ``clk_freq`` Hz and ``baud``.

    Raises
    ------
    BaudError
        See :func:`~hdl.uart.baud_divisor`.
    ValueError
        When ``timeout`` (seconds) is shorter than 2 byte times.
    """
    divisor = baud_divisor(clk_freq, baud)
    cycles = round(timeout * clk_freq)
    if cycles < 20 * divisor:
        raise ValueError(f"timeout {timeout:g} s is {cycles} clocks, less than 2 byte times "
                         f"({20 * divisor} clocks at {baud:g} baud)")
    return divisor, cycles


def _bytes_const(raw: bytes) -> Const:
    """Bytes as a constant whose byte 0 is in the least significant bits (sent first)."""
    return Const(int.from_bytes(raw, "little"), 8 * len(raw))


def _slot_bytes(fmt: LinkFormat) -> int:
    """Bytes per payload slot: the largest payload passed on to the core side."""
    return max(fmt.payload_bytes(MsgType.INPUT_FRAME), fmt.payload_bytes(MsgType.WEIGHT_WRITE))


def store_layout(fmt: LinkFormat) -> data.StructLayout:
    """One payload byte to store at ``offset`` of the slot being written."""
    return data.StructLayout({"en": 1, "offset": range(_slot_bytes(fmt)), "data": 8})


class FrameReceiver(CheckedComponent):
    """Finds frames in the received bytes, checks them, and says what to do with each.

    One byte per clock, every clock (a UART cannot wait):

    * **hunt**: ``A5 5A`` (a repeated ``A5`` keeps waiting for ``5A``);
    * **header**: TYPE must be one the board accepts (else ``unknown_type``),
      LEN exactly its payload size (else ``bad_length``), checked as they come;
    * **payload**: stored through ``store`` (unless ``busy`` was set when TYPE
      came: then the frame is received and checked only, and counted ``overrun``),
      while ``amaranth.lib.crc`` runs over TYPE, LEN, payload and CRC;
    * **verdict**, the clock after the last CRC byte (the CRC ``Processor`` is
      registered): ``bad_crc``, or ``frames_ok`` with ``commit`` (INPUT_FRAME,
      WEIGHT_WRITE) or ``status_request``.

    After a drop the hunt starts again at the byte that showed the frame to
    be bad (it may be the SYNC0 of the next header); the bytes before it are not
    looked at again.  A header seen and no byte within ``timeout_cycles``:
    ``truncated``.  A line error abandons the frame in progress.
    ``pygen.protocol.board_decoder`` is the exact Python model.

    Attributes
    ----------
    i : In(stream.Signature(8))
        Received bytes (``ready`` is always 1).
    line_error : In(1)
    busy : In(1)
        No free slot to store a frame into (sampled when TYPE comes).
    store : Out(store_layout(fmt))
    commit : Out(1)
        A good INPUT_FRAME or WEIGHT_WRITE is complete in the slot written.
    commit_write : Out(1)
        With ``commit``: it is a WEIGHT_WRITE.
    status_request : Out(1)
    events : Out(events_layout(RX_COUNTERS))
    """

    @classmethod
    def check(cls, fmt: LinkFormat, timeout_cycles: int) -> None:
        _check_format(fmt)
        _check_timeout(timeout_cycles)

    def __init__(self, fmt: LinkFormat, timeout_cycles: int):
        self._fmt = fmt
        self._timeout = timeout_cycles
        super().__init__({
            "i": In(stream.Signature(8)),
            "line_error": In(1),
            "busy": In(1),
            "store": Out(store_layout(fmt)),
            "commit": Out(1),
            "commit_write": Out(1),
            "status_request": Out(1),
            "events": Out(events_layout(RX_COUNTERS)),
        })

    def elaborate(self, platform):
        m = Module()
        lengths = self._fmt.lengths(HOST_TO_BOARD)
        nbytes = _slot_bytes(self._fmt)
        # The CRC starts after the sync bytes (its initial value is the CRC of SYNC), so a
        # header found at any byte can start it with `start` alone.
        m.submodules.crc = crc = CRC16_AFTER_SYNC.create()

        byte = self.i.payload
        got = Signal()
        # A byte arriving with a line error (never from UartRx) is ignored.
        m.d.comb += [self.i.ready.eq(1), got.eq(self.i.valid & ~self.line_error), crc.data.eq(byte)]

        ev = {name: getattr(self.events, name) for name in RX_COUNTERS}
        m.d.comb += ev["line_errors"].eq(self.line_error)

        idle = Signal(range(self._timeout + 1))
        with m.If(got):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self._timeout):
            m.d.sync += idle.eq(idle + 1)
        timed_out = ~got & (idle == self._timeout)

        msg_type = Signal(8)                 # TYPE of the frame in progress
        len_lo_ok = Signal()                 # LEN's low byte was the type's
        offset = Signal(range(nbytes + 2))   # payload and CRC bytes received
        skip = Signal()                      # no free slot: receive and check, then count overrun
        resync = Signal()                    # the last CRC byte was SYNC0: hunt from it if the frame is bad

        def exact_length(byte_of_len):
            """LEN byte (0 low, 1 high) of the frame's type, as a signal."""
            value = Signal(8)
            for t, n in lengths.items():
                with m.If(msg_type == t):
                    m.d.comb += value.eq((n >> (8 * byte_of_len)) & 0xFF)
            return value

        # --- the behaviour of each phase for this clock's byte -----------------------------
        def hunt():
            with m.If(got & (byte == SYNC[0])):
                m.next = "SYNC1"

        def sync1():
            with m.If(self.line_error | timed_out):
                m.next = "HUNT"
            with m.Elif(got):
                with m.If(byte == SYNC[1]):
                    m.d.comb += crc.start.eq(1)
                    m.next = "TYPE"
                with m.Elif(byte != SYNC[0]):
                    m.next = "HUNT"

        def drop(reason):
            # The byte that shows a frame to be bad may itself be the SYNC0 of the next header.
            m.d.comb += ev[reason].eq(1)
            with m.If(byte == SYNC[0]):
                m.next = "SYNC1"
            with m.Else():
                m.next = "HUNT"

        def abandon_on_error():
            # Leaving a frame half-received: a garbled byte, or the line went quiet.
            with m.If(self.line_error):
                m.next = "HUNT"
            with m.Elif(timed_out):
                m.d.comb += ev["truncated"].eq(1)
                m.next = "HUNT"

        with m.FSM():
            with m.State("HUNT"):
                hunt()
            with m.State("SYNC1"):
                sync1()
            # --- header: TYPE, LEN, each checked as it comes ---------------------------------
            with m.State("TYPE"):
                with m.If(got):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += [msg_type.eq(byte),
                                 skip.eq((byte != MsgType.STATUS_REQUEST) & self.busy)]
                    with m.If(Cat(*(byte == t for t in lengths)).any()):
                        m.next = "LEN0"
                    with m.Else():
                        drop("unknown_type")
                abandon_on_error()
            with m.State("LEN0"):
                with m.If(got):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += len_lo_ok.eq(byte == exact_length(0))
                    m.next = "LEN1"
                abandon_on_error()
            with m.State("LEN1"):
                with m.If(got):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += offset.eq(0)
                    with m.If(len_lo_ok & (byte == exact_length(1))):
                        m.next = "BODY"
                    with m.Else():
                        drop("bad_length")
                abandon_on_error()
            # --- payload and CRC bytes --------------------------------------------------------
            with m.State("BODY"):
                in_payload, at_crc_lo = Signal(), Signal()
                for t, n in lengths.items():
                    with m.If(msg_type == t):
                        m.d.comb += [in_payload.eq(offset < n if n else 0), at_crc_lo.eq(offset == n + 1)]
                m.d.comb += [self.store.offset.eq(offset), self.store.data.eq(byte)]
                with m.If(got):
                    m.d.comb += [crc.valid.eq(1), self.store.en.eq(~skip & in_payload)]
                    m.d.sync += offset.eq(offset + 1)
                    with m.If(at_crc_lo):
                        m.d.sync += resync.eq(byte == SYNC[0])
                        m.next = "VERDICT"
                abandon_on_error()
            # --- verdict (one clock; this clock's byte is already the next frame's) ---------
            with m.State("VERDICT"):
                good = crc.match_detected
                with m.If(~good):
                    m.d.comb += ev["bad_crc"].eq(1)
                with m.Elif(msg_type == MsgType.STATUS_REQUEST):
                    m.d.comb += [ev["frames_ok"].eq(1), self.status_request.eq(1)]
                with m.Elif(skip):
                    m.d.comb += ev["overrun"].eq(1)
                with m.Else():
                    m.d.comb += [ev["frames_ok"].eq(1), self.commit.eq(1),
                                 self.commit_write.eq(msg_type == MsgType.WEIGHT_WRITE)]
                with m.If(~good & resync):
                    m.next = "SYNC1"
                    sync1()
                with m.Else():
                    m.next = "HUNT"
                    hunt()
        return m


class SlotBuffer(CheckedComponent):
    """Two payload slots in one byte Memory, and the output register that dispatches a frame.

    The receiver writes a payload into the current write slot (``store``) and
    ``commit``s it once its CRC was good; a copier moves full slots, oldest
    first, into the output register, which ``o_frames`` (an INPUT_FRAME) or
    ``o_writes`` (a WEIGHT_WRITE) presents through the wire format's payload
    layouts.  So two frames can wait behind the one being offered; ``busy``
    says the write slot is still full.

    Attributes
    ----------
    store : In(store_layout(fmt))
    commit, commit_write : In(1)
    busy : Out(1)
    o_frames : Out(stream.Signature(frame_layout(fmt)))
    o_writes : Out(stream.Signature(write_layout(fmt)))
    """

    @classmethod
    def check(cls, fmt: LinkFormat) -> None:
        _check_format(fmt)

    def __init__(self, fmt: LinkFormat):
        self._fmt = fmt
        super().__init__({
            "store": In(store_layout(fmt)),
            "commit": In(1),
            "commit_write": In(1),
            "busy": Out(1),
            "o_frames": Out(stream.Signature(frame_layout(fmt))),
            "o_writes": Out(stream.Signature(write_layout(fmt))),
        })

    def elaborate(self, platform):
        m = Module()
        fmt = self._fmt
        nbytes = _slot_bytes(fmt)
        abits = max(1, (nbytes - 1).bit_length())
        m.submodules.mem = mem = Memory(shape=8, depth=2 << abits, init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        full = Signal(2)                  # slot holds a good frame not yet copied
        slot_write = Signal(2)            # slot holds a WEIGHT_WRITE (else an INPUT_FRAME)
        wslot = Signal()                  # slot the next frame is written into
        m.d.comb += [wr.addr.eq(Cat(self.store.offset[:abits], wslot)), wr.data.eq(self.store.data),
                     wr.en.eq(self.store.en), self.busy.eq(full.bit_select(wslot, 1))]

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
        with m.If(self.commit):
            m.d.comb += full_next.bit_select(wslot, 1).eq(1)
            m.d.sync += [slot_write.bit_select(wslot, 1).eq(self.commit_write), wslot.eq(~wslot)]
        m.d.sync += full.eq(full_next)

        # --- dispatch: the output register seen through the payload layouts -----------------
        frame_l, write_l = fmt.payload_layout(MsgType.INPUT_FRAME), fmt.payload_layout(MsgType.WEIGHT_WRITE)
        frame = data.View(frame_l, hold[:frame_l.size])
        write = data.View(write_l, hold[:write_l.size])
        m.d.comb += [
            self.o_frames.valid.eq(hold_full & ~hold_write),
            self.o_frames.payload.first.eq(frame.flags.first),
            self.o_frames.payload.last.eq(frame.flags.last),
            self.o_frames.payload.u.eq(frame.u),
            self.o_writes.valid.eq(hold_full & hold_write),
            self.o_writes.payload.addr.eq(write.addr),
            self.o_writes.payload.value.eq(write.value),
        ]
        with m.If((self.o_frames.valid & self.o_frames.ready) | (self.o_writes.valid & self.o_writes.ready)):
            m.d.sync += hold_full.eq(0)
        return m


class Deframer(CheckedComponent):
    """Received bytes in, good frames out: a :class:`FrameReceiver` into a :class:`SlotBuffer`.

    A frame arriving with both slots full is received, checked and counted as
    ``overrun``.  A STATUS_REQUEST with a good CRC pulses ``status_request``.
    ``pygen.protocol.board_decoder(fmt)`` is the exact Python model of what is
    accepted and counted.

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
        One-clock pulses, one per count of each counter (``hdl.wire.COUNTERS``);
        the :class:`Framer` keeps the counters.
    """

    @classmethod
    def check(cls, fmt: LinkFormat, timeout_cycles: int) -> None:
        _check_format(fmt)
        _check_timeout(timeout_cycles)

    def __init__(self, fmt: LinkFormat, timeout_cycles: int):
        self._fmt = fmt
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
        return _slot_bytes(self._fmt)

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = rx = FrameReceiver(self._fmt, self._timeout)
        m.submodules.slots = slots = SlotBuffer(self._fmt)
        wiring.connect(m, wiring.flipped(self.i), rx.i)
        wiring.connect(m, wiring.flipped(self.o_frames), slots.o_frames)
        wiring.connect(m, wiring.flipped(self.o_writes), slots.o_writes)
        m.d.comb += [rx.line_error.eq(self.line_error), rx.busy.eq(slots.busy),
                     slots.store.eq(rx.store), slots.commit.eq(rx.commit), slots.commit_write.eq(rx.commit_write),
                     self.status_request.eq(rx.status_request), self.events.eq(rx.events)]
        return m


class Framer(CheckedComponent):
    """Sends a RESULT message per result beat, and a STATUS message per request; keeps the counters.

    A RESULT is sent straight from the offered result beat, one byte at a time
    picked by a multiplexer, with its CRC computed on the way; the beat is
    taken (``ready``) the clock after the last CRC byte, so the core holds it meanwhile,
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

    @classmethod
    def check(cls, fmt: LinkFormat, config_hash: bytes | str = bytes(8), version: str = "") -> None:
        _check_format(fmt)
        _config_hash(config_hash)
        fmt.version_field(version)  # raises if too long / not ASCII

    def __init__(self, fmt: LinkFormat, config_hash: bytes | str = bytes(8), version: str = ""):
        self._fmt = fmt
        self._hash = _config_hash(config_hash)
        self._version = version
        super().__init__({
            "i_results": In(stream.Signature(result_layout(fmt))),
            "status_request": In(1),
            "events": In(events_layout(RX_COUNTERS)),
            "o": Out(stream.Signature(8)),
            "result_sent": Out(1),
        })

    def _result_image(self, m: Module, r) -> Value:
        """A whole RESULT message without its CRC, byte 0 in the least significant bits."""
        payload = Signal(self._fmt.payload_layout(MsgType.RESULT))
        m.d.comb += [payload.flags.last.eq(r.last), payload.decision.eq(r.decision)]
        # y[k] is sign-extended to its result_bytes by the signed assignment.
        m.d.comb += [payload.y[k].eq(r.y[k]) for k in range(self._fmt.n_outputs)]
        return Cat(_bytes_const(self._fmt.header(MsgType.RESULT)), payload.as_value())

    @property
    def COUNTERS_AT(self) -> int:
        """Offset of the first counter byte in the STATUS message (header, protocol version)."""
        return HEADER_BYTES + self._fmt.payload_layout(MsgType.STATUS)["counters"].offset // 8

    def status_image(self) -> bytes:
        """The STATUS message without its CRC, all counters 0 (the memory's initial contents)."""
        fmt = self._fmt
        return fmt.header(MsgType.STATUS) + fmt.pack_status(Status({}, self._hash, self._version))

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
        result_image = self._result_image(m, self.i_results.payload)
        m.submodules.crc = crc = CRC16.create()
        n_result, n_status = len(result_image) // 8, len(image)
        index = Signal(range(max(n_result, n_status)))
        is_status = Signal()
        pending = Signal()
        byte = Signal(8)
        last = Signal()
        m.d.comb += [fetch_addr.eq(index), last.eq(index == Mux(is_status, n_status - 1, n_result - 1))]

        with m.If(self.status_request):
            m.d.sync += pending.eq(1)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += crc.start.eq(1)
                m.d.sync += index.eq(0)
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
                m.d.comb += crc.data.eq(byte)
                with m.If(self.o.ready):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += index.eq(index + 1)
                    with m.If(last):
                        m.next = "CRC_HI"
                    with m.Else():
                        m.next = "FETCH"
            with m.State("CRC_HI"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc.crc[8:])]
                with m.If(self.o.ready):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc.crc[:8])]
                with m.If(self.o.ready):
                    m.next = "TAKE"
            with m.State("TAKE"):
                # The result beat was held by the core while its message went out. It is taken a
                # clock after its last byte, so that `ready` towards the core is a state of this FSM
                # alone: taken with the last byte, it waited on the UART transmitter's counters, and
                # that path into the classifier's output register was the board's slowest.
                m.d.comb += [self.i_results.ready.eq(~is_status), self.result_sent.eq(~is_status)]
                m.next = "IDLE"
        return m


class Link(CheckedComponent):
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

    @classmethod
    def check(cls, fmt: LinkFormat, clk_freq: float, baud: float = 115200, *,
              config_hash: bytes | str = bytes(8), version: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        _check_format(fmt)
        line_timing(clk_freq, baud, timeout)
        Framer.check(fmt, config_hash, version)

    def __init__(self, fmt: LinkFormat, clk_freq: float, baud: float = 115200, *,
                 config_hash: bytes | str = bytes(8), version: str = "", timeout: float = DEFAULT_TIMEOUT):
        self._fmt = fmt
        self._divisor, self._timeout_cycles = line_timing(clk_freq, baud, timeout)
        self._clk_freq, self._baud = clk_freq, baud
        self.framer = Framer(fmt, config_hash, version)
        self.deframer = Deframer(fmt, self._timeout_cycles)
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
