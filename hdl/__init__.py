"""Amaranth hardware of the memristive reservoir computer (one block per module).

The blocks implement the integer contract of ``docs/fixed_point.md`` bit for
bit; ``docs/hardware.md`` describes the architecture and the schedule.
"""

from .cell_array import CellArray
from .classifier import Classifier, SerialClassifier
from .params import MIN_SLOTS, CoreParams, HardwareParamError, ReadoutMode
from .projection import InputProjection
from .readout import ReadoutCrossbar, SerialReadoutCrossbar
from .skid import SkidBuffer
from .top import CoreTiming, ReservoirCore, core_timing

__all__ = [
    "CoreParams", "HardwareParamError", "MIN_SLOTS", "ReadoutMode",
    "InputProjection", "CellArray", "ReadoutCrossbar", "SerialReadoutCrossbar", "Classifier",
    "SerialClassifier", "ReservoirCore", "CoreTiming", "core_timing", "SkidBuffer",
]
