"""Amaranth hardware of the memristive reservoir computer (one block per module).

The blocks implement the integer contract of ``docs/fixed_point.md`` bit for
bit; ``docs/hardware.md`` describes the architecture and the schedule.
"""

from .cell_array import CellArray, TraceSignature
from .classifier import Classifier
from .params import MIN_SLOTS, CoreParams, HardwareParamError
from .projection import InputProjection
from .readout import ReadoutCrossbar
from .skid import SkidBuffer
from .top import ReservoirCore

__all__ = [
    "CoreParams", "HardwareParamError", "MIN_SLOTS",
    "InputProjection", "CellArray", "TraceSignature", "ReadoutCrossbar", "Classifier", "ReservoirCore",
    "SkidBuffer",
]
