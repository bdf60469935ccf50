"""Configuration of a memristive reservoir: device physics, input mask, fixed point.

Every number the model uses is a field here, so a configuration file fully
describes a reservoir. Configurations are frozen dataclasses; they are built
from plain dictionaries (JSON or TOML files) by :func:`config_from_dict`, which
refuses unknown keys and out-of-range values with a message that names the
field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from .errors import MemresError
from .frontend import FrontEndConfig

#: Relaxation times reachable by entropy-stabilized oxide devices (Yoo 2024).
ESO_TAU_RANGE_NS = (159.0, 278.0)

TAU_MODES = ("single", "list", "uniform", "log-uniform", "linear-spaced", "log-spaced", "compositions")


class ConfigError(MemresError, ValueError):
    """A configuration value is missing, unknown or out of range."""


def _bad(name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"config field {name!r} = {value!r} is not allowed: expected {allowed}")


def _check_number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                  lo_open: bool = False, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float) if not integer else int):
        raise _bad(name, value, kind)
    if not math.isfinite(value):
        raise _bad(name, value, f"a finite {kind[2:] if integer else 'number'}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise _bad(name, value, f"{kind} {'>' if lo_open else '>='} {lo}" + (f" and <= {hi}" if hi is not None else ""))
    if hi is not None and value > hi:
        raise _bad(name, value, f"{kind} <= {hi}" + (f" and {'>' if lo_open else '>='} {lo}" if lo is not None else ""))


def _numbers(name: str, values: Any) -> tuple[float, ...]:
    """A tuple of finite floats, or a ConfigError naming the element that is not a number."""
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _bad(f"{name}[{i}]", v, "a finite number")
        out.append(float(v))
    return tuple(out)


#: Largest magnitude accepted for the physical parameters: far beyond any device, and small enough that the
#: current ``Kp |V|^3`` and the integer tables built from it stay finite and exact in float64.
PHYSICAL_LIMIT = 1e6
#: Largest |V| accepted (volts): |V|^3 Kp must stay well inside float64 with Kp up to PHYSICAL_LIMIT.
VOLTAGE_LIMIT = 1e3
#: Longest time accepted for dt, tau and the idle gap (ns): one second.
TIME_LIMIT_NS = 1e9
#: Ridge lambdas (relative to the mean feature variance) outside this range only give garbage in float64.
LAMBDA_RANGE = (1e-12, 1e12)


@dataclass(frozen=True)
class TauSpec:
    """How relaxation times are assigned to the N devices.

    mode:
        ``single``        every device has ``values_ns[0]``;
        ``list``          one value per device (``len(values_ns) == N``);
        ``compositions``  a few material compositions, each with its own tau;
                          devices are assigned to them in turn (device i gets
                          ``values_ns[i % len(values_ns)]``);
        ``uniform`` / ``log-uniform``   seeded random draws in [low_ns, high_ns];
        ``linear-spaced`` / ``log-spaced``  deterministic spread over [low_ns, high_ns].
    """

    mode: str = "uniform"
    values_ns: tuple[float, ...] = ()
    low_ns: float = ESO_TAU_RANGE_NS[0]
    high_ns: float = ESO_TAU_RANGE_NS[1]

    @classmethod
    def parse(cls, value: Any) -> "TauSpec":
        """Accept a number (single), a list (list), or a mapping with ``mode``."""
        if isinstance(value, TauSpec):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(mode="single", values_ns=(float(value),))
        if isinstance(value, (list, tuple)):
            return cls(mode="list", values_ns=_numbers("reservoir.tau", value))
        if isinstance(value, dict):
            unknown = set(value) - {"mode", "values_ns", "low_ns", "high_ns"}
            if unknown:
                raise _bad(f"reservoir.tau.{sorted(unknown)[0]}", value[sorted(unknown)[0]],
                           "one of the keys mode, values_ns, low_ns, high_ns")
            kw = dict(value)
            if "mode" in kw and not isinstance(kw["mode"], str):
                raise _bad("reservoir.tau.mode", kw["mode"], f"one of {', '.join(TAU_MODES)}")
            if "values_ns" in kw:
                v = kw["values_ns"]
                kw["values_ns"] = _numbers("reservoir.tau.values_ns", v if isinstance(v, (list, tuple)) else [v])
            return cls(**kw)
        raise _bad("reservoir.tau", value, "a number, a list of numbers, or a table with 'mode'")

    def validate(self, n_devices: int) -> None:
        if self.mode not in TAU_MODES:
            raise _bad("reservoir.tau.mode", self.mode, f"one of {', '.join(TAU_MODES)}")
        if self.mode in ("single", "list", "compositions"):
            if not self.values_ns:
                raise _bad("reservoir.tau.values_ns", list(self.values_ns), "at least one value")
            for v in self.values_ns:
                _check_number("reservoir.tau.values_ns", v, lo=0.0, lo_open=True, hi=TIME_LIMIT_NS)
            if self.mode == "list" and len(self.values_ns) != n_devices:
                raise _bad("reservoir.tau.values_ns", f"{len(self.values_ns)} values",
                           f"one value per device ({n_devices})")
        else:
            _check_number("reservoir.tau.low_ns", self.low_ns, lo=0.0, lo_open=True, hi=TIME_LIMIT_NS)
            _check_number("reservoir.tau.high_ns", self.high_ns, lo=self.low_ns, hi=TIME_LIMIT_NS)


@dataclass(frozen=True)
class ReservoirConfig:
    """Device physics and input projection (domain.md sections 2 and 3).

    The update law per pulse of amplitude V on a device with state G is::

        r = exp(-dt / tau);  a(V) = alpha|V| / (alpha|V| + 1);  H(V) = [V > 0]
        G <- r G + (1 - r) G0 + a(V) (H(V) - G)
        I  = G (Kp max(V,0)^3 + Kn min(V,0)^3)         (from the updated G)
    """

    n_devices: int = 40
    n_virtual: int = 10
    alpha: float = 0.23
    g0: float = 0.5
    kp: float = 9.13
    kn: float = 0.32
    dt_ns: float = 20.0
    tau: TauSpec = field(default_factory=TauSpec)
    v_min: float = 0.0
    v_max: float = 3.0
    #: Gain of the mask projection: V = Vmid + input_scale (Vmax-Vmin)/2 p / sqrt(C), clipped.
    input_scale: float = 1.0
    #: Relaxation with no pulse after each frame (0 = none).
    idle_ns: float = 0.0
    #: Device-to-device spread: relative standard deviation of tau and of alpha.
    tau_spread: float = 0.0
    alpha_spread: float = 0.0
    #: Cycle-to-cycle read noise: relative standard deviation on each current (float model only).
    read_noise: float = 0.0
    #: Add the device states at the end of each frame to the features.
    state_features: bool = False
    #: Seed of the mask, of random tau draws and of the device spread.
    seed: int = 0

    def validate(self) -> None:
        _check_number("reservoir.n_devices", self.n_devices, lo=1, hi=4096, integer=True)
        _check_number("reservoir.n_virtual", self.n_virtual, lo=1, hi=256, integer=True)
        _check_number("reservoir.alpha", self.alpha, lo=0.0, lo_open=True, hi=PHYSICAL_LIMIT)
        _check_number("reservoir.g0", self.g0, lo=0.0, hi=1.0)
        _check_number("reservoir.kp", self.kp, lo=0.0, hi=PHYSICAL_LIMIT)
        _check_number("reservoir.kn", self.kn, lo=0.0, hi=PHYSICAL_LIMIT)
        _check_number("reservoir.dt_ns", self.dt_ns, lo=0.0, lo_open=True, hi=TIME_LIMIT_NS)
        _check_number("reservoir.v_min", self.v_min, lo=-VOLTAGE_LIMIT, hi=VOLTAGE_LIMIT)
        _check_number("reservoir.v_max", self.v_max, lo=-VOLTAGE_LIMIT, hi=VOLTAGE_LIMIT)
        if self.v_max <= self.v_min:
            raise _bad("reservoir.v_max", self.v_max, f"a number > v_min ({self.v_min})")
        _check_number("reservoir.input_scale", self.input_scale, lo=0.0, lo_open=True, hi=PHYSICAL_LIMIT)
        _check_number("reservoir.idle_ns", self.idle_ns, lo=0.0, hi=TIME_LIMIT_NS)
        _check_number("reservoir.tau_spread", self.tau_spread, lo=0.0, hi=1.0)
        _check_number("reservoir.alpha_spread", self.alpha_spread, lo=0.0, hi=1.0)
        _check_number("reservoir.read_noise", self.read_noise, lo=0.0, hi=1.0)
        if not isinstance(self.state_features, bool):
            raise _bad("reservoir.state_features", self.state_features, "true or false")
        _check_number("reservoir.seed", self.seed, lo=0, integer=True)
        if not isinstance(self.tau, TauSpec):
            raise _bad("reservoir.tau", self.tau, "a TauSpec")
        self.tau.validate(self.n_devices)

    def notes(self) -> list[str]:
        """Human-readable remarks, e.g. relaxation times no ESO device reaches."""
        lo, hi = ESO_TAU_RANGE_NS
        spec = self.tau
        values = spec.values_ns if spec.mode in ("single", "list", "compositions") else (spec.low_ns, spec.high_ns)
        out = []
        if min(values) < lo or max(values) > hi:
            span = f"{min(values):g}" if min(values) == max(values) else f"{min(values):g}-{max(values):g}"
            out.append(f"tau {span} ns lies outside what ESO devices reach "
                       f"({lo:g}-{hi:g} ns): this emulates hypothetical devices")
        v = max(abs(self.v_min), abs(self.v_max))
        a_max = self.alpha * v / (self.alpha * v + 1)
        r_min = math.exp(-self.dt_ns / min(values))
        if a_max > r_min:
            out.append(f"a(V) reaches {a_max:.3f} > r = {r_min:.3f}: the float state can leave [0, 1] "
                       f"(the law is not clipped; the integer model saturates)")
        return out


@dataclass(frozen=True)
class FixedConfig:
    """Widths of the bit-exact integer model (see docs/fixed_point.md)."""

    input_bits: int = 8      # input sample u in [0, 1] -> unsigned code 0 .. 2^b-1
    pulse_bits: int = 10     # pulse amplitude code q, V = Vmin + q (Vmax-Vmin)/(2^b-1)
    gain_bits: int = 16      # fraction bits of the projection-to-pulse gain
    state_bits: int = 16     # device state G = g / 2^b, g in 0 .. 2^b-1
    decay_bits: int = 16     # fraction bits of the decay factors r_i
    lut_bits: int = 16       # fraction bits of the a(V) and current lookup tables
    current_bits: int = 12   # read current (feature) magnitude: |I| <= 2^b
    weight_bits: int = 8     # signed readout weights, |w| <= 2^(b-1)-1
    max_frames: int = 4096   # longest sequence the per-sequence sums are sized for

    def validate(self) -> None:
        ranges = {
            "input_bits": (1, 16), "pulse_bits": (2, 14), "gain_bits": (4, 24),
            "state_bits": (4, 24), "decay_bits": (4, 24), "lut_bits": (4, 24),
            "current_bits": (2, 20), "weight_bits": (2, 16), "max_frames": (1, 1 << 20),
        }
        for name, (lo, hi) in ranges.items():
            _check_number(f"fixed.{name}", getattr(self, name), lo=lo, hi=hi, integer=True)
        if self.current_bits > self.state_bits + self.lut_bits:
            raise _bad("fixed.current_bits", self.current_bits,
                       f"an integer <= state_bits + lut_bits ({self.state_bits + self.lut_bits})")


@dataclass(frozen=True)
class ReadoutConfig:
    """Ridge readout: lambdas tried (relative to the mean feature variance) and weight quantisation."""

    lambdas: tuple[float, ...] = tuple(10.0 ** k for k in range(-6, 3))
    #: Regression: frames skipped at the start of the series (reservoir warm-up).
    washout: int = 100

    def validate(self) -> None:
        if not self.lambdas:
            raise _bad("readout.lambdas", list(self.lambdas), "at least one value")
        for lam in self.lambdas:
            _check_number("readout.lambdas", lam, lo=LAMBDA_RANGE[0], hi=LAMBDA_RANGE[1])
        _check_number("readout.washout", self.washout, lo=0, integer=True)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a trainable model."""

    reservoir: ReservoirConfig = field(default_factory=ReservoirConfig)
    fixed: FixedConfig = field(default_factory=FixedConfig)
    readout: ReadoutConfig = field(default_factory=ReadoutConfig)
    #: Front-end settings for audio tasks (passed to sw_model.frontend), as a plain dict.
    frontend: dict = field(default_factory=dict)

    def validate(self) -> "ModelConfig":
        self.reservoir.validate()
        self.fixed.validate()
        self.readout.validate()
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["reservoir"]["tau"] = dataclasses.asdict(self.reservoir.tau)
        return json.loads(json.dumps(d))  # tuples -> lists, a plain JSON tree

    def hash(self) -> str:
        """Stable short hash of the configuration (hex)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def replace(self, **sections: dict) -> "ModelConfig":
        """A copy with fields of some sections overridden, e.g. ``replace(reservoir={"n_devices": 8})``."""
        return config_from_dict(_merge(self.to_dict(), sections))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) and k != "tau" else v
    return out


def _section(cls, data: Any, name: str):
    if not isinstance(data, dict):
        raise _bad(name, data, "a table of settings")
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(f"config field {name}.{key!s} is unknown: allowed keys are {', '.join(sorted(names))}")
    kw = dict(data)
    for key, value in kw.items():
        if isinstance(value, dict) and not (cls is ReservoirConfig and key == "tau"):
            raise _bad(f"{name}.{key}", value, "a single value, not a table")
    if cls is ReservoirConfig and "tau" in kw:
        kw["tau"] = TauSpec.parse(kw["tau"])
    if cls is ReadoutConfig and "lambdas" in kw:
        lam = kw["lambdas"]
        kw["lambdas"] = _numbers("readout.lambdas", lam if isinstance(lam, (list, tuple)) else (lam,))
    return cls(**kw)


def config_from_dict(data: dict) -> ModelConfig:
    """Build and validate a :class:`ModelConfig` from a plain dictionary."""
    if not isinstance(data, dict):
        raise ConfigError(f"a configuration must be a table of sections, not {type(data).__name__}")
    sections = {"reservoir": ReservoirConfig, "fixed": FixedConfig, "readout": ReadoutConfig}
    allowed = set(sections) | {"frontend"}
    for key in data:
        if key not in allowed:
            raise ConfigError(f"config section {key!r} is unknown: allowed sections are {', '.join(sorted(allowed))}")
    kw = {name: _section(cls, data.get(name, {}), name) for name, cls in sections.items()}
    frontend = data.get("frontend", {})
    if not isinstance(frontend, dict):
        raise _bad("frontend", frontend, "a table of settings")
    _check_frontend(frontend)
    return ModelConfig(frontend=dict(frontend), **kw).validate()


def _check_frontend(settings: dict) -> None:
    """The ``frontend`` section: known keys, numbers of the right kind, and FrontEndConfig's own rules."""
    fields = {f.name: f for f in dataclasses.fields(FrontEndConfig)}
    for key, value in settings.items():
        if key not in fields:
            raise ConfigError(f"config field frontend.{key!s} is unknown: allowed keys are {', '.join(sorted(fields))}")
        default = fields[key].default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise _bad(f"frontend.{key}", value, "true or false")
            continue
        _check_number(f"frontend.{key}", value, integer=isinstance(default, int))
    try:
        FrontEndConfig(**settings)
    except ValueError as e:
        raise ConfigError(f"config section frontend: {e}") from None


def read_toml_or_json(path: str | Path, what: str = "config file", error: type[Exception] = None) -> dict:
    """The data of a .toml file (by its suffix) or a JSON file; ``error`` (default ConfigError) names ``what``."""
    error = error or ConfigError
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not a text file (not UTF-8)") from None
    kind = "TOML" if path.suffix == ".toml" else "JSON"
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise error(f"{what} {path} is not valid {kind}: {e}") from None
    except RecursionError:
        raise error(f"{what} {path} is nested too deeply to be a configuration") from None


def load_config(path: str | Path) -> ModelConfig:
    """Read a configuration file (.json or .toml); errors name the file."""
    data = read_toml_or_json(path)
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
