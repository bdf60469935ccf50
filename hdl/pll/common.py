"""What every PLL family shares: the plan record and the error."""

from __future__ import annotations

from dataclasses import dataclass

from memres.sw_model.errors import MemresError

__all__ = ["PllError", "PllPlan"]


class PllError(MemresError, ValueError):
    """No PLL setting gives the requested clock; the message gives the reachable range."""


@dataclass(frozen=True)
class PllPlan:
    """A PLL setting: input and achieved output frequency (Hz) and the primitive's parameters."""
    family: str
    f_in: float
    f_out: float
    params: dict

    @property
    def error(self) -> float:
        return self.f_out / self.params["requested"] - 1
