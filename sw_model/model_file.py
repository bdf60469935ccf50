"""Trained models in one versioned file.

A model file is a NumPy ``.npz`` archive (read with ``allow_pickle=False``)
holding a JSON header (``meta``) and the readout arrays. The header carries a
format name and version; a file of another format, a newer version, a
truncated or otherwise corrupt file is refused with :class:`ModelFileError`
naming the file and the problem.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ConfigError, ModelConfig, config_from_dict
from .fixed import FixedConstants, build_constants
from .readout import IntReadout
from .errors import MemresError

FORMAT = "memres-model"
FORMAT_VERSION = 1


class ModelFileError(MemresError, ValueError):
    """A model file cannot be read or is not a usable memres model."""


@dataclass
class TrainedModel:
    """A reservoir configuration with its trained readouts and preprocessing."""

    task: str
    config: ModelConfig
    n_inputs: int
    n_outputs: int
    w_float: np.ndarray | None = None
    b_float: np.ndarray | None = None
    readout_int: IntReadout | None = None
    #: Fitted input preprocessing (front-end normaliser or input scaler), as a plain dict.
    preprocessing: dict = field(default_factory=dict)
    #: What is needed to rebuild the evaluation data (split, seeds, lengths, data folder).
    task_params: dict = field(default_factory=dict)
    #: Figures measured at training time.
    metrics: dict = field(default_factory=dict)

    def constants(self) -> FixedConstants:
        """The integer constants of the reservoir (what the hardware bakes in)."""
        return build_constants(self.config.reservoir, self.config.fixed, self.n_inputs)

    def save(self, path: str | Path) -> Path:
        from . import __version__
        path = Path(path)
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "memres_version": __version__,
            "task": self.task, "config": self.config.to_dict(), "config_hash": self.config.hash(),
            "n_inputs": self.n_inputs, "n_outputs": self.n_outputs,
            "preprocessing": self.preprocessing, "task_params": self.task_params, "metrics": self.metrics,
            "int_scale": None if self.readout_int is None else self.readout_int.scale,
        }
        arrays = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)}
        if self.w_float is not None:
            arrays.update(w_float=self.w_float, b_float=self.b_float)
        if self.readout_int is not None:
            arrays.update(w_int=self.readout_int.w, b_int=self.readout_int.b)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:  # np.savez would append .npz to a name without it
            np.savez_compressed(f, **arrays)
        return path


def load_model(path: str | Path) -> TrainedModel:
    """Read a model file written by :meth:`TrainedModel.save`."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ModelFileError(f"{path} is not a readable memres model file (corrupt or another format): {e}") from None
    if "meta" not in arrays:
        raise ModelFileError(f"{path} is not a memres model file: it has no 'meta' header")
    try:
        meta = json.loads(arrays["meta"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: the model header is corrupt: {e}") from None
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a {meta.get('format')!r} file, not a {FORMAT!r} file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path} has model format version {version}; this memres reads version "
                             f"{FORMAT_VERSION} (retrain the model with this version)")
    try:
        config = config_from_dict(meta["config"])
        ro = None
        if "w_int" in arrays:
            ro = IntReadout(w=arrays["w_int"].astype(np.int64), b=arrays["b_int"].astype(np.int64),
                            scale=float(meta["int_scale"]))
        return TrainedModel(
            task=meta["task"], config=config, n_inputs=int(meta["n_inputs"]), n_outputs=int(meta["n_outputs"]),
            w_float=arrays.get("w_float"), b_float=arrays.get("b_float"), readout_int=ro,
            preprocessing=meta.get("preprocessing", {}), task_params=meta.get("task_params", {}),
            metrics=meta.get("metrics", {}),
        )
    except (KeyError, TypeError, ConfigError) as e:
        raise ModelFileError(f"{path}: the model header is incomplete or invalid: {e}") from None
