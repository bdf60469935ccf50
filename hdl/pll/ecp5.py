"""ECP5 PLL: EHXPLLL divider settings and its instance."""

from __future__ import annotations

from amaranth.hdl import Instance
from amaranth.lib import io

from .common import PllError, PllPlan

__all__ = ["ecp5_pll", "ecp5_instance"]


def ecp5_pll(f_in: float, f_out: float) -> PllPlan:
    """EHXPLLL divider settings (feedback from CLKOP), as ``ecppll`` finds them.

    PFD = f_in / CLKI_DIV in 3.125..400 MHz, f = PFD * CLKFB_DIV,
    VCO = f * CLKOP_DIV in 400..800 MHz; f in 3.125..400 MHz.
    """
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            f = pfd * clkfb
            if not 3.125e6 <= f <= 400e6:
                continue
            ops = [op for op in range(1, 129) if 400e6 <= f * op <= 800e6]
            if ops and (best is None or abs(f - f_out) < abs(best[0] - f_out)):
                # the VCO nearest the middle of its range
                best = (f, clki, clkfb, min(ops, key=lambda op: abs(f * op - 600e6)))
    if best is None or abs(best[0] / f_out - 1) > 0.01:
        raise PllError(f"the ECP5 PLL cannot make {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz within 1 % "
                       f"(it makes 3.125 to 400 MHz)")
    f, clki, clkfb, clkop = best
    return PllPlan("ecp5", f_in, f, {"requested": f_out, "CLKI_DIV": clki, "CLKFB_DIV": clkfb,
                                     "CLKOP_DIV": clkop, "CLKOP_CPHASE": (clkop - 1) // 2})


def _mhz(f: float) -> str:
    return f"{f / 1e6:.6g}"


def ecp5_instance(plan: PllPlan, pin, clk_out, lock) -> tuple[dict, Instance]:
    """EHXPLLL behind an input buffer on the oscillator pin; returns ({"clk_buf": buffer}, instance)."""
    p = plan.params
    buf = io.Buffer("i", pin)
    return {"clk_buf": buf}, Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=_mhz(plan.f_in), a_FREQUENCY_PIN_CLKOP=_mhz(plan.f_out),
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
        p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
        p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
        p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0,
        p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p["CLKFB_DIV"],
        i_CLKI=buf.i, i_CLKFB=clk_out, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0,
        i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
        o_CLKOP=clk_out, o_LOCK=lock)
