"""Framed host <-> board messages over the UART link (host side, pure Python).

One frame on the wire (all multi-byte fields little-endian except the CRC)::

    offset  size  field
    0       1     SYNC0 = 0xA5
    1       1     SYNC1 = 0x5A
    2       1     TYPE   (MsgType)
    3       2     LEN    payload length in bytes, little-endian
    5       LEN   PAYLOAD
    5+LEN   2     CRC    CRC-16/CCITT-FALSE of bytes 0 .. 4+LEN, big-endian

CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, no reflection, no final
XOR (check value 0x29B1 for ``b"123456789"``).  Sent big-endian, the CRC of a
whole good frame (CRC bytes included) is 0, which is how both sides check it.
It catches every error burst up to 16 bits, so any single-bit flip anywhere in
a frame is detected.

Every payload size is fixed by a :class:`LinkFormat`, the one description of
the format that the host code and the gateware (``hdl/link.py``) are both
built from; a frame whose LEN is not the size its TYPE needs is dropped at
its header, which also makes false headers in junk very unlikely (2 sync
bytes, a known type and an exact 16-bit length must all match).

:class:`Decoder` is incremental: feed it bytes as they come, it returns the
complete valid messages and counts what it dropped.  ``docs/link.md`` has the
payload tables, the resynchronisation rules and the throughput figures.
"""

from __future__ import annotations

import binascii
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from sw_model.errors import MemresError

__all__ = [
    "SYNC", "HEADER_BYTES", "CRC_BYTES", "OVERHEAD_BYTES", "PROTOCOL_VERSION", "COUNTERS",
    "MsgType", "LinkFormat", "LinkFormatError", "Message", "InputFrame", "Result", "Status",
    "WeightWrite", "DropCounts", "Decoder", "crc16", "encode",
]

SYNC = b"\xA5\x5A"
HEADER_BYTES = 5        # SYNC0 SYNC1 TYPE LEN_LO LEN_HI
CRC_BYTES = 2
OVERHEAD_BYTES = HEADER_BYTES + CRC_BYTES
#: Bumped whenever the byte layout of any message changes; first byte of STATUS.
PROTOCOL_VERSION = 1
#: Largest LEN the 16-bit field can carry.
MAX_LEN_FIELD = 0xFFFF
#: The board's counters, in the order they appear in a STATUS payload.
COUNTERS = (
    "frames_ok",     # frames with a good CRC that were acted upon
    "bad_crc",       # complete frames whose CRC did not match
    "truncated",     # a header was seen, then the line went idle before the frame ended
    "unknown_type",  # TYPE not one the board accepts
    "bad_length",    # LEN not the size the TYPE needs (includes anything above the maximum)
    "overrun",       # good frames dropped because the core had not taken the previous ones
    "line_errors",   # UART bytes with a bad stop bit (the frame in progress is abandoned)
    "results",       # RESULT messages sent
)


class MsgType(enum.IntEnum):
    """Message types; bit 7 set for board -> host."""
    INPUT_FRAME = 0x01
    STATUS_REQUEST = 0x02
    WEIGHT_WRITE = 0x03
    RESULT = 0x81
    STATUS = 0x82
    ERROR = 0x83   # reserved: not sent by the current gateware


HOST_TO_BOARD = (MsgType.INPUT_FRAME, MsgType.STATUS_REQUEST, MsgType.WEIGHT_WRITE)
BOARD_TO_HOST = (MsgType.RESULT, MsgType.STATUS)

INPUT_FIRST = 0x01      # INPUT_FRAME flags byte
INPUT_LAST = 0x02
RESULT_LAST = 0x01      # RESULT flags byte


class LinkFormatError(MemresError, ValueError):
    """A link format parameter out of range; the message names it."""


def crc16(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of *data* (continue a running CRC by passing it as *crc*)."""
    return binascii.crc_hqx(data, crc)


def encode(msg_type: int, payload: bytes = b"") -> bytes:
    """One complete frame: sync, type, length, payload, CRC."""
    msg_type = int(msg_type)
    if not 0 <= msg_type <= 0xFF:
        raise ValueError(f"message type must be a byte, not {msg_type!r}")
    if len(payload) > MAX_LEN_FIELD:
        raise ValueError(f"payload of {len(payload)} bytes does not fit the 16-bit length field")
    body = SYNC + bytes([msg_type]) + len(payload).to_bytes(2, "little") + bytes(payload)
    return body + crc16(body).to_bytes(2, "big")


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise LinkFormatError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
    return value


class InputFrame(NamedTuple):
    u: list[int]
    first: bool
    last: bool


class Result(NamedTuple):
    y: list[int]
    decision: int
    last: bool


class WeightWrite(NamedTuple):
    addr: int
    value: int


@dataclass(frozen=True)
class Status:
    counters: dict[str, int]
    config_hash: bytes
    version: str
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class LinkFormat:
    """Sizes of every message payload; the host code and the gateware are built from one of these.

    Parameters
    ----------
    n_inputs : int
        C, input codes per INPUT_FRAME.
    input_bits : int
        Width of one input code (unsigned).
    n_outputs : int
        K, readout outputs per RESULT.
    result_width : int
        Width W of the signed y[k] the core produces.
    result_bytes : int, optional
        Bytes per y[k] on the wire (sign-extended); default ceil(W / 8).
    counter_bits : int
        Width of the board's counters (they wrap; the host works with differences).
    version_bytes : int
        Bytes of the NUL-padded generator version string in STATUS.
    addr_bits, value_bits : int
        WEIGHT_WRITE address (unsigned) and value (signed) widths; whole bytes.
    """

    n_inputs: int
    input_bits: int
    n_outputs: int
    result_width: int
    result_bytes: int | None = None
    counter_bits: int = 16
    version_bytes: int = 16
    addr_bits: int = 16
    value_bits: int = 32

    def __post_init__(self):
        _check_int("n_inputs", self.n_inputs, 1, 4096)
        _check_int("input_bits", self.input_bits, 1, 32)
        _check_int("n_outputs", self.n_outputs, 1, 65536)
        _check_int("result_width", self.result_width, 1, 64)
        if self.result_bytes is None:
            object.__setattr__(self, "result_bytes", (self.result_width + 7) // 8)
        _check_int("result_bytes", self.result_bytes, (self.result_width + 7) // 8, 8)
        _check_int("counter_bits", self.counter_bits, 8, 64)
        _check_int("version_bytes", self.version_bytes, 1, 64)
        for name in ("addr_bits", "value_bits"):
            bits = _check_int(name, getattr(self, name), 8, 64)
            if bits % 8:
                raise LinkFormatError(f"{name} must be a multiple of 8, not {bits}")
        for t in MsgType:
            if t is not MsgType.ERROR and self.payload_bytes(t) > MAX_LEN_FIELD:
                raise LinkFormatError(f"{t.name} payload of {self.payload_bytes(t)} bytes exceeds "
                                      f"the 16-bit length field")

    @classmethod
    def from_layouts(cls, frame_layout, result_layout, **kw) -> "LinkFormat":
        """Read C, input_bits, K and W from the core's payload layouts.

        *frame_layout* must have a field ``u`` (ArrayLayout of unsigned codes),
        *result_layout* a field ``y`` (ArrayLayout of signed values).
        """
        u, y = frame_layout["u"].shape, result_layout["y"].shape
        return cls(n_inputs=u.length, input_bits=u.elem_shape.width, n_outputs=y.length,
                   result_width=y.elem_shape.width, **kw)

    # --- derived sizes ------------------------------------------------------------

    @property
    def decision_bits(self) -> int:
        """Width of the running decision (an index 0 .. K-1, at least 1 bit)."""
        return max(1, (self.n_outputs - 1).bit_length())

    @property
    def decision_bytes(self) -> int:
        return (self.decision_bits + 7) // 8

    @property
    def code_bytes(self) -> int:
        """Bytes of the C packed input codes."""
        return (self.n_inputs * self.input_bits + 7) // 8

    @property
    def counter_bytes(self) -> int:
        return (self.counter_bits + 7) // 8

    def payload_bytes(self, msg_type: int) -> int:
        """The exact payload size of a message type."""
        t = MsgType(msg_type)
        if t is MsgType.INPUT_FRAME:
            return 1 + self.code_bytes
        if t is MsgType.STATUS_REQUEST:
            return 0
        if t is MsgType.WEIGHT_WRITE:
            return (self.addr_bits + self.value_bits) // 8
        if t is MsgType.RESULT:
            return 1 + self.decision_bytes + self.n_outputs * self.result_bytes
        if t is MsgType.STATUS:
            return 1 + len(COUNTERS) * self.counter_bytes + 8 + self.version_bytes
        raise LinkFormatError(f"{t.name} has no defined payload")

    def frame_bytes(self, msg_type: int) -> int:
        """Bytes on the wire for one message of this type."""
        return OVERHEAD_BYTES + self.payload_bytes(msg_type)

    def lengths(self, types: Iterable[MsgType]) -> dict[int, int]:
        return {int(t): self.payload_bytes(t) for t in types}

    def frames_per_second(self, baud: int, msg_type: int = MsgType.INPUT_FRAME) -> float:
        """Messages per second at *baud* (8N1: 10 bit times a byte, no gaps)."""
        return baud / (10 * self.frame_bytes(msg_type))

    # --- decoders ---------------------------------------------------------------------

    def host_decoder(self) -> "Decoder":
        """Decoder for what the board sends (RESULT, STATUS), rescanning after a bad frame."""
        lengths = self.lengths(BOARD_TO_HOST)
        return Decoder(max(lengths.values()), lengths, rescan=True)

    def board_decoder(self) -> "Decoder":
        """Decoder for what the host sends, behaving exactly like the gateware deframer.

        It does not rescan a dropped frame's bytes (the gateware cannot), so it is
        the reference model that the gateware's output and counters must match.
        """
        lengths = self.lengths(HOST_TO_BOARD)
        return Decoder(max(lengths.values()), lengths, rescan=False)

    # --- payloads ---------------------------------------------------------------------

    def _check_payload(self, msg_type: MsgType, payload: bytes) -> None:
        if len(payload) != self.payload_bytes(msg_type):
            raise ValueError(f"{msg_type.name} payload must be {self.payload_bytes(msg_type)} bytes, "
                             f"not {len(payload)}")

    def pack_input_frame(self, u: Sequence[int], first: bool = False, last: bool = False) -> bytes:
        """Flags byte (bit 0 first, bit 1 last), then the codes bit-packed, code 0 in the LSBs."""
        if len(u) != self.n_inputs:
            raise ValueError(f"INPUT_FRAME needs {self.n_inputs} codes, not {len(u)}")
        word = 0
        for c, code in enumerate(u):
            code = int(code)
            if not 0 <= code < 1 << self.input_bits:
                raise ValueError(f"input code u[{c}] = {code} does not fit {self.input_bits} unsigned bits")
            word |= code << (c * self.input_bits)
        flags = (INPUT_FIRST if first else 0) | (INPUT_LAST if last else 0)
        return bytes([flags]) + word.to_bytes(self.code_bytes, "little")

    def unpack_input_frame(self, payload: bytes) -> InputFrame:
        self._check_payload(MsgType.INPUT_FRAME, payload)
        word = int.from_bytes(payload[1:], "little")
        mask = (1 << self.input_bits) - 1
        u = [(word >> (c * self.input_bits)) & mask for c in range(self.n_inputs)]
        return InputFrame(u, bool(payload[0] & INPUT_FIRST), bool(payload[0] & INPUT_LAST))

    def encode_input_frame(self, u: Sequence[int], first: bool = False, last: bool = False) -> bytes:
        return encode(MsgType.INPUT_FRAME, self.pack_input_frame(u, first, last))

    def pack_result(self, y: Sequence[int], decision: int, last: bool = False) -> bytes:
        """Flags byte (bit 0 last), decision (unsigned), then y[0..K-1] signed, little-endian."""
        if len(y) != self.n_outputs:
            raise ValueError(f"RESULT needs {self.n_outputs} outputs, not {len(y)}")
        if not 0 <= int(decision) < 1 << self.decision_bits:
            raise ValueError(f"decision {decision} does not fit {self.decision_bits} bits")
        lo, hi = -(1 << (self.result_width - 1)), (1 << (self.result_width - 1)) - 1
        out = bytearray([RESULT_LAST if last else 0])
        out += int(decision).to_bytes(self.decision_bytes, "little")
        for k, v in enumerate(y):
            if not lo <= int(v) <= hi:
                raise ValueError(f"y[{k}] = {v} outside the signed {self.result_width}-bit range {lo}..{hi}")
            out += int(v).to_bytes(self.result_bytes, "little", signed=True)
        return bytes(out)

    def unpack_result(self, payload: bytes) -> Result:
        self._check_payload(MsgType.RESULT, payload)
        d0, rb = 1 + self.decision_bytes, self.result_bytes
        y = [int.from_bytes(payload[d0 + k * rb: d0 + (k + 1) * rb], "little", signed=True)
             for k in range(self.n_outputs)]
        return Result(y, int.from_bytes(payload[1:d0], "little"), bool(payload[0] & RESULT_LAST))

    def pack_status(self, status: Status) -> bytes:
        """Protocol version, the COUNTERS (wrapped to counter_bits), config hash, version string."""
        if len(status.config_hash) != 8:
            raise ValueError(f"config hash must be 8 bytes, not {len(status.config_hash)}")
        out = bytearray([status.protocol])
        for name in COUNTERS:
            out += (status.counters.get(name, 0) % (1 << self.counter_bits)).to_bytes(self.counter_bytes, "little")
        out += status.config_hash + self.version_field(status.version)
        return bytes(out)

    def unpack_status(self, payload: bytes) -> Status:
        self._check_payload(MsgType.STATUS, payload)
        cb, pos = self.counter_bytes, 1
        counters = {}
        for name in COUNTERS:
            counters[name] = int.from_bytes(payload[pos:pos + cb], "little")
            pos += cb
        config_hash = bytes(payload[pos:pos + 8])
        version = bytes(payload[pos + 8:]).rstrip(b"\0").decode("ascii", errors="replace")
        return Status(counters, config_hash, version, payload[0])

    def version_field(self, version: str) -> bytes:
        """*version* as the NUL-padded ASCII field of STATUS."""
        raw = version.encode("ascii")
        if len(raw) > self.version_bytes:
            raise ValueError(f"version string {version!r} is longer than {self.version_bytes} bytes")
        return raw.ljust(self.version_bytes, b"\0")

    def pack_weight_write(self, addr: int, value: int) -> bytes:
        """Address (unsigned) then value (signed), little-endian."""
        if not 0 <= addr < 1 << self.addr_bits:
            raise ValueError(f"address {addr} does not fit {self.addr_bits} bits")
        if not -(1 << (self.value_bits - 1)) <= value < 1 << (self.value_bits - 1):
            raise ValueError(f"value {value} does not fit {self.value_bits} signed bits")
        return addr.to_bytes(self.addr_bits // 8, "little") + value.to_bytes(self.value_bits // 8, "little",
                                                                             signed=True)

    def unpack_weight_write(self, payload: bytes) -> WeightWrite:
        self._check_payload(MsgType.WEIGHT_WRITE, payload)
        a = self.addr_bits // 8
        return WeightWrite(int.from_bytes(payload[:a], "little"),
                           int.from_bytes(payload[a:], "little", signed=True))


class Message(NamedTuple):
    type: int
    payload: bytes


@dataclass
class DropCounts:
    """What a :class:`Decoder` accepted and dropped (same names as the board's COUNTERS)."""
    frames_ok: int = 0
    bad_crc: int = 0
    truncated: int = 0
    unknown_type: int = 0
    bad_length: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    @property
    def dropped(self) -> int:
        return self.bad_crc + self.truncated + self.unknown_type + self.bad_length


@dataclass
class Decoder:
    """Incremental frame decoder: ``feed(bytes) -> [Message, ...]``.

    Parameters
    ----------
    max_payload : int
        Largest LEN accepted; a larger one is dropped at the header (``bad_length``).
        Bounds the buffer to ``max_payload + 7`` bytes.
    lengths : mapping type -> payload size, optional
        Accepted types and their exact payload sizes (``None`` for any size up to
        *max_payload*).  Other types are dropped at the header (``unknown_type``).
        Without it, every type is accepted.
    rescan : bool
        After dropping a frame, look for the next header from the byte after its
        first sync byte (True: a real frame hidden behind a false header is still
        found), or from the byte that showed the frame to be bad (False: what the
        gateware does; the bytes before it are never looked at again).

    A frame cut short is only known to be truncated when the line goes idle: call
    :meth:`idle` then (the gateware's inter-byte timeout); it drops the incomplete
    frame (``truncated``) and returns whatever the remaining bytes still hold.
    Work per byte is bounded: each byte is examined at most ``max_payload + 7``
    times with *rescan*, at most twice without.
    """

    max_payload: int = 4096
    lengths: Mapping[int, int | None] | None = None
    rescan: bool = True
    counts: DropCounts = field(default_factory=DropCounts)

    def __post_init__(self):
        if not isinstance(self.max_payload, int) or not 0 <= self.max_payload <= MAX_LEN_FIELD:
            raise ValueError(f"max_payload must be in 0..{MAX_LEN_FIELD}, not {self.max_payload!r}")
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame (at most max_payload + 7)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Add received bytes; return the messages they complete, in order."""
        self._buf += data
        return self._scan(idle=False)

    def idle(self) -> list[Message]:
        """The line went quiet: drop an incomplete frame and resynchronise."""
        return self._scan(idle=True)

    def _drop(self, reason: str, consumed: int) -> None:
        # Without rescan, the byte that showed the frame to be bad is looked at again
        # (it may be the SYNC0 of the next header), like the gateware does.
        setattr(self.counts, reason, getattr(self.counts, reason) + 1)
        del self._buf[:1 if self.rescan else consumed]

    def _scan(self, idle: bool) -> list[Message]:
        buf, out = self._buf, []
        while True:
            start = buf.find(SYNC)
            if start < 0:
                # Keep a trailing SYNC0: it may be the first half of a header.
                keep = 1 if buf and buf[-1] == SYNC[0] and not idle else 0
                del buf[:len(buf) - keep]
                return out
            del buf[:start]
            if len(buf) >= 3 and self.lengths is not None and buf[2] not in self.lengths:
                self._drop("unknown_type", 2)
                continue
            if len(buf) < HEADER_BYTES:
                if not idle:
                    return out
                self._drop("truncated", len(buf))
                continue
            msg_type, length = buf[2], buf[3] | buf[4] << 8
            want = None if self.lengths is None else self.lengths[msg_type]
            if length > self.max_payload or (want is not None and length != want):
                self._drop("bad_length", HEADER_BYTES - 1)
                continue
            end = HEADER_BYTES + length + CRC_BYTES
            if len(buf) < end:
                if not idle:
                    return out
                self._drop("truncated", len(buf))
                continue
            if crc16(buf[:end]) != 0:
                self._drop("bad_crc", end - 1)
                continue
            out.append(Message(msg_type, bytes(buf[HEADER_BYTES:end - CRC_BYTES])))
            self.counts.frames_ok += 1
            del buf[:end]
