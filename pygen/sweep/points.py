"""The points of a sweep and their keys: what a training and a synthesis are cached by."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memres.pygen.sweep.spec import Spec, merge
from memres.sw_model import regression, speech
from memres.sw_model.config import ConfigError, config_from_dict
from memres.sw_model.workflow import TASK_DEFAULTS

__all__ = ["Point", "make_points", "model_key", "hardware_key", "hardware_version", "digest", "io_counts",
           "CONTENT_ONLY_FIELDS"]

#: Reservoir fields that only change the *contents* of the decay-factor memory (or mask ROM), not its
#: shape: syntheses are shared across them under ``synth_share = "structure"`` (see docs/sweep.md).
CONTENT_ONLY_FIELDS = ("tau", "dt_ns", "tau_spread", "seed", "read_noise")


def digest(obj: Any, n: int = 12) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


@dataclass
class Point:
    """One configuration of the sweep: its axis values, its full configuration (or the error) and its keys."""

    values: dict
    lanes: int
    config: dict | None
    error: str | None
    id: str
    model_key: str | None = None
    io: tuple[int, int] | None = None

    def hw_key(self, family: str, share: str) -> str:
        return hardware_key(self.config, self.io, self.lanes, family, share)


def io_counts(task: str, cfg) -> tuple[int, int]:
    """(C, K) of the core: inputs and readout outputs of the task."""
    if task == "fsdd":
        return speech.frontend_config(cfg).n_inputs, speech.N_CLASSES
    d = regression.make_data(task, cfg, n_train=1, n_test=1)
    return regression.fit_scaler(d, cfg).n_outputs, int(d.series.y.shape[1])


def _point(spec: Spec, values: dict) -> Point:

    lanes = values.get("lanes", 1)
    over: dict = {}
    for name, v in values.items():
        if name == "lanes":
            continue
        section, _, fld = name.partition(".")
        over.setdefault(section, {})[fld] = v
    raw = merge(merge(TASK_DEFAULTS[spec.task], spec.base), over)
    try:
        cfg = config_from_dict(raw)
        if isinstance(lanes, bool) or not isinstance(lanes, int):
            raise ConfigError(f"lanes = {lanes!r} is not an integer")
        io = io_counts(spec.task, cfg)
    except (ConfigError, ValueError) as e:
        return Point(values, lanes, None, str(e), digest({"task": spec.task, "raw": raw, "lanes": lanes}))
    d = cfg.to_dict()
    mkey = model_key(spec.task, d, spec.train_seed)
    return Point(values, lanes, d, None, digest({"model": mkey, "lanes": lanes}), mkey, io)


def make_points(spec: Spec) -> list[Point]:
    """The points of the sweep, in a deterministic order; the same id never appears twice."""
    if spec.mode == "grid":
        grids = [a.grid() for a in spec.axes]
        raw = [dict(zip([a.name for a in spec.axes], combo)) for combo in itertools.product(*grids)]
    else:
        rng = np.random.default_rng(spec.seed)
        raw, seen = [], set()
        for _ in range(50 * spec.n_points):
            values = {a.name: a.draw(rng) for a in spec.axes}
            key = digest(values)
            if key not in seen:
                seen.add(key)
                raw.append(values)
            if len(raw) == spec.n_points:
                break
    out, ids = [], set()
    for values in raw:
        p = _point(spec, values)
        if p.id not in ids:
            ids.add(p.id)
            out.append(p)
    return out


def model_key(task: str, config: dict, train_seed: int = 0) -> str:
    """Everything that changes the trained model and its score: task, the whole configuration, seed."""
    return digest({"task": task, "config": config, "seed": train_seed}, 16)


def hardware_key(config: dict, io: tuple[int, int], lanes: int, family: str, share: str = "structure") -> str:
    """Key of a synthesis: what :class:`hdl.CoreParams` and the generated circuit depend on.

    With ``share = "structure"`` the fields in :data:`CONTENT_ONLY_FIELDS` (relaxation times, pulse
    interval, seed of mask and draws) are left out, and the idle gap counts only as present or not:
    they change the numbers stored in the decay-factor memory and the mask ROM, not the width or depth
    of any memory, register or multiplier. The readout and front-end sections (C is part of the key)
    do not reach the hardware at all. With ``share = "none"`` the key is the whole configuration. Either
    way it includes :func:`hardware_version`.
    """
    cfg = json.loads(json.dumps(config))
    if share == "structure":
        res = cfg["reservoir"]
        for name in CONTENT_ONLY_FIELDS:
            res.pop(name, None)
        res["idle_ns"] = bool(res.get("idle_ns"))
        cfg.pop("readout", None)
        cfg.pop("frontend", None)
    return digest({"config": cfg, "io": list(io), "lanes": lanes, "family": family, "hw": hardware_version()}, 16)


@functools.lru_cache(maxsize=1)
def hardware_version() -> str:
    """Digest of the sources that make the circuit (hdl/*.py and the generator): part of every synthesis
    key, so syntheses of an older core are never reused for a changed one."""
    root = Path(__file__).resolve().parents[2]
    files = sorted((root / "hdl").glob("*.py")) + [root / "pygen" / n for n in ("generate.py", "source.py",
                                                                                  "manifest.py")]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]

