"""Tiny Amaranth 0.5 design used to prove the simulation/synthesis toolchain end to end.

``AddConst`` is a one-stage pipelined stream block: every input beat ``x``
comes out as ``(x + constant) mod 2**width``, in order, with full throughput
(one beat per cycle) and correct valid/ready back-pressure.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class AddConst(wiring.Component):
    def __init__(self, width: int = 8, constant: int = 3):
        self.width = width
        self.constant = constant
        super().__init__({
            "i": In(stream.Signature(width)),
            "o": Out(stream.Signature(width)),
        })

    def elaborate(self, platform):
        m = Module()
        # The output register may load when it is empty or being emptied this cycle.
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                self.o.payload.eq(self.i.payload + self.constant),  # truncated to width
                self.o.valid.eq(1),
            ]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


def to_verilog(width: int = 8, constant: int = 3, name: str = "add_const") -> str:
    """Verilog text of an ``AddConst`` (ports ``clk``, ``rst``, ``i__payload``, ``i__valid``, ...)."""
    from amaranth.back import verilog

    return verilog.convert(AddConst(width, constant), name=name)
