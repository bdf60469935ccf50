"""The reservoir core: projection -> cell array -> readout crossbar -> classifier."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .cell_array import CellArray, TraceSignature
from .classifier import Classifier
from .params import CoreParams, HardwareParamError
from .projection import InputProjection
from .readout import ReadoutCrossbar, check_readout
from .skid import SkidBuffer

__all__ = ["ReservoirCore"]


class ReservoirCore(wiring.Component):
    """One stream of frames in, one result per frame out.

    ::

        frames ─► InputProjection ─► CellArray ─► ReadoutCrossbar ─► Classifier ─► results
                   (mask ROM,          (state RAM,   (weight RAM,        (Y sums,
                    C-input adders,     A/H/F LUTs,   lanes x K MACs,     argmax)
                    gain, clamp)        decay ROM)    bias)       ▲
                                          │                       └── load (run-time readout)
                                          └─► trace (valid-only, per lane)

    With ``params.readout == "serial"`` the readout has ``lanes`` multipliers
    and spends K clocks per beat (one output each), its accumulators and the
    classifier's sums are memories, and ``y[k]`` passes to the classifier one
    per beat (docs/hardware.md, "The serial readout").

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
    trace : Out(TraceSignature(params)), only with ``trace=True``
    """

    def __init__(self, params: CoreParams, weights=None, biases=None, *, trace: bool = True):
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {params!r}")
        self._p = params
        self._trace = bool(trace)
        try:
            self._weights, self._biases = check_readout(
                params,
                np.zeros((params.n_features, params.n_outputs), dtype=np.int64) if weights is None else weights,
                np.zeros(params.n_outputs, dtype=np.int64) if biases is None else biases)
        except HardwareParamError:
            self._MustUse__silence = True   # refused, not forgotten: no "never used" warning
            raise
        self.projection = InputProjection(params)
        self.cells = CellArray(params)
        self.readout = ReadoutCrossbar(params, self._weights, self._biases)
        self.classifier = Classifier(params)
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
            members["trace"] = Out(TraceSignature(params))
        super().__init__(members)

    @property
    def params(self) -> CoreParams:
        return self._p

    @property
    def cycles_per_frame(self) -> int:
        """Clocks between frames when the input is always valid and the output always ready.

        ``max(rows, K)``: the cell array spends ``rows = passes * slots`` clocks
        on a frame, the classifier ``max(K, 2)`` (and ``rows >= 2``). Serial
        readout: ``max(rows * K, K + 2)``: the readout spends K clocks per beat,
        the classifier ``K + 2`` per frame.
        """
        return max(self._p.rows * self.readout.beat_clocks, self.classifier.interval)

    @property
    def latency(self) -> int:
        """Clocks from accepting a frame to its result being valid (empty pipeline, output ready).

        ``latency = rows + 14 + K`` (parallel readout): the projection issues the first beat 5
        clocks after the frame is accepted, the cell array adds 5 and the
        readout 4, the readout sees the last of the ``rows`` beats ``rows - 1``
        clocks after the first, and the classifier adds ``K + 1``. The skid
        buffers between the blocks add nothing while they are empty.

        Serial readout: ``latency = rows * K + 15``: the readout issues the last
        step of the last beat ``rows * K - 1`` clocks after the first, its
        ``y[K-1]`` is valid 3 clocks later and the classifier adds 3.
        """
        return (self.projection.latency + self.cells.latency + self.readout.latency
                + self.classifier.latency + self._p.rows * self.readout.beat_clocks - 1)

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
            wiring.connect(m, self.cells.trace, wiring.flipped(self.trace))
        return m
