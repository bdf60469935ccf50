"""The boards memres builds for: every fact about a board in one table.

:data:`BOARDS` holds, per board: FPGA family, device and package, the
amaranth-boards platform, the oscillator, the LEDs, the programmer, the
device's capacity (the figures a synthesis result is compared with), and the
defaults ``memres build`` uses (clock, readout crossbar).  ``hdl/board.py``
(the board tops), ``pygen/build.py`` and ``pygen/generate.py`` read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .pll import PllPlan, solve_pll

__all__ = ["BoardSpec", "BoardCore", "BOARDS", "board_for_family"]


@dataclass(frozen=True)
class BoardCore:
    """The options of the core a board build puts behind the link (:meth:`BoardSpec.core_options`).

    ``memres build`` builds this core and ``memres verify --board`` checks it: both ask
    :meth:`BoardSpec.core_options`, so the checked core is the built one.
    """
    lanes: int
    readout: str        # "parallel" | "serial" (hdl.params.READOUT_MODES)
    weight_ram: str     # "block" | "spram" (CoreParams.weight_ram)

    def describe(self) -> dict:
        return {"lanes": self.lanes, "readout": self.readout, "weight_ram": self.weight_ram}


@dataclass(frozen=True)
class BoardSpec:
    """What the build needs to know about a board."""
    name: str
    family: str                      # "ice40" | "ecp5"
    device: str
    platform: Callable[[], object]   # amaranth-boards platform class
    clock: str                       # oscillator resource
    f_osc: float
    #: LEDs: resource (name, number) for each bit of the decision, then activity, dropped, heartbeat.
    decision_leds: tuple[tuple[str, int], ...]
    activity_led: tuple[str, int]
    dropped_led: tuple[str, int]
    heartbeat_led: tuple[str, int] | None
    extra_resources: str | None      # platform attribute holding optional resources (iCEBreaker snap-off)
    programmer: str                  # "iceprog" | "openFPGALoader"
    bitstream_ext: str               # ".bin" | ".bit"
    #: Device resources: lcs (iCE40 logic cells), luts, ffs, dsps, brams, spram (iCE40 UP5K SPRAM blocks).
    capacity: dict
    package: str = ""
    #: ``memres build`` defaults: core clock (MHz; the oscillator's unless a PLL is wanted) and readout.
    default_clock_mhz: float = 0.0
    default_readout: str = "parallel"
    #: Where the serial readout keeps its weights on this board (``CoreParams.weight_ram``): "spram" on the
    #: UP5K (its four 256-kbit SPRAMs, which the bitstream cannot initialise: ``memres run`` writes the
    #: weights at start-up), else "block".
    serial_weight_ram: str = "block"

    def weight_ram(self, readout: str) -> str:
        """The readout's weight memory for ``readout`` ("parallel" | "serial") on this board."""
        return self.serial_weight_ram if str(readout) == "serial" else "block"

    def core_options(self, *, lanes: int | None = None, readout: str | None = None) -> BoardCore:
        """The core of a build for this board: ``lanes`` (default 1), ``readout`` (default the board's) and
        the weight memory that readout gets here. The one place where a board build's core options are chosen.
        """
        readout = self.default_readout if readout is None else str(readout)
        return BoardCore(1 if lanes is None else int(lanes), readout, self.weight_ram(readout))

    def pll(self, f_out: float) -> PllPlan:
        return solve_pll(self.family, self.f_osc, f_out)


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform   # amaranth-boards only when building
    return ICEBreakerPlatform()


def _ulx3s():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


BOARDS: dict[str, BoardSpec] = {
    # Main board: red LED (11) = dropped frame, green LED (37) = activity. The snap-off
    # part (on PMOD2, attached when shipped): LED2..LED5 = decision bits 0..3, LED6 = heartbeat.
    # Readout: always the serial crossbar. The UP5K's 5280 logic cells do not hold a 10-class,
    # 32-input core with the parallel readout (docs/boards.md), and the serial one still computes
    # ten times more frames per second than the UART carries. Whether a given model would fit in
    # parallel is only known after synthesis, so the default does not depend on the model.
    "icebreaker": BoardSpec(
        "icebreaker", "ice40", "iCE40UP5K-SG48", _icebreaker, "clk12", 12e6,
        decision_leds=(("led", 2), ("led", 3), ("led", 4), ("led", 5)),
        activity_led=("led_g", 0), dropped_led=("led_r", 0), heartbeat_led=("led", 6),
        extra_resources="break_off_pmod", programmer="iceprog", bitstream_ext=".bin",
        capacity={"lcs": 5280, "luts": 5280, "ffs": 5280, "dsps": 8, "brams": 30, "spram": 4},
        package="sg48", default_clock_mhz=12.0, default_readout="serial", serial_weight_ram="spram"),
    # LED0..LED4 = decision bits 0..4, LED5 = heartbeat, LED6 = dropped frame, LED7 = activity.
    "ulx3s": BoardSpec(
        "ulx3s", "ecp5", "LFE5U-85F-6BG381", _ulx3s, "clk25", 25e6,
        decision_leds=tuple(("led", i) for i in range(5)),
        activity_led=("led", 7), dropped_led=("led", 6), heartbeat_led=("led", 5),
        extra_resources=None, programmer="openFPGALoader", bitstream_ext=".bit",
        capacity={"luts": 83640, "ffs": 83640, "dsps": 156, "brams": 208},
        package="CABGA381", default_clock_mhz=25.0, default_readout="parallel"),
}


def board_for_family(family: str) -> BoardSpec:
    """The board whose device stands for *family* ("ice40" | "ecp5") in synthesis reports."""
    for spec in BOARDS.values():
        if spec.family == family:
            return spec
    raise KeyError(f"no board of the {family!r} family")
