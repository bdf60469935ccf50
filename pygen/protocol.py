"""The host side of the UART link: an incremental frame decoder over ``hdl.wire``.

The wire format itself (frame, message types, payload layouts, the CRC and
the ``LinkFormat`` with its ``pack_*`` / ``unpack_*`` methods) lives in
``hdl/wire.py``, where the gateware takes it from; it is re-exported here, so
``from pygen.protocol import LinkFormat, encode, crc16, ...`` keeps working.

:class:`Decoder` is incremental: feed it bytes as they come, it returns the
complete valid messages and counts what it dropped.  :func:`host_decoder`
decodes what a board sends; :func:`board_decoder` is the exact model of the
gateware deframer.  ``docs/link.md`` has the payload tables, the
resynchronisation rules and the throughput figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from memres.hdl.wire import (BOARD_TO_HOST, COUNTERS, CRC16, CRC_BYTES, HEADER_BYTES, HOST_TO_BOARD, INPUT_FIRST,
                      INPUT_LAST, MAX_LEN_FIELD, OVERHEAD_BYTES, PROTOCOL_VERSION, RESULT_LAST, SYNC, InputFrame,
                      LinkFormat, LinkFormatError, MsgType, Result, Status, WeightWrite, crc16, encode,
                      parse_header)

__all__ = [
    "SYNC", "HEADER_BYTES", "CRC_BYTES", "OVERHEAD_BYTES", "PROTOCOL_VERSION", "COUNTERS",
    "MsgType", "LinkFormat", "LinkFormatError", "Message", "InputFrame", "Result", "Status",
    "WeightWrite", "DropCounts", "Decoder", "crc16", "encode", "host_decoder", "board_decoder",
    "HOST_TO_BOARD", "BOARD_TO_HOST", "INPUT_FIRST", "INPUT_LAST", "RESULT_LAST", "MAX_LEN_FIELD", "CRC16",
]


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
            msg_type, length = parse_header(buf)
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


def host_decoder(fmt: LinkFormat) -> Decoder:
    """Decoder for what the board sends (RESULT, STATUS), rescanning after a bad frame."""
    lengths = fmt.lengths(BOARD_TO_HOST)
    return Decoder(max(lengths.values()), lengths, rescan=True)


def board_decoder(fmt: LinkFormat) -> Decoder:
    """Decoder for what the host sends, behaving exactly like the gateware deframer.

    It does not rescan a dropped frame's bytes (the gateware cannot), so it is
    the reference model that the gateware's output and counters must match.
    """
    lengths = fmt.lengths(HOST_TO_BOARD)
    return Decoder(max(lengths.values()), lengths, rescan=False)
