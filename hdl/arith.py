"""Exact integer operators of the contract (docs/fixed_point.md) as Amaranth expressions.

Amaranth widens sums and products automatically, so these expressions are
exact; truncation happens only where a result is assigned to a signal, and
every such signal is sized by ``sw_model.fixed.derive_widths`` to hold the
worst case.
"""

from __future__ import annotations

from amaranth.hdl import Const, Mux, Value


def rshr_constant(s: int, offset: int = 0) -> int:
    """The constant :func:`rshr` adds before its shift by ``s > 0``: ``offset + 2^(s-1)``.

    A datapath that adds the rounding term elsewhere (folded into a constant made beside a product, as
    the cell array does) takes it from here, so the rounding rule has one home on the hardware side.
    """
    if s <= 0:
        raise ValueError(f"rshr rounds only a right shift, not s = {s}")
    return int(offset) + (1 << (s - 1))


def rshr(x: Value, s: int, offset: int = 0) -> Value:
    """Shift right, rounding halves towards +infinity: ``(x + 2^(s-1)) >> s`` (arithmetic).

    With ``offset``, ``rshr(x + offset, s)`` with one adder: the constant is folded into the rounding one.
    """
    if s <= 0:
        return (x + Const(offset)) << -s if offset else x << -s
    return (x + Const(rshr_constant(s, offset))) >> s


def clamp(x: Value, lo: int, hi: int) -> Value:
    """Saturate ``x`` to ``lo .. hi``."""
    return Mux(x < lo, lo, Mux(x > hi, hi, x))


def tree_sum(values: list) -> Value:
    """Balanced adder tree (depth log2 of the count instead of a chain)."""
    values = list(values)
    if not values:
        return Const(0)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def const_mul(x: Value, c: int) -> Value:
    """``x * c`` for a constant ``c`` as shifts and adds (canonical signed digits).

    Synthesis would otherwise spend a multiplier block (DSP) on a constant.
    """
    c = int(c)
    plus, minus = [], []
    shift = 0
    while c:
        if c & 1:
            digit = 2 - (c & 3)          # +1 or -1: no two adjacent non-zero digits
            (plus if digit > 0 else minus).append(x << shift)
            c -= digit
        c >>= 1
        shift += 1
    if not plus and not minus:
        return Const(0)
    return tree_sum(plus) - tree_sum(minus) if minus else tree_sum(plus)
