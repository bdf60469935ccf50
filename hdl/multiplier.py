"""A registered multiplier with a fixed latency of two clocks, on an ECP5 DSP block when built for one.

::

    m.submodules.mul = mul = RegisteredMultiplier(unsigned(16), signed(17))
    m.d.comb += [mul.en.eq(advance), mul.a.eq(x), mul.b.eq(y)]
    # two clocks of ``en`` later: mul.p == x * y

The operands are registered (the first clock), then their product (the
second): ``p`` is ``a * b`` as they were two enabled clocks before. Both
registers advance only while ``en`` is high, like the beat pipeline's stages
(:mod:`hdl.pipeline`), so the two clocks are two of the owning block's
``STAGES``.

Two implementations with the same registers and the same result:

* **behavioural** (Amaranth's simulator, Verilator, ``memres generate``, the
  iCE40): two Amaranth registers and ``*``;
* **ECP5** (``platform.family == "ecp5"``, operands of at most 18 bits signed):
  one ``MULT18X18D`` with its input registers (``REG_INPUTA_CLK``,
  ``REG_INPUTB_CLK``) and output register (``REG_OUTPUT_CLK``) on the
  domain's clock, clock enable ``CE0 = en`` and no reset. Yosys' ECP5 flow
  maps a ``*`` to a MULT18X18D without using these registers, and nextpnr then
  times the block as combinational logic between fabric flip-flops; with them
  the block's own setup and clock-to-output times apply.

What differs between the two: the reset. The behavioural registers are reset
with the domain, the block's are not (``RST0`` is tied low). Their contents
are only read as the payload of a beat whose valid bit (a fabric register,
reset) follows them through the same stages, so no compared value can differ.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Instance, Module, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .boards import BOARDS

__all__ = ["RegisteredMultiplier", "FamilyPlatform", "DSP_WIDTH", "ECP5_DSPS"]

#: Operand width of an ECP5 MULT18X18D (signed).
DSP_WIDTH = 18
#: MULT18X18D blocks of the ECP5-85F (hdl/boards.py): the cell array's take theirs first, the
#: parallel readout's use what is left (the rest are behavioural, for Yosys to map).
ECP5_DSPS = BOARDS["ulx3s"].capacity["dsps"]


class FamilyPlatform:
    """A stand-in for a board platform that says only the FPGA family (``"ecp5"``, ``"ice40"``).

    It is what :class:`RegisteredMultiplier` asks of a platform: ``memres generate --synth ecp5``
    elaborates the core with ``FamilyPlatform("ecp5")`` so that Yosys synthesises the DSP blocks
    that ``memres build --board ulx3s`` instantiates.
    """

    def __init__(self, family: str):
        self.family = family

    def __repr__(self) -> str:
        return f"FamilyPlatform({self.family!r})"


def _signed_width(shape: Shape) -> int:
    """Bits of the signed shape holding every value of ``shape``."""
    return shape.width if shape.signed else shape.width + 1


class RegisteredMultiplier(wiring.Component):
    """``p = a * b`` two enabled clocks later (operand registers, product register).

    Parameters
    ----------
    a_shape, b_shape : Shape
        The operands' shapes.
    dsp : bool
        Use the ECP5 block when building for one (default); False keeps the
        behavioural version there too (Yosys then maps the product its own way).

    Attributes
    ----------
    en : In(1)
        Both registers load while it is high.
    a : In(a_shape)
    b : In(b_shape)
    p : Out(signed(...))
        The full product, wide enough for every ``a * b``.
    """

    #: The registers, in order: the operands, the product.
    STAGES = ("operands", "product")

    def __init__(self, a_shape, b_shape, *, dsp: bool = True):
        a_shape, b_shape = Shape.cast(a_shape), Shape.cast(b_shape)
        self._dsp = bool(dsp)
        self._a_shape, self._b_shape = a_shape, b_shape
        p_width = _signed_width(a_shape) + _signed_width(b_shape)
        super().__init__({"en": In(1), "a": In(a_shape), "b": In(b_shape), "p": Out(signed(p_width))})

    @property
    def fits_dsp(self) -> bool:
        """Both operands fit a MULT18X18D's 18-bit signed inputs."""
        return max(_signed_width(self._a_shape), _signed_width(self._b_shape)) <= DSP_WIDTH

    @staticmethod
    def uses_dsp_block(platform) -> bool:
        """Whether ``platform`` asks for the ECP5 block (``platform.family == "ecp5"``)."""
        return getattr(platform, "family", None) == "ecp5"

    def elaborate(self, platform):
        m = Module()
        if self._dsp and self.uses_dsp_block(platform) and self.fits_dsp:
            self._ecp5(m)
        else:
            a_reg = Signal(self._a_shape)
            b_reg = Signal(self._b_shape)
            with m.If(self.en):
                m.d.sync += [a_reg.eq(self.a), b_reg.eq(self.b), self.p.eq(a_reg * b_reg)]
        return m

    def _ecp5(self, m: Module) -> None:
        a18 = Signal(signed(DSP_WIDTH))
        b18 = Signal(signed(DSP_WIDTH))
        p36 = Signal(signed(2 * DSP_WIDTH))
        m.d.comb += [a18.eq(self.a), b18.eq(self.b), self.p.eq(p36)]   # sign or zero extension
        ports = {}
        for i in range(DSP_WIDTH):
            ports[f"i_A{i}"] = a18[i]
            ports[f"i_B{i}"] = b18[i]
            ports[f"i_C{i}"] = Const(0)
        for i in range(2 * DSP_WIDTH):
            ports[f"o_P{i}"] = p36[i]
        regs = {}
        for reg in ("INPUTA", "INPUTB", "OUTPUT"):
            regs.update({f"p_REG_{reg}_CLK": "CLK0", f"p_REG_{reg}_CE": "CE0", f"p_REG_{reg}_RST": "RST0"})
        for reg in ("INPUTC", "PIPELINE"):
            regs.update({f"p_REG_{reg}_CLK": "NONE", f"p_REG_{reg}_CE": "CE0", f"p_REG_{reg}_RST": "RST0"})
        m.submodules.dsp = Instance(
            "MULT18X18D",
            **regs,
            p_CLK0_DIV="ENABLED", p_CLK1_DIV="ENABLED", p_CLK2_DIV="ENABLED", p_CLK3_DIV="ENABLED",
            p_GSR="DISABLED", p_RESETMODE="SYNC", p_SOURCEB_MODE="B_SHIFT",
            p_MULT_BYPASS="DISABLED", p_CAS_MATCH_REG="FALSE",
            i_SIGNEDA=Const(1), i_SIGNEDB=Const(1), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
            i_CLK0=ClockSignal("sync"), i_CLK1=Const(0), i_CLK2=Const(0), i_CLK3=Const(0),
            i_CE0=self.en, i_CE1=Const(1), i_CE2=Const(1), i_CE3=Const(1),
            i_RST0=Const(0), i_RST1=Const(0), i_RST2=Const(0), i_RST3=Const(0),
            **ports,
        )
