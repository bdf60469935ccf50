"""The wire format of the host <-> board link: one definition for the gateware and the host.

One frame on the wire (all multi-byte fields little-endian except the CRC)::

    offset  size  field
    0       1     SYNC0 = 0xA5
    1       1     SYNC1 = 0x5A
    2       1     TYPE   (MsgType)
    3       2     LEN    payload length in bytes, little-endian
    5       LEN   PAYLOAD
    5+LEN   2     CRC    CRC-16/CCITT-FALSE of bytes 0 .. 4+LEN, big-endian

The header and every payload are ``amaranth.lib.data.StructLayout``s whose
field 0 starts at bit 0 of byte 0 (so a payload of ``n`` bytes is the layout's
``8 n``-bit value, little-endian).  The gateware (``hdl/link.py``) views its
registers through these layouts; the host (``pygen/protocol.py`` and the
``pack_*`` / ``unpack_*`` methods below) packs with ``layout.const(...)`` and
unpacks with ``data.Const(layout, int)``, so the two sides cannot drift.

The CRC is ``amaranth.lib.crc.catalog.CRC16_CCITT_FALSE`` (poly 0x1021, init
0xFFFF, no reflection, no final XOR; check value 0x29B1 for ``b"123456789"``),
computed by ``amaranth.lib.crc.Processor`` in the gateware and by the same
``Parameters.compute`` on the host.  Sent big-endian, the CRC of a whole good
frame (CRC bytes included) is the residue 0, which is how both sides check it.

Every payload size is fixed by a :class:`LinkFormat`; ``docs/link.md`` has
the payload tables, the resynchronisation rules and the throughput figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from amaranth.hdl import signed, unsigned
from amaranth.lib import crc, data, enum

from memres.sw_model.errors import MemresError

__all__ = [
    "SYNC", "HEADER_BYTES", "CRC_BYTES", "OVERHEAD_BYTES", "PROTOCOL_VERSION", "MAX_LEN_FIELD", "COUNTERS",
    "MsgType", "HOST_TO_BOARD", "BOARD_TO_HOST", "INPUT_FIRST", "INPUT_LAST", "RESULT_LAST",
    "CRC16", "CRC16_INIT", "CRC16_AFTER_SYNC", "crc16", "header_layout", "parse_header", "frame_header", "encode",
    "LinkFormat", "LinkFormatError", "InputFrame", "Result", "Status", "WeightWrite",
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


class MsgType(enum.IntEnum, shape=8):
    """Message types (the TYPE byte); bit 7 set for board -> host."""
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

# --- CRC ----------------------------------------------------------------------------------

CRC16_INIT = crc.catalog.CRC16_CCITT_FALSE.initial_crc
#: The frame CRC, one byte per step: the gateware's ``Processor`` and the host's ``compute``.
CRC16 = crc.catalog.CRC16_CCITT_FALSE(data_width=8)


@lru_cache(maxsize=16)
def _crc16_from(initial: int) -> crc.Parameters:
    a = crc.catalog.CRC16_CCITT_FALSE
    return crc.Algorithm(crc_width=a.crc_width, polynomial=a.polynomial, initial_crc=initial,
                         reflect_input=a.reflect_input, reflect_output=a.reflect_output,
                         xor_output=a.xor_output)(data_width=8)


def crc16(raw: bytes | bytearray | memoryview, crc: int = CRC16_INIT) -> int:
    """CRC-16/CCITT-FALSE of *raw* (continue a running CRC by passing it as *crc*)."""
    params = CRC16 if crc == CRC16_INIT else _crc16_from(crc)
    return params.compute(bytes(raw))


#: The same CRC started after the two sync bytes: the deframer checks from TYPE on.
CRC16_AFTER_SYNC = _crc16_from(crc16(SYNC))

# --- header -------------------------------------------------------------------------------

#: The 5 header bytes; byte 0 (SYNC0) in bits 0..7.  TYPE is any byte on the wire
#: (the receiver drops the ones that are not a :class:`MsgType` it accepts).
header_layout = data.StructLayout({"sync0": 8, "sync1": 8, "type": unsigned(8), "length": unsigned(16)})


def parse_header(raw: bytes) -> tuple[int, int]:
    """TYPE (any byte, not only a known MsgType) and LEN of the 5 header bytes *raw*."""
    word = int.from_bytes(raw[:HEADER_BYTES], "little")
    t, n = header_layout["type"], header_layout["length"]
    return (word >> t.offset) & 0xFF, (word >> n.offset) & ((1 << n.width) - 1)


def frame_header(msg_type: int, length: int) -> bytes:
    """SYNC, TYPE and LEN of a frame."""
    msg_type = int(msg_type)
    if not 0 <= msg_type <= 0xFF:
        raise ValueError(f"message type must be a byte, not {msg_type!r}")
    if not 0 <= length <= MAX_LEN_FIELD:
        raise ValueError(f"payload of {length} bytes does not fit the 16-bit length field")
    return _to_bytes(header_layout, {"sync0": SYNC[0], "sync1": SYNC[1], "type": msg_type, "length": length})


def encode(msg_type: int, payload: bytes = b"") -> bytes:
    """One complete frame: sync, type, length, payload, CRC."""
    body = frame_header(msg_type, len(payload)) + bytes(payload)
    return body + crc16(body).to_bytes(CRC_BYTES, "big")


def _to_bytes(layout: data.Layout, fields) -> bytes:
    """*fields* packed by *layout*, as ``layout.size // 8`` little-endian bytes."""
    return layout.const(fields).as_value().value.to_bytes(layout.size // 8, "little")


def _from_bytes(layout: data.Layout, raw: bytes) -> data.Const:
    return data.Const(layout, int.from_bytes(raw, "little"))


def _struct(fields: dict, size: int) -> data.StructLayout:
    """A StructLayout of *fields*, padded at the top with a ``pad`` field to *size* bits."""
    used = data.StructLayout(fields).size
    return data.StructLayout({**fields, "pad": unsigned(size - used)} if used < size else fields)


@lru_cache(maxsize=256)
def _payload_layout(fmt: "LinkFormat", t: MsgType) -> data.StructLayout:
    return fmt._build_payload_layout(t)


# --- decoded messages ------------------------------------------------------------------------

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


class LinkFormatError(MemresError, ValueError):
    """A link format parameter out of range; the message names it."""


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise LinkFormatError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
    return value


@dataclass(frozen=True)
class LinkFormat:
    """Sizes and layouts of every message payload; the host code and the gateware are built from one.

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

    # --- payload layouts (bit 0 = bit 0 of payload byte 0) ----------------------------

    def payload_layout(self, msg_type: int) -> data.StructLayout:
        """The StructLayout of a message type's payload (a whole number of bytes)."""
        return _payload_layout(self, MsgType(msg_type))

    def _build_payload_layout(self, t: MsgType) -> data.StructLayout:
        if t is MsgType.INPUT_FRAME:
            flags = _struct({"first": 1, "last": 1}, 8)
            return _struct({"flags": flags, "u": data.ArrayLayout(unsigned(self.input_bits), self.n_inputs)},
                           8 * (1 + self.code_bytes))
        if t is MsgType.STATUS_REQUEST:
            return data.StructLayout({})
        if t is MsgType.WEIGHT_WRITE:
            return data.StructLayout({"addr": unsigned(self.addr_bits), "value": signed(self.value_bits)})
        if t is MsgType.RESULT:
            return data.StructLayout({
                "flags": _struct({"last": 1}, 8),
                "decision": unsigned(8 * self.decision_bytes),
                "y": data.ArrayLayout(signed(8 * self.result_bytes), self.n_outputs),
            })
        if t is MsgType.STATUS:
            return data.StructLayout({
                "protocol": unsigned(8),
                "counters": data.StructLayout({n: unsigned(8 * self.counter_bytes) for n in COUNTERS}),
                "config_hash": unsigned(64),
                "version": unsigned(8 * self.version_bytes),
            })
        raise LinkFormatError(f"{t.name} has no defined payload")

    def payload_bytes(self, msg_type: int) -> int:
        """The exact payload size of a message type."""
        return self.payload_layout(msg_type).size // 8

    def frame_bytes(self, msg_type: int) -> int:
        """Bytes on the wire for one message of this type."""
        return OVERHEAD_BYTES + self.payload_bytes(msg_type)

    def lengths(self, types: Iterable[MsgType]) -> dict[int, int]:
        return {int(t): self.payload_bytes(t) for t in types}

    def frames_per_second(self, baud: int, msg_type: int = MsgType.INPUT_FRAME) -> float:
        """Messages per second at *baud* (8N1: 10 bit times a byte, no gaps)."""
        return baud / (10 * self.frame_bytes(msg_type))

    def header(self, msg_type: int) -> bytes:
        """The 5 header bytes of a message of this type (its exact length)."""
        return frame_header(msg_type, self.payload_bytes(msg_type))

    # --- payloads, packed and unpacked through the layouts ---------------------------------

    def _check_payload(self, msg_type: MsgType, payload: bytes) -> None:
        if len(payload) != self.payload_bytes(msg_type):
            raise ValueError(f"{msg_type.name} payload must be {self.payload_bytes(msg_type)} bytes, "
                             f"not {len(payload)}")

    def pack_input_frame(self, u: Sequence[int], first: bool = False, last: bool = False) -> bytes:
        """Flags byte (bit 0 first, bit 1 last), then the codes bit-packed, code 0 in the LSBs."""
        if len(u) != self.n_inputs:
            raise ValueError(f"INPUT_FRAME needs {self.n_inputs} codes, not {len(u)}")
        codes = [int(code) for code in u]
        for c, code in enumerate(codes):
            if not 0 <= code < 1 << self.input_bits:
                raise ValueError(f"input code u[{c}] = {code} does not fit {self.input_bits} unsigned bits")
        return _to_bytes(self.payload_layout(MsgType.INPUT_FRAME),
                         {"flags": {"first": int(bool(first)), "last": int(bool(last))}, "u": codes})

    def unpack_input_frame(self, payload: bytes) -> InputFrame:
        self._check_payload(MsgType.INPUT_FRAME, payload)
        v = _from_bytes(self.payload_layout(MsgType.INPUT_FRAME), payload)
        return InputFrame(list(v.u), bool(v.flags.first), bool(v.flags.last))

    def encode_input_frame(self, u: Sequence[int], first: bool = False, last: bool = False) -> bytes:
        return encode(MsgType.INPUT_FRAME, self.pack_input_frame(u, first, last))

    def pack_result(self, y: Sequence[int], decision: int, last: bool = False) -> bytes:
        """Flags byte (bit 0 last), decision (unsigned), then y[0..K-1] signed, little-endian."""
        if len(y) != self.n_outputs:
            raise ValueError(f"RESULT needs {self.n_outputs} outputs, not {len(y)}")
        if not 0 <= int(decision) < 1 << self.decision_bits:
            raise ValueError(f"decision {decision} does not fit {self.decision_bits} bits")
        lo, hi = -(1 << (self.result_width - 1)), (1 << (self.result_width - 1)) - 1
        for k, v in enumerate(y):
            if not lo <= int(v) <= hi:
                raise ValueError(f"y[{k}] = {v} outside the signed {self.result_width}-bit range {lo}..{hi}")
        return _to_bytes(self.payload_layout(MsgType.RESULT),
                         {"flags": {"last": int(bool(last))}, "decision": int(decision), "y": [int(v) for v in y]})

    def unpack_result(self, payload: bytes) -> Result:
        self._check_payload(MsgType.RESULT, payload)
        v = _from_bytes(self.payload_layout(MsgType.RESULT), payload)
        return Result(list(v.y), v.decision, bool(v.flags.last))

    def pack_status(self, status: Status) -> bytes:
        """Protocol version, the COUNTERS (wrapped to counter_bits), config hash, version string."""
        if len(status.config_hash) != 8:
            raise ValueError(f"config hash must be 8 bytes, not {len(status.config_hash)}")
        counters = {n: status.counters.get(n, 0) % (1 << self.counter_bits) for n in COUNTERS}
        return _to_bytes(self.payload_layout(MsgType.STATUS), {
            "protocol": status.protocol, "counters": counters,
            "config_hash": int.from_bytes(status.config_hash, "little"),
            "version": int.from_bytes(self.version_field(status.version), "little")})

    def unpack_status(self, payload: bytes) -> Status:
        self._check_payload(MsgType.STATUS, payload)
        v = _from_bytes(self.payload_layout(MsgType.STATUS), payload)
        version = v.version.to_bytes(self.version_bytes, "little").rstrip(b"\0")
        return Status({n: v.counters[n] for n in COUNTERS}, v.config_hash.to_bytes(8, "little"),
                      version.decode("ascii", errors="replace"), v.protocol)

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
        return _to_bytes(self.payload_layout(MsgType.WEIGHT_WRITE), {"addr": addr, "value": value})

    def unpack_weight_write(self, payload: bytes) -> WeightWrite:
        self._check_payload(MsgType.WEIGHT_WRITE, payload)
        v = _from_bytes(self.payload_layout(MsgType.WEIGHT_WRITE), payload)
        return WeightWrite(v.addr, v.value)
