"""The one design record: what a reservoir core is made of.

A :class:`Design` is everything that fixes the integer behaviour and the
shape of one core: the model configuration, the input and output counts,
the lanes, the readout crossbar variant and the integer readout (baked into
the Verilog, or loaded at run time). The generator (``pygen``), the checker
(``testbenches``) and the board builds all take a ``Design``; its
:attr:`Design.params` is the :class:`~hdl.params.CoreParams` the blocks are
built from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from memres.sw_model.config import ModelConfig, config_from_dict
from memres.sw_model.fixed import build_constants
from memres.sw_model.readout import IntReadout

from .params import CoreParams

__all__ = ["Design"]


@dataclass
class Design:
    """What the golden model needs to know about a core: configuration, sizes, lanes and readout.

    ``baked`` says whether the readout is in the Verilog (a core generated from a
    model) or has to be written through the ``load`` port first (a core generated
    from a configuration, whose memory holds zeros). ``readout_mode`` is the
    crossbar variant, ``"parallel"`` or ``"serial"`` (``CoreParams.readout``).
    """

    config: ModelConfig
    n_inputs: int
    n_outputs: int
    lanes: int
    w: np.ndarray
    b: np.ndarray
    baked: bool = True
    source: str = "in-memory design"
    readout_mode: str = "parallel"
    #: Where the serial readout keeps its weights (``CoreParams.weight_ram``): "block", or "spram" (iCE40
    #: SPRAM, not initialised by the bitstream: the readout is written through ``load`` first).
    weight_ram: str = "block"

    @cached_property
    def params(self) -> CoreParams:
        k = build_constants(self.config.reservoir, self.config.fixed, self.n_inputs)
        return CoreParams(k, self.n_outputs, self.lanes, self.readout_mode, self.weight_ram)

    @property
    def needs_load(self) -> bool:
        """Whether the readout must be written through ``load`` before frames: not baked, or in SPRAM."""
        return not self.baked or self.weight_ram != "block"

    @property
    def readout(self) -> IntReadout:
        return IntReadout(w=np.asarray(self.w, dtype=np.int64), b=np.asarray(self.b, dtype=np.int64), scale=1.0)

    def describe(self) -> dict:
        p = self.params
        return {"source": self.source, "config_hash": self.config.hash(), "n_devices": p.n_devices,
                "n_virtual": p.n_virtual, "n_inputs": p.n_inputs, "n_outputs": p.n_outputs, "lanes": p.lanes,
                "state_features": bool(p.k.state_features), "idle_gap": p.has_idle, "rows": p.rows,
                "fixed": dict(p.k.fx.__dict__), "readout": "baked" if self.baked else "loaded",
                "readout_mode": p.readout, "weight_ram": p.weight_ram}

    def to_json(self) -> dict:
        return {"config": self.config.to_dict(), "n_inputs": self.n_inputs, "n_outputs": self.n_outputs,
                "lanes": self.lanes, "baked": self.baked, "source": self.source, "readout_mode": self.readout_mode,
                "weight_ram": self.weight_ram}

    @classmethod
    def from_json(cls, d: dict, w: np.ndarray, b: np.ndarray) -> "Design":
        return cls(config_from_dict(d["config"]), int(d["n_inputs"]), int(d["n_outputs"]), int(d["lanes"]),
                   np.asarray(w, dtype=np.int64), np.asarray(b, dtype=np.int64), bool(d["baked"]), d["source"],
                   d.get("readout_mode", "parallel"), d.get("weight_ram", "block"))

    def with_lanes(self, lanes: int) -> "Design":
        return dataclasses.replace(self, lanes=lanes)

    def with_readout_mode(self, readout_mode: str) -> "Design":
        return dataclasses.replace(self, readout_mode=readout_mode)
