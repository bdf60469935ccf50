"""CRC-16/CCITT-FALSE, one byte per clock, as a combinational Amaranth expression.

The same CRC as ``pygen.protocol.crc16`` (poly 0x1021, init 0xFFFF, MSB first,
no final XOR); the link runs it over every byte of a frame, and a good frame
(CRC appended big-endian) leaves 0.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Value

__all__ = ["CRC16_POLY", "CRC16_INIT", "crc16_update"]

CRC16_POLY = 0x1021
CRC16_INIT = 0xFFFF


def _byte_step_terms() -> list[tuple[frozenset, frozenset]]:
    """For each bit of the new CRC: which old CRC bits and which byte bits it XORs.

    CRC is linear over GF(2), so running the bitwise LFSR on sets of terms gives
    the whole 8-step update as one XOR per output bit (a naive unrolled
    expression would reference each step twice and grow as 2**8).
    """
    c = [frozenset([("c", i)]) for i in range(16)]
    poly = [(CRC16_POLY >> i) & 1 for i in range(16)]
    for i in range(8):
        feedback = c[15] ^ frozenset([("b", 7 - i)])
        c = [(c[j - 1] if j else frozenset()) ^ (feedback if poly[j] else frozenset()) for j in range(16)]
    return [(frozenset(i for s, i in terms if s == "c"), frozenset(i for s, i in terms if s == "b"))
            for terms in c]


_TERMS = _byte_step_terms()


def crc16_update(crc: Value, byte: Value) -> Value:
    """The CRC register after shifting in *byte* (bit 7 first)."""
    c = Value.cast(crc)
    b = Value.cast(byte)
    if len(c) != 16 or len(b) != 8:
        raise ValueError(f"crc16_update needs a 16-bit CRC and an 8-bit byte, not {len(c)} and {len(b)} bits")
    bits = []
    for crc_terms, byte_terms in _TERMS:
        x = Const(0, 1)
        for i in sorted(crc_terms):
            x = x ^ c[i]
        for i in sorted(byte_terms):
            x = x ^ b[i]
        bits.append(x)
    return Cat(*bits)
