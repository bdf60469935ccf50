"""The reservoir core: projection -> cell array -> readout crossbar -> classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .cell_array import CellArray
from .checked import CoreBlock
from .classifier import Classifier, SerialClassifier
from .params import CoreParams, ReadoutMode
from .projection import InputProjection
from .readout import ReadoutCrossbar, SerialReadoutCrossbar, check_readout
from .skid import SkidBuffer

__all__ = ["ReservoirCore", "CoreTiming", "core_timing", "variants"]


def variants(params: CoreParams) -> tuple[type, type]:
    """The readout crossbar and classifier classes of ``params.readout``."""
    if params.readout is ReadoutMode.SERIAL:
        return SerialReadoutCrossbar, SerialClassifier
    return ReadoutCrossbar, Classifier


@dataclass(frozen=True)
class CoreTiming:
    """The core's pipeline figures, summed from the blocks' own (:func:`core_timing`).

    ``latency``: clocks from the clock a frame is accepted to the clock its result is valid, empty
    pipeline, results always ready. ``cycles_per_frame``: with frames always valid and results always
    ready, a frame is accepted and a result delivered every this many clocks. ``blocks``: the terms
    of the latency, in pipeline order, name -> clocks. ``interval_terms``: the paces of
    which ``cycles_per_frame`` is the largest, name -> clocks.
    """

    latency: int
    cycles_per_frame: int
    blocks: dict
    interval_terms: dict

    def latency_formula(self) -> str:
        """The latency as the sum of its terms, e.g. ``projection 5 + cells 5 + ... = 39``."""
        return " + ".join(f"{name} {v}" for name, v in self.blocks.items()) + f" = {self.latency}"

    def interval_formula(self) -> str:
        """The frame interval as the largest of its terms, e.g. ``max(readout 24, classifier 3) = 24``."""
        return "max(" + ", ".join(f"{name} {v}" for name, v in self.interval_terms.items()) + \
            f") = {self.cycles_per_frame}"


def core_timing(params: CoreParams) -> CoreTiming:
    """Latency and frame interval of the core of ``params``, from the blocks' ``latency_of`` figures.

    The projection issues a frame's first beat ``InputProjection.latency_of`` clocks after taking
    it; the cell array and the readout add theirs (the skid buffers between the blocks add nothing
    while they are empty); the readout takes the last of the ``rows`` beats ``rows * beat_clocks - 1``
    clocks after the first; the classifier adds its own. The interval is the slower of the readout's
    ``rows * beat_clocks`` clocks per frame and the classifier's interval (the projection and the
    cell array take a beat per clock).
    """
    readout, classifier = variants(params)
    beats = params.rows * readout.beat_clocks_of(params)
    interval = {f"readout ({params.rows} beats x {readout.beat_clocks_of(params)} clocks, "
                f"{params.readout.value})": beats,
                "classifier": classifier.interval_of(params)}
    blocks = {
        "projection": InputProjection.latency_of(params),
        "cells": CellArray.latency_of(params),
        "readout": readout.latency_of(params),
        "beats": beats - 1,
        "classifier": classifier.latency_of(params),
    }
    return CoreTiming(latency=sum(blocks.values()), cycles_per_frame=max(interval.values()), blocks=blocks,
                      interval_terms=interval)


class ReservoirCore(CoreBlock):
    """One stream of frames in, one result per frame out.

    ::

        frames ─► InputProjection ─► CellArray ─► ReadoutCrossbar ─► Classifier ─► results
                   (mask ROM,          (state RAM,   (weight RAM,        (Y sums,
                    C-input adders,     A/H/F LUTs,   lanes x K MACs,     argmax)
                    gain, clamp)        decay ROM)    bias)       ▲
                                          │                       └── load (run-time readout)
                                          └─► trace[lane] (always-ready streams)

    With ``params.readout == "serial"`` the readout and classifier are
    :class:`~hdl.readout.SerialReadoutCrossbar` and
    :class:`~hdl.classifier.SerialClassifier` (:func:`variants`): ``lanes``
    multipliers, K clocks per beat (one output each), accumulators and sums in
    memories, ``y[k]`` passed to the classifier one per beat
    (docs/hardware.md, "The serial readout").

    Every block is a pipeline with one stall condition (its output holds a
    beat that is not taken), joined by ``amaranth.lib.stream`` handshakes, so
    back-pressure on ``results`` stops everything upstream and nothing is lost
    or repeated. A frame is accepted when the projection issues the last beat
    of the previous frame, so frames follow each other every
    :attr:`cycles_per_frame` clocks.

    Parameters
    ----------
    params : CoreParams
    weights : (F_tot, K) int array, optional
        The baked readout; zeros (to be loaded at run time) when omitted.
    biases : (K,) int array, optional
    trace : bool
        Expose the trace port (default). Without it the Verilog has no trace outputs.

    Attributes
    ----------
    frames : In(stream.Signature(params.frame_layout))
    results : Out(stream.Signature(params.result_layout))
    load : In(stream.Signature(params.load_layout))
    trace : the cell array's ``trace`` member, only with ``trace=True``
        One always-ready stream of cell writes per lane (:class:`~hdl.cell_array.CellArray`).
    """

    @classmethod
    def check(cls, params: CoreParams, weights=None, biases=None, *, trace: bool = True) -> None:
        """Refuse a readout that does not fit ``params`` (:func:`~hdl.readout.check_readout`)."""
        super().check(params)
        cls._readout(params, weights, biases)

    @staticmethod
    def _readout(params: CoreParams, weights, biases) -> tuple[np.ndarray, np.ndarray]:
        """The checked readout; zeros for what is omitted."""
        return check_readout(
            params,
            np.zeros((params.n_features, params.n_outputs), dtype=np.int64) if weights is None else weights,
            np.zeros(params.n_outputs, dtype=np.int64) if biases is None else biases)

    def __init__(self, params: CoreParams, weights=None, biases=None, *, trace: bool = True):
        self._p = params
        self._trace = bool(trace)
        self._weights, self._biases = self._readout(params, weights, biases)
        self.projection = InputProjection(params)
        self.cells = CellArray(params)
        readout, classifier = variants(params)
        self.readout = readout(params, self._weights, self._biases)
        self.classifier = classifier(params)
        # Register slices between the blocks: each block's stall depends only on its own output
        # register and the next slice's "full" register, not on the blocks further down.
        self.skid_cells = SkidBuffer(params.pulse_layout)
        self.skid_readout = SkidBuffer(params.feature_layout)
        self.skid_classifier = SkidBuffer(params.readout_output_layout)
        members = {
            "frames": In(stream.Signature(params.frame_layout)),
            "results": Out(stream.Signature(params.result_layout)),
            "load": In(stream.Signature(params.load_layout)),
        }
        if self._trace:
            members["trace"] = self.cells.signature.members["trace"]
        super().__init__(members)

    @property
    def params(self) -> CoreParams:
        return self._p

    @property
    def timing(self) -> CoreTiming:
        """The pipeline figures (:func:`core_timing`)."""
        return core_timing(self._p)

    @property
    def cycles_per_frame(self) -> int:
        """Clocks between frames when the input is always valid and the output always ready."""
        return self.timing.cycles_per_frame

    @property
    def latency(self) -> int:
        """Clocks from accepting a frame to its result being valid (empty pipeline, output ready)."""
        return self.timing.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.projection = self.projection
        m.submodules.cells = self.cells
        m.submodules.readout = self.readout
        m.submodules.classifier = self.classifier
        m.submodules.skid_cells = self.skid_cells
        m.submodules.skid_readout = self.skid_readout
        m.submodules.skid_classifier = self.skid_classifier
        wiring.connect(m, wiring.flipped(self.frames), self.projection.i)
        wiring.connect(m, self.projection.o, self.skid_cells.i)
        wiring.connect(m, self.skid_cells.o, self.cells.i)
        wiring.connect(m, self.cells.o, self.skid_readout.i)
        wiring.connect(m, self.skid_readout.o, self.readout.i)
        wiring.connect(m, self.readout.o, self.skid_classifier.i)
        wiring.connect(m, self.skid_classifier.o, self.classifier.i)
        wiring.connect(m, self.classifier.o, wiring.flipped(self.results))
        wiring.connect(m, wiring.flipped(self.load), self.readout.load)
        if self._trace:
            for cells_lane, lane in zip(self.cells.trace, self.trace):
                wiring.connect(m, cells_lane, wiring.flipped(lane))
        return m
