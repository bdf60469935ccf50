"""PLLs: one module per FPGA family, each a divider solver and the primitive it configures.

:func:`ice40_pll` / :func:`ecp5_pll` find the divider settings for a clock
(as ``icepll`` / ``ecppll`` do); :func:`pll_instance` makes the primitive for a
:class:`PllPlan`; :func:`plan_clock` decides between the oscillator and a PLL.
"""

from __future__ import annotations

from .common import PllError, PllPlan
from .ecp5 import ecp5_instance, ecp5_pll
from .ice40 import ice40_instance, ice40_pll

__all__ = ["PllError", "PllPlan", "ice40_pll", "ecp5_pll", "solve_pll", "pll_instance", "plan_clock"]

_SOLVERS = {"ice40": ice40_pll, "ecp5": ecp5_pll}
_INSTANCES = {"ice40": ice40_instance, "ecp5": ecp5_instance}


def solve_pll(family: str, f_in: float, f_out: float) -> PllPlan:
    """The PLL setting of *family* ("ice40" | "ecp5") that makes *f_out* from *f_in*."""
    return _SOLVERS[family](f_in, f_out)


def pll_instance(plan: PllPlan, pin, clk_out, lock):
    """(submodules, Instance): the family's PLL primitive for *plan*, from the oscillator *pin*."""
    return _INSTANCES[plan.family](plan, pin, clk_out, lock)


def plan_clock(board, clock_hz: float | None) -> PllPlan | None:
    """None (run from the oscillator) when ``clock_hz`` is the oscillator's, else the PLL setting."""
    if clock_hz is None or abs(clock_hz / board.f_osc - 1) < 1e-9:
        return None
    return solve_pll(board.family, board.f_osc, clock_hz)
