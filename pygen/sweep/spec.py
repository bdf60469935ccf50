"""A sweep specification: :class:`Spec`, its axes (:class:`Axis`), parsing and checking."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from memres.pygen.generate import SYNTH_TARGETS
from memres.sw_model.config import (ConfigError, FixedConfig, ReadoutConfig, ReservoirConfig, config_from_dict,
                             read_toml_or_json)
from memres.sw_model.errors import MemresError
from memres.sw_model.workflow import TASK_DEFAULTS, TASK_NAMES

__all__ = ["SweepError", "Spec", "Axis", "parse_spec", "load_spec", "merge", "SPEC_KEYS", "RANGE_KEYS"]

SPEC_KEYS = ("task", "mode", "n_points", "seed", "synth", "synth_share", "base", "axes", "data", "train_seed")
RANGE_KEYS = ("low", "high", "step", "num", "log", "integer")


class SweepError(MemresError, ValueError):
    """A sweep specification or output folder the sweep cannot use; the message names the problem."""


# --- specification ---------------------------------------------------------------

def _sections() -> dict[str, set[str]]:
    return {name: {f.name for f in dataclasses.fields(cls)}
            for name, cls in (("reservoir", ReservoirConfig), ("fixed", FixedConfig), ("readout", ReadoutConfig))}


def _axis_path(name: str) -> str:
    """Canonical axis name: ``lanes``, ``section.field``; a bare field name is looked up in the sections."""
    sections = _sections()
    if name == "lanes":
        return name
    if "." in name:
        section, _, fld = name.partition(".")
        if section == "frontend" and fld:
            return name
        if section not in sections:
            raise SweepError(f"sweep axis {name!r}: unknown section {section!r} "
                             f"(use reservoir, fixed, readout or frontend)")
        if fld not in sections[section]:
            raise SweepError(f"sweep axis {name!r}: {section} has no field {fld!r}; "
                             f"its fields are {', '.join(sorted(sections[section]))}")
        return name
    owners = [s for s, names in sections.items() if name in names]
    if not owners:
        raise SweepError(f"sweep axis {name!r} is not a configuration field: use lanes, a field of reservoir "
                         f"or fixed (e.g. n_devices, tau, state_bits), or section.field")
    return f"{owners[0]}.{name}"


@dataclass(frozen=True)
class Axis:
    """One swept field: a list of values, or a range ``low..high`` (``step`` or ``num`` for a grid)."""

    name: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    num: int | None = None
    log: bool = False
    integer: bool = False

    @classmethod
    def parse(cls, name: str, value: Any) -> "Axis":
        path = _axis_path(name)
        if isinstance(value, list):
            if not value:
                raise SweepError(f"sweep axis {name!r} has no values")
            return cls(path, values=tuple(value))
        if isinstance(value, dict) and set(value) <= set(RANGE_KEYS) and {"low", "high"} <= set(value):
            low, high = value["low"], value["high"]
            for key in ("low", "high", "step"):
                v = value.get(key)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                    raise SweepError(f"sweep axis {name!r}: {key} = {v!r} is not a number")
            if high < low:
                raise SweepError(f"sweep axis {name!r}: high ({high}) is below low ({low})")
            step, num = value.get("step"), value.get("num")
            if step is not None and step <= 0:
                raise SweepError(f"sweep axis {name!r}: step must be > 0, not {step!r}")
            if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
                raise SweepError(f"sweep axis {name!r}: num must be a positive integer, not {num!r}")
            log = bool(value.get("log", False))
            if log and low <= 0:
                raise SweepError(f"sweep axis {name!r}: a log range needs low > 0, not {low!r}")
            integer = bool(value.get("integer", isinstance(low, int) and isinstance(high, int)
                                     and (step is None or isinstance(step, int))))
            return cls(path, low=low, high=high, step=step, num=num, log=log, integer=integer)
        raise SweepError(f"sweep axis {name!r} = {value!r}: expected a list of values or a range table "
                         f"{{low, high, step | num, log, integer}}")

    def grid(self) -> list:
        if self.values:
            return list(self.values)
        if self.step is None and self.num is None:
            raise SweepError(f"sweep axis {self.name!r}: a grid needs a list, or a range with step or num")
        if self.num is not None:
            if self.num == 1:
                raw = [self.low]
            elif self.log:
                raw = list(np.geomspace(self.low, self.high, self.num))
            else:
                raw = list(np.linspace(self.low, self.high, self.num))
        else:
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            raw = [self.low + i * self.step for i in range(count)]
        return list(dict.fromkeys(self._cast(v) for v in raw))

    def draw(self, rng: np.random.Generator):
        if self.values:
            return self.values[int(rng.integers(len(self.values)))]
        if self.step is not None or self.num is not None:
            grid = self.grid()
            return grid[int(rng.integers(len(grid)))]
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        return self._cast(v)

    def _cast(self, v):
        return int(round(v)) if self.integer else float(round(float(v), 12))


@dataclass(frozen=True)
class Spec:
    """A parsed sweep specification."""

    task: str = "fsdd"
    mode: str = "grid"
    n_points: int | None = None
    seed: int = 0
    synth: tuple[str, ...] = ("ice40",)
    synth_share: str = "structure"
    base: dict = field(default_factory=dict)
    axes: tuple[Axis, ...] = ()
    data: str | None = None
    train_seed: int = 0


def parse_spec(data: dict, where: str = "sweep spec") -> Spec:
    """Check a specification dictionary and return a :class:`Spec`; :class:`SweepError` names what is wrong."""

    if not isinstance(data, dict):
        raise SweepError(f"{where}: expected a table of settings, not {type(data).__name__}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise SweepError(f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(SPEC_KEYS)}")
    task = data.get("task", "fsdd")
    if task not in TASK_NAMES:
        raise SweepError(f"{where}: task = {task!r} is not known; choose one of {', '.join(TASK_NAMES)}")
    mode = data.get("mode", "grid")
    if mode not in ("grid", "random"):
        raise SweepError(f"{where}: mode = {mode!r}: use 'grid' or 'random'")
    n_points = data.get("n_points")
    if mode == "random" and (isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1):
        raise SweepError(f"{where}: mode = 'random' needs n_points, a positive integer (got {n_points!r})")
    seed = data.get("seed", 0)
    train_seed = data.get("train_seed", 0)
    for key, v in (("seed", seed), ("train_seed", train_seed)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise SweepError(f"{where}: {key} = {v!r} must be an integer >= 0")
    synth = data.get("synth", ["ice40"])
    if isinstance(synth, str):
        synth = [synth]
    if not isinstance(synth, list) or any(f not in SYNTH_TARGETS for f in synth):
        raise SweepError(f"{where}: synth = {synth!r}: a list of families among {', '.join(SYNTH_TARGETS)} "
                         f"(or [] for no synthesis)")
    share = data.get("synth_share", "structure")
    if share not in ("structure", "none"):
        raise SweepError(f"{where}: synth_share = {share!r}: use 'structure' (share syntheses across "
                         f"decay constants) or 'none' (one synthesis per configuration)")
    base = data.get("base", {})
    if not isinstance(base, dict):
        raise SweepError(f"{where}: base must be a configuration table, not {base!r}")
    try:
        config_from_dict(merge(TASK_DEFAULTS[task], base))
    except ConfigError as e:
        raise SweepError(f"{where}: base configuration: {e}") from None
    axes_raw = data.get("axes", {})
    if not isinstance(axes_raw, dict):
        raise SweepError(f"{where}: axes must be a table of field = values")
    axes = tuple(Axis.parse(name, value) for name, value in _flatten_axes(axes_raw))
    names = [a.name for a in axes]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SweepError(f"{where}: axis {dup[0]!r} is given twice")
    if mode == "grid":
        for a in axes:
            a.grid()
    dd = data.get("data")
    if dd is not None and not isinstance(dd, str):
        raise SweepError(f"{where}: data must be a folder path, not {dd!r}")
    return Spec(task=task, mode=mode, n_points=n_points, seed=seed, synth=tuple(dict.fromkeys(synth)),
                synth_share=share, base=base, axes=axes, data=dd, train_seed=train_seed)


def _flatten_axes(raw: dict, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """TOML writes ``reservoir.n_devices = [...]`` as nested tables: flatten them back to dotted names."""
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix and key in ("reservoir", "fixed", "readout", "frontend"):
            yield from _flatten_axes(value, f"{key}.")
        else:
            yield name, value


def load_spec(path: str | Path) -> Spec:
    """Read a sweep specification (.toml or .json)."""

    path = Path(path)
    data = read_toml_or_json(path, "sweep spec", SweepError)
    spec = parse_spec(data, f"sweep spec {path.name}")
    if spec.data is not None and not Path(spec.data).is_absolute():
        spec = dataclasses.replace(spec, data=str((path.parent / spec.data).resolve()))
    return spec


def merge(base: dict, over: dict) -> dict:
    """Deep merge of configuration dictionaries; a ``tau`` value replaces the old one whole."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) and k != "tau" else v
    return out

