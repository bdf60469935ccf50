"""What the hardware commands take as input: a trained model file or a configuration file.

``memres generate``, ``verify`` and ``build`` accept either

* a model file (``.npz``, :func:`sw_model.model_file.load_model`): its
  configuration, input and output counts and its integer readout, which is
  baked into the hardware; or
* a configuration (``.json`` / ``.toml``, :func:`sw_model.config.load_config`):
  no readout (the hardware's weights are loaded at run time), with
  ``n_inputs`` / ``n_outputs`` defaulting to 32 / 10.

:func:`load_source` reads either into one :class:`Source`, refusing what cannot
become hardware with a :class:`SourceError` that names the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memres.hdl.design import Design
from memres.sw_model.config import ConfigError, load_config
from memres.sw_model.errors import MemresError
from memres.sw_model.model_file import ModelFileError, load_model

__all__ = ["Source", "SourceError", "load_source", "DEFAULT_INPUTS", "DEFAULT_OUTPUTS"]

#: Inputs and outputs of a core made from a configuration file (no trained readout).
DEFAULT_INPUTS = 32
DEFAULT_OUTPUTS = 10


class SourceError(MemresError, ValueError):
    """The model or configuration file cannot be used; the message names the problem."""


@dataclass
class Source:
    path: Path
    config: object                      # sw_model.config.ModelConfig
    n_inputs: int
    n_outputs: int
    weights: np.ndarray | None = None   # the model's integer readout; None for a configuration
    biases: np.ndarray | None = None
    model: object = None                # sw_model.model_file.TrainedModel, or None
    info: dict = field(default_factory=dict)

    @property
    def is_model(self) -> bool:
        return self.model is not None

    def design(self, lanes: int = 1, readout_mode: str = "parallel") -> Design:
        """The design record of this source: a model's readout baked in, a configuration's zero and loaded."""
        if self.is_model:
            return Design(self.config, self.n_inputs, self.n_outputs, lanes, self.weights, self.biases,
                          baked=True, source=str(self.path), readout_mode=readout_mode)
        k = self.n_outputs
        return Design(self.config, self.n_inputs, k, lanes, np.zeros((0, k), dtype=np.int64),
                      np.zeros(k, dtype=np.int64), baked=False, source=str(self.path), readout_mode=readout_mode)


def load_source(source: str | Path, n_inputs: int | None = None, n_outputs: int | None = None) -> Source:
    """Read a model (``.npz``) or configuration (``.json`` / ``.toml``) file.

    ``n_inputs`` / ``n_outputs``: for a configuration, the core's sizes
    (default 32 / 10); for a model, checked against what it was trained with.
    """
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"{path} does not exist (expected a model file .npz or a configuration .json/.toml)")
    if path.suffix.lower() in (".json", ".toml"):
        try:
            cfg = load_config(path)
        except ConfigError as e:
            raise SourceError(str(e)) from None
        info = {"kind": "config", "file": path.name, "config_hash": cfg.hash(), "readout": "zero",
                "note": "configuration only: readout weights and biases are zero, load them at run time "
                        "through the `load` port"}
        return Source(path, cfg, DEFAULT_INPUTS if n_inputs is None else n_inputs,
                      DEFAULT_OUTPUTS if n_outputs is None else n_outputs, info=info)
    try:
        model = load_model(path)
    except ModelFileError as e:
        raise SourceError(str(e)) from None
    for name, given, have in (("inputs", n_inputs, model.n_inputs), ("outputs", n_outputs, model.n_outputs)):
        if given is not None and given != have:
            raise SourceError(f"{path.name} was trained with {have} {name}; --{name} {given} does not match "
                              f"(omit it, or use the configuration for another size)")
    if model.readout_int is None:
        raise SourceError(f"{path.name} has no integer readout (w_int/b_int): the hardware needs the "
                          f"quantised readout; retrain with this memres, or use its configuration "
                          f"and load weights at run time")
    info = {"kind": "model", "file": path.name, "config_hash": model.config.hash(), "task": model.task,
            "readout": "model", "int_scale": float(model.readout_int.scale)}
    return Source(path, model.config, model.n_inputs, model.n_outputs, model.readout_int.w, model.readout_int.b,
                  model=model, info=info)
