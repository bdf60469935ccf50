"""Register stages of a beat pipeline with one global stall.

The projection, the cell array and the readout crossbar are chains of
register stages that all advance together (``advance``: the block's output
is empty or being taken). Each block names its stages in a ``STAGES`` tuple;
:func:`beat_stages` builds, for each name, the registers that carry the beat's
valid bit and schedule fields one stage further, and the block adds the data
registers of each stage beside them. A block's latency is the length of that
tuple, so adding a stage to a block is a change to that block only: its
figure, the core's (``hdl.top.core_timing``), the manifest and the checker
follow.
"""

from __future__ import annotations

from amaranth.hdl import Signal

__all__ = ["BEAT_FIELDS", "beat_stages", "pass_beat"]

#: The schedule fields every beat carries (``CoreParams.pulse_layout`` and ``feature_layout``).
BEAT_FIELDS = ("row", "node", "slot", "frame_start", "frame_end", "seq_first", "seq_last")


def pass_beat(dst, src) -> list:
    """Assignments copying the schedule fields of beat ``src`` into ``dst``."""
    return [getattr(dst, f).eq(getattr(src, f)) for f in BEAT_FIELDS]


def beat_stages(m, advance, names, valid, beat, layout, *, last=None) -> dict:
    """One register stage per name in ``names``: ``(valid, beat)`` moves one stage per clock of ``advance``.

    Parameters
    ----------
    m : Module
    advance : Value
        The pipeline's global enable.
    names : sequence of str
        The stages, in order.
    valid, beat : Value, View
        What enters the first stage.
    layout : the beat layout of the registers
    last : (valid, payload), optional
        Registers to use for the last stage (an output stream's ``valid`` and payload).

    Returns
    -------
    dict
        ``name -> (valid, beat)``: the registers of each stage.
    """
    stages = {}
    for i, name in enumerate(names):
        if last is not None and i == len(names) - 1:
            v, b = last
        else:
            v, b = Signal(name=f"{name}_valid"), Signal(layout, name=f"{name}_beat")
        with m.If(advance):
            m.d.sync += [v.eq(valid), *pass_beat(b, beat)]
        stages[name] = (v, b)
        valid, beat = v, b
    return stages
