"""A single-port RAM in the iCE40 UP5K's SPRAM blocks (``SB_SPRAM256KA``), or its behavioural equivalent.

The UP5K has four SPRAM blocks of 16 bits x 16384 words (256 kbit each) beside
its 30 block RAMs (4 kbit each). :class:`Spram` is a ``width x depth`` RAM with
one port that reads or writes each clock, built from ``ceil(width / 16)``
columns times ``ceil(depth / 16384)`` banks of blocks.

* ``primitive=True``: one ``Instance("SB_SPRAM256KA")`` per block, for
  iCE40 builds and for Verilator, which compiles Yosys' own simulation model
  of the cell (:func:`memres.testbenches.runner.yosys_cell_model`). Amaranth's
  simulator cannot run an ``Instance``.
* ``primitive=False``: an Amaranth ``Memory`` with the same port behaviour,
  for Amaranth's simulator and for other FPGA families.

An SPRAM block cannot be initialised by the iCE40 bitstream: its contents are
unknown after configuration (zero in both simulations). Whatever it holds must
be written through the port after start-up (the readout weights: WEIGHT_WRITE,
``memres run --write-weights``).

Port behaviour per clock: ``we``: ``mem[addr] <- wdata`` (``rdata`` then
undefined); else ``en``: ``rdata <- mem[addr]`` (registered: one clock of read
latency, :attr:`Spram.STAGES`); else ``rdata`` holds.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .checked import CheckedComponent

__all__ = ["SPRAM_WIDTH", "SPRAM_DEPTH", "Spram", "spram_blocks"]

#: One SB_SPRAM256KA block: 16-bit words, 16384 of them.
SPRAM_WIDTH = 16
SPRAM_DEPTH = 1 << 14


def spram_blocks(width: int, depth: int, granularity: int | None = None) -> int:
    """SPRAM blocks a ``width x depth`` RAM takes: columns of 16 bits per write granule, times banks of 16384 words."""
    g = granularity or width
    return (width // g) * -(-g // SPRAM_WIDTH) * -(-depth // SPRAM_DEPTH)


class Spram(CheckedComponent):
    """``width x depth`` single-port RAM: SPRAM blocks on iCE40 (``primitive``), else a ``Memory``.

    Parameters
    ----------
    width, depth : int
    granularity : int, optional
        Bits per write enable (``width`` by default). Each granule has SPRAM columns of its own
        (the blocks' nibble masks cannot write an arbitrary bit field), so ``width / granularity``
        granules of ``ceil(granularity / 16)`` blocks each.
    primitive : bool
        Instantiate ``SB_SPRAM256KA`` blocks (iCE40 builds, Verilator with Yosys' model).

    Attributes
    ----------
    addr : In(range(depth))
    en : In(1)
        Read ``mem[addr]`` into ``rdata`` at the clock edge (when not writing).
    we : In(width // granularity)
        Write granule ``i`` of ``wdata`` to ``mem[addr]`` where bit ``i`` is set; no read in that clock.
    wdata : In(width)
    rdata : Out(width)
        Registered: valid the clock after ``en``; holds while neither ``en`` nor ``we``.
    """

    #: The register stages of a read: the block's output register (one clock).
    STAGES = ("read",)

    @classmethod
    def check(cls, width: int, depth: int, *, granularity: int | None = None, primitive: bool) -> None:
        granularity = width if granularity is None else granularity
        if width < 1 or depth < 2 or granularity < 1 or width % granularity:
            raise ValueError(f"an SPRAM needs width >= 1, depth >= 2 and a granularity dividing the width, "
                             f"not {width} x {depth} by {granularity}")

    def __init__(self, width: int, depth: int, *, granularity: int | None = None, primitive: bool):
        granularity = width if granularity is None else granularity
        self.width, self.depth, self.primitive = int(width), int(depth), bool(primitive)
        self.granularity = int(granularity)
        super().__init__({
            "addr": In(range(depth)),
            "en": In(1),
            "we": In(width // granularity),
            "wdata": In(width),
            "rdata": Out(width),
        })

    @property
    def blocks(self) -> int:
        return spram_blocks(self.width, self.depth, self.granularity)

    def elaborate(self, platform):
        m = Module()
        g, n_gran = self.granularity, self.width // self.granularity
        writing = self.we.any()
        if not self.primitive:
            m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[])
            wr = mem.write_port(granularity=g)
            rd = mem.read_port()
            m.d.comb += [wr.addr.eq(self.addr), wr.data.eq(self.wdata), wr.en.eq(self.we),
                         rd.addr.eq(self.addr), rd.en.eq(self.en & ~writing), self.rdata.eq(rd.data)]
            return m

        cols = -(-g // SPRAM_WIDTH)          # blocks side by side per granule
        banks = -(-self.depth // SPRAM_DEPTH)
        addr = Signal(max(len(self.addr), 14))
        m.d.comb += addr.eq(self.addr)
        bank = addr[14:] if banks > 1 else Const(0, 1)
        bank_read = Signal(range(max(banks, 2)))     # the bank the output registers hold
        with m.If(self.en & ~writing):
            m.d.sync += bank_read.eq(bank)
        outs = []
        for b in range(banks):
            sel = Signal(name=f"bank{b}_sel")
            m.d.comb += sel.eq(bank == b)
            dout = Signal(self.width, name=f"bank{b}_data")
            for i in range(n_gran):
                din = Signal(cols * SPRAM_WIDTH, name=f"bank{b}_g{i}_din")
                got = Signal(cols * SPRAM_WIDTH, name=f"bank{b}_g{i}_dout")
                m.d.comb += [din.eq(self.wdata[i * g:(i + 1) * g]), dout[i * g:(i + 1) * g].eq(got)]
                for c in range(cols):
                    m.submodules[f"spram_b{b}_g{i}_c{c}"] = Instance(
                        "SB_SPRAM256KA",
                        i_ADDRESS=addr[:14],
                        i_DATAIN=din[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                        i_MASKWREN=Const(0b1111, 4),
                        i_WREN=self.we[i] & sel,
                        i_CHIPSELECT=(self.we[i] | (self.en & ~writing)) & sel,
                        i_CLOCK=ClockSignal(),
                        i_STANDBY=Const(0, 1),
                        i_SLEEP=Const(0, 1),
                        i_POWEROFF=Const(1, 1),      # active low: powered on
                        o_DATAOUT=got[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                    )
            outs.append(dout)
        with m.Switch(bank_read):
            for b, dout in enumerate(outs):
                with m.Case(b):
                    m.d.comb += self.rdata.eq(dout)
        return m
