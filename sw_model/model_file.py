"""Trained models in one versioned file.

A model file is a NumPy ``.npz`` archive (read with ``allow_pickle=False``)
holding a JSON header (``meta``) and the readout arrays. The header carries a
format name and version; a file of another format, a newer version, a
truncated or otherwise corrupt file is refused with :class:`ModelFileError`
naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ConfigError, ModelConfig, config_from_dict
from .fixed import FixedConstants, build_constants
from .readout import IntReadout
from . import __version__
from .atomic import atomic_output, check_output_path
from .errors import MemresError
from .reservoir import n_features

FORMAT = "memres-model"
#: Version 2 adds the content digest; version 1 files (no digest) are still read, with every other check.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


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
        """Write the model atomically (a temporary file renamed over ``path``): the old file survives a failure."""
        path = Path(path)
        check_output_path(path)
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "memres_version": __version__,
            "task": self.task, "config": self.config.to_dict(), "config_hash": self.config.hash(),
            "n_inputs": self.n_inputs, "n_outputs": self.n_outputs,
            "preprocessing": self.preprocessing, "task_params": self.task_params, "metrics": self.metrics,
            "int_scale": None if self.readout_int is None else self.readout_int.scale,
        }
        arrays = {}
        if self.w_float is not None:
            arrays.update(w_float=np.asarray(self.w_float, dtype=np.float64),
                          b_float=np.asarray(self.b_float, dtype=np.float64))
        if self.readout_int is not None:
            arrays.update(w_int=np.asarray(self.readout_int.w, dtype=np.int64),
                          b_int=np.asarray(self.readout_int.b, dtype=np.int64))
        meta["digest"] = _digest(meta, arrays)
        arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        with atomic_output(path, "wb") as f:  # np.savez would append .npz to a name without it
            np.savez_compressed(f, **arrays)
        return path


def _digest(meta: dict, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the header (without the digest) and every array's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


#: What a damaged archive can raise inside numpy/zipfile/zlib while it is read.
_READ_ERRORS = (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, RuntimeError, NotImplementedError,
                KeyError, struct.error, UnicodeDecodeError, OverflowError, MemoryError)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("a single .npy array, not an archive")
            return {k: z[k] for k in z.files}
    except _READ_ERRORS as e:
        # Never pass on numpy's advice to load with allow_pickle=True: a model file holds no objects.
        reason = "it holds Python objects" if "pickle" in str(e) else (str(e).splitlines() or [type(e).__name__])[0]
        raise ModelFileError(f"{path} is not a readable memres model file (damaged or another format: "
                             f"{reason[:200]})") from None


def _header(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    raw = arrays.get("meta")
    if raw is None:
        raise ModelFileError(f"{path} is not a memres model file: it has no 'meta' header")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: the model header is not a byte string")
    try:
        meta = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path}: the model header is damaged: {e}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: the model header is a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a {meta.get('format')!r} file, not a {FORMAT!r} file")
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(f"{path} has model format version {version!r}; this memres reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))} (retrain the model with this version)")
    return meta


def _check_array(path: Path, arrays: dict, name: str, kind: str, shape: tuple[int, ...]) -> np.ndarray | None:
    a = arrays.get(name)
    if a is None:
        return None
    if a.dtype.kind != kind:
        raise ModelFileError(f"{path}: array {name!r} has dtype {a.dtype}, expected "
                             f"{'integers' if kind == 'i' else 'floats'}")
    if a.shape != shape:
        raise ModelFileError(f"{path}: array {name!r} has shape {a.shape}, but the header's model needs {shape} "
                             f"(the file was edited or damaged)")
    if kind == "f" and not np.all(np.isfinite(a)):
        raise ModelFileError(f"{path}: array {name!r} holds NaN or infinite values")
    return a


def load_model(path: str | Path) -> TrainedModel:
    """Read a model file written by :meth:`TrainedModel.save`, checking its integrity.

    Refused with :class:`ModelFileError`: a missing or unreadable file, another format or version, a header
    whose configuration does not match its stored hash, a content digest that does not match (an edited
    header or array), arrays of the wrong shape or type, and readouts present in half.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    arrays = _read_arrays(path)
    meta = _header(path, arrays)
    body = {k: v for k, v in arrays.items() if k != "meta"}
    if meta["format_version"] >= 2 and meta.get("digest") != _digest(meta, body):
        raise ModelFileError(f"{path}: the content digest does not match (the header or an array was edited "
                             f"or damaged); retrain or restore the model")
    try:
        config = config_from_dict(meta["config"])
        n_inputs, n_outputs = meta["n_inputs"], meta["n_outputs"]
        for name, v in (("n_inputs", n_inputs), ("n_outputs", n_outputs)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ModelFileError(f"{path}: header field {name} must be a positive integer, not {v!r}")
        if meta.get("config_hash") != config.hash():
            raise ModelFileError(f"{path}: the configuration does not match its stored hash "
                                 f"({meta.get('config_hash')!r} vs {config.hash()!r}); the header was edited")
        for name in ("preprocessing", "task_params", "metrics"):
            if not isinstance(meta.get(name, {}), dict):
                raise ModelFileError(f"{path}: header field {name} must be an object")
        f = n_features(config.reservoir)
        w_float = _check_array(path, arrays, "w_float", "f", (f, n_outputs))
        b_float = _check_array(path, arrays, "b_float", "f", (n_outputs,))
        w_int = _check_array(path, arrays, "w_int", "i", (f, n_outputs))
        b_int = _check_array(path, arrays, "b_int", "i", (n_outputs,))
        if (w_float is None) != (b_float is None) or (w_int is None) != (b_int is None):
            raise ModelFileError(f"{path}: a readout is stored in half (weights without biases or the reverse)")
        ro = None
        if w_int is not None:
            scale = meta.get("int_scale")
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
                raise ModelFileError(f"{path}: header field int_scale must be a finite number, not {scale!r}")
            ro = IntReadout(w=w_int.astype(np.int64), b=b_int.astype(np.int64), scale=float(scale))
        task = meta["task"]
        if not isinstance(task, str):
            raise ModelFileError(f"{path}: header field task must be a string, not {task!r}")
        return TrainedModel(
            task=task, config=config, n_inputs=n_inputs, n_outputs=n_outputs,
            w_float=w_float, b_float=b_float, readout_int=ro,
            preprocessing=meta.get("preprocessing", {}), task_params=meta.get("task_params", {}),
            metrics=meta.get("metrics", {}),
        )
    except KeyError as e:
        raise ModelFileError(f"{path}: the model header lacks the field {e.args[0]!r}") from None
    except ConfigError as e:
        raise ModelFileError(f"{path}: the stored configuration is invalid: {e}") from None
