"""iCE40 PLL: SB_PLL40 divider settings and the SB_PLL40_PAD instance."""

from __future__ import annotations

import math

from amaranth.hdl import Instance

from .common import PllError, PllPlan

__all__ = ["ice40_pll", "ice40_instance"]


def ice40_pll(f_in: float, f_out: float) -> PllPlan:
    """SB_PLL40 divider settings (simple feedback), as ``icepll`` finds them.

    F_PFD = f_in / (DIVR+1) in 10..133 MHz, F_VCO = F_PFD (DIVF+1) in
    533..1066 MHz, f = F_VCO / 2^DIVQ in 16..275 MHz.
    """
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = f_vco / (1 << divq)
                if 16e6 <= f <= 275e6 and (best is None or abs(f - f_out) < abs(best[0] - f_out)):
                    best = (f, divr, divf, divq, f_pfd)
    if best is None or abs(best[0] / f_out - 1) > 0.01:
        raise PllError(f"the iCE40 PLL cannot make {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz within 1 % "
                       f"(it makes 16 to 275 MHz)")
    f, divr, divf, divq, f_pfd = best
    filter_range = next(i for i, top in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, math.inf), 1) if f_pfd < top)
    return PllPlan("ice40", f_in, f, {"requested": f_out, "DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                      "FILTER_RANGE": filter_range})


def ice40_instance(plan: PllPlan, pin, clk_out, lock) -> tuple[dict, Instance]:
    """SB_PLL40_PAD fed straight from the oscillator pin (no input buffer of its own)."""
    p = plan.params
    return {}, Instance(
        "SB_PLL40_PAD",
        p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
        p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
        i_PACKAGEPIN=pin.io, i_RESETB=1, i_BYPASS=0,
        o_PLLOUTGLOBAL=clk_out, o_LOCK=lock)
