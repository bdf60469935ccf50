"""``memres sweep SPEC``: design-space exploration of accuracy against hardware cost.

A sweep specification (TOML or JSON, see docs/sweep.md) names a task, a base
configuration and *axes*: configuration fields (``n_devices``,
``reservoir.tau``, ``fixed.state_bits``, ...) and ``lanes``, each with a list
of values or a range. ``mode = "grid"`` takes every combination,
``mode = "random"`` draws ``n_points`` of them with a seed. Every point is

* trained and scored with the bit-exact integer model
  (:func:`sw_model.workflow.train`: test accuracy for FSDD, NRMSE for the
  regression tasks), and
* generated and synthesised with Yosys for each family in ``synth``
  (:func:`pygen.generate.generate`, the same figures ``memres generate --synth``
  reports).

Both are cached: a training by everything that changes the model (the whole
configuration; ``lanes`` does not), a synthesis by everything that changes
the circuit's structure (see :func:`hardware_key`). Results are appended to
``OUT/results.jsonl``, one JSON line per finished point, flushed at once;
the two caches to ``OUT/cache/*.jsonl``. Run the same command again after an
interruption and the finished points are skipped, finished trainings and
syntheses reused.

Work runs on a :class:`concurrent.futures.ProcessPoolExecutor` (all cores by
default), or with ``cluster=ADDRESS`` on a Dask cluster through
``distributed.Client(ADDRESS).get_executor()``, the same Executor interface,
so nothing else changes. At the end :func:`report` writes the Pareto plots,
``summary.md`` and the best configuration that fits the iCE40 UP5K.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from sw_model.errors import MemresError

__all__ = ["SweepError", "Spec", "Axis", "Point", "load_spec", "parse_spec", "make_points", "hardware_key",
           "model_key", "pareto_front", "run_sweep", "report", "add_arguments", "run"]

RESULTS_FILE = "results.jsonl"
MODEL_CACHE = "cache/models.jsonl"
SYNTH_CACHE = "cache/synth.jsonl"
RUNS_FILE = "runs.jsonl"
SUMMARY_FILE = "summary.md"
#: How long to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = "20s"

SPEC_KEYS = ("task", "mode", "n_points", "seed", "synth", "synth_share", "base", "axes", "data", "train_seed")
RANGE_KEYS = ("low", "high", "step", "num", "log", "integer")
#: Reservoir fields that only change the *contents* of the decay-factor memory (or mask ROM), not its
#: shape: syntheses are shared across them under ``synth_share = "structure"`` (see docs/sweep.md).
CONTENT_ONLY_FIELDS = ("tau", "dt_ns", "tau_spread", "seed", "read_noise")


class SweepError(MemresError, ValueError):
    """A sweep specification or output folder the sweep cannot use; the message names the problem."""


# --- specification ---------------------------------------------------------------

def _sections() -> dict[str, set[str]]:
    from sw_model.config import FixedConfig, ReadoutConfig, ReservoirConfig
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
    from pygen.generate import SYNTH_TARGETS
    from sw_model.config import ConfigError
    from sw_model.workflow import TASK_DEFAULTS, TASK_NAMES

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
        from sw_model.config import config_from_dict
        config_from_dict(_merge(TASK_DEFAULTS[task], base))
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
    from sw_model.config import read_toml_or_json

    path = Path(path)
    data = read_toml_or_json(path, "sweep spec", SweepError)
    spec = parse_spec(data, f"sweep spec {path.name}")
    if spec.data is not None and not Path(spec.data).is_absolute():
        spec = dataclasses.replace(spec, data=str((path.parent / spec.data).resolve()))
    return spec


def _merge(base: dict, over: dict) -> dict:
    """Deep merge of configuration dictionaries; a ``tau`` value replaces the old one whole."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) and k != "tau" else v
    return out


# --- points ---------------------------------------------------------------------

def _digest(obj: Any, n: int = 12) -> str:
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


def _io_counts(task: str, cfg) -> tuple[int, int]:
    """(C, K) of the core: inputs and readout outputs of the task."""
    if task == "fsdd":
        from sw_model import speech
        return speech.frontend_config(cfg).n_channels, speech.N_CLASSES
    from sw_model import regression
    d = regression.make_data(task, cfg, n_train=1, n_test=1)
    return int(d.series.u.shape[1]), int(d.series.y.shape[1])


def _point(spec: Spec, values: dict) -> Point:
    from sw_model.config import ConfigError, config_from_dict
    from sw_model.workflow import TASK_DEFAULTS

    lanes = values.get("lanes", 1)
    over: dict = {}
    for name, v in values.items():
        if name == "lanes":
            continue
        section, _, fld = name.partition(".")
        over.setdefault(section, {})[fld] = v
    raw = _merge(_merge(TASK_DEFAULTS[spec.task], spec.base), over)
    try:
        cfg = config_from_dict(raw)
        if isinstance(lanes, bool) or not isinstance(lanes, int):
            raise ConfigError(f"lanes = {lanes!r} is not an integer")
        io = _io_counts(spec.task, cfg)
    except (ConfigError, ValueError) as e:
        return Point(values, lanes, None, str(e), _digest({"task": spec.task, "raw": raw, "lanes": lanes}))
    d = cfg.to_dict()
    mkey = model_key(spec.task, d, spec.train_seed)
    return Point(values, lanes, d, None, _digest({"model": mkey, "lanes": lanes}), mkey, io)


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
            key = _digest(values)
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
    return _digest({"task": task, "config": config, "seed": train_seed}, 16)


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
    return _digest({"config": cfg, "io": list(io), "lanes": lanes, "family": family, "hw": hardware_version()}, 16)


@functools.lru_cache(maxsize=1)
def hardware_version() -> str:
    """Digest of the sources that make the circuit (hdl/*.py and the generator): part of every synthesis
    key, so syntheses of an older core are never reused for a changed one."""
    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "hdl").glob("*.py")) + [root / "pygen" / n for n in ("generate.py", "source.py",
                                                                                  "manifest.py")]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


# --- the jobs (run in worker processes or on cluster workers) ---------------------------

def train_job(task: str, config: dict, data_dir: str | None, seed: int) -> dict:
    """Train a configuration and return its integer (and float) score."""
    from sw_model import workflow
    from sw_model.config import config_from_dict
    t0 = time.perf_counter()
    try:
        model = workflow.train(task, config_from_dict(config), data_dir=data_dir, seed=seed)
    except Exception as e:  # noqa: BLE001 - a failed point is a result, not a crash
        return {"ok": False, "error": f"training failed: {type(e).__name__}: {e}",
                "seconds": round(time.perf_counter() - t0, 3)}
    m = model.metrics
    metric = "accuracy" if "accuracy" in m["fixed"] else "nrmse"
    return {"ok": True, "metric": metric, "fixed": float(m["fixed"][metric]), "float": float(m["float"][metric]),
            "n_features": int(model.readout_int.w.shape[0]), "seconds": round(time.perf_counter() - t0, 3)}


def synth_job(config: dict, io: tuple[int, int], lanes: int, family: str) -> dict:
    """``memres generate CONFIG --synth FAMILY`` on the configuration; the cell counts and timing."""
    from pygen.generate import generate
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memres-sweep-") as tmp:
        src = Path(tmp) / "config.json"
        src.write_text(json.dumps(config))
        try:
            m = generate(src, Path(tmp) / "out", lanes=lanes, synth=family, n_inputs=io[0], n_outputs=io[1])
        except Exception as e:  # noqa: BLE001
            return {"ok": False, "error": f"{family} generation/synthesis failed: {type(e).__name__}: {e}",
                    "seconds": round(time.perf_counter() - t0, 3)}
    s = m["synthesis"]
    keep = ("luts", "lcs", "ffs", "dsps", "brams", "carries", "spram", "lutram", "device", "fits_device", "capacity",
            "readout_multipliers_in_logic")
    return {"ok": True, **{k: s[k] for k in keep if k in s}, "cycles_per_frame": m["cycles_per_frame"],
            "latency": m["latency"], "seconds": round(time.perf_counter() - t0, 3)}


# --- files ----------------------------------------------------------------------

def _read_jsonl(path: Path) -> list[dict]:
    """The complete lines of a JSON-lines file (a line cut by an interruption is ignored)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class _Appender:
    """Append JSON lines to a file, each flushed and synced at once."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # a line cut by an interruption would otherwise glue onto the next one
        if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with path.open("a") as f:
                f.write("\n")
        self.f = path.open("a")

    def write(self, obj: dict) -> None:
        self.f.write(json.dumps(obj, sort_keys=True, default=float) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def load_results(out_dir: str | Path) -> dict[str, dict]:
    """The finished points of a sweep folder by id (the last line of an id wins)."""
    return {r["id"]: r for r in _read_jsonl(Path(out_dir) / RESULTS_FILE) if "id" in r}


# --- the sweep ------------------------------------------------------------------------

def _executor(workers: int, cluster: str | None):
    """(executor, closer, description)."""
    if cluster is not None:
        try:
            import distributed
        except ImportError:
            raise SweepError("--cluster needs Dask distributed: pip install 'memres[cluster]' "
                             "(or pip install 'dask[distributed]')") from None
        try:
            client = distributed.Client(cluster, timeout=CONNECT_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, CommClosedError, bad address
            raise SweepError(f"cannot reach the Dask scheduler at {cluster}: {e}") from None
        n = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
        ex = client.get_executor(pure=False)

        def close():
            ex.shutdown(wait=False)
            client.close()
        return ex, close, f"Dask cluster {cluster} ({n} worker threads)"
    ex = cf.ProcessPoolExecutor(max_workers=workers)
    return ex, lambda: ex.shutdown(wait=False, cancel_futures=True), f"{workers} local process(es)"


def run_sweep(spec: Spec, out_dir: str | Path, *, workers: int | None = None, cluster: str | None = None,
              limit: int | None = None, retry_failed: bool = False,
              progress: Callable[[str, int], Callable[[int], None]] | None = None,
              log: Callable[[str], None] = lambda s: None) -> dict:
    """Run (or resume) a sweep into ``out_dir``; returns counts of this run. See the module doc."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise SweepError(f"--workers must be at least 1, not {workers}")
    t0 = time.time()
    points = make_points(spec)
    done = load_results(out)

    def finished(p: Point) -> bool:
        r = done.get(p.id)
        if r is None:
            return False
        if r["status"] == "failed":
            return not retry_failed
        return all(f in r.get("synth", {}) for f in spec.synth)

    todo = [p for p in points if not finished(p)]
    skipped = len(points) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    models = {r["key"]: r["result"] for r in _read_jsonl(out / MODEL_CACHE)}
    synths = {r["key"]: r["result"] for r in _read_jsonl(out / SYNTH_CACHE)}
    if retry_failed:
        models = {k: v for k, v in models.items() if v.get("ok")}
        synths = {k: v for k, v in synths.items() if v.get("ok")}
    with (out / RUNS_FILE).open("a") as f:
        f.write(json.dumps({"event": "start", "t": round(t0, 1),
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
                            "workers": None if cluster else workers, "cluster": cluster,
                            "machine": machine()}) + "\n")
    results = _Appender(out / RESULTS_FILE)
    model_log = _Appender(out / MODEL_CACHE)
    synth_log = _Appender(out / SYNTH_CACHE)
    counts = {"points": len(points), "skipped": skipped, "to_run": len(todo), "new_ok": 0, "new_failed": 0,
              "crashed": 0,
              "trainings_run": 0, "syntheses_run": {f: 0 for f in spec.synth}}
    tick = progress(f"sweep {len(todo)} points", len(todo)) if progress else (lambda n: None)

    def needs(p: Point) -> list[tuple[str, str]]:
        if p.error is not None:
            return []
        return [("model", p.model_key)] + [("synth", p.hw_key(f, spec.synth_share)) for f in spec.synth]

    def complete(p: Point) -> bool:
        return all((models if kind == "model" else synths).get(key) is not None for kind, key in needs(p))

    def record(p: Point) -> None:
        rec = {"id": p.id, "task": spec.task, "values": p.values, "lanes": p.lanes, "config": p.config}
        errors = [p.error] if p.error else []
        if p.error is None:
            m = models[p.model_key]
            rec["model_key"] = p.model_key
            rec["io"] = list(p.io)
            if m.get("ok"):
                rec.update({"metric": m["metric"], "score": m["fixed"], "float_score": m["float"],
                            "n_features": m["n_features"], "train_s": m["seconds"]})
            else:
                errors.append(m["error"])
            rec["synth"] = {}
            for f in spec.synth:
                key = p.hw_key(f, spec.synth_share)
                s = synths[key]
                if s.get("ok"):
                    rec["synth"][f] = {k: v for k, v in s.items() if k != "ok"} | {"key": key}
                else:
                    errors.append(s["error"])
        rec["hardware_version"] = hardware_version()
        rec["status"] = "failed" if errors else "ok"
        rec["t"] = round(time.time(), 1)
        if errors:
            rec["error"] = "; ".join(errors)
        results.write(rec)
        done[p.id] = rec
        recorded.add(p.id)
        counts["new_failed" if errors else "new_ok"] += 1
        tick(1)

    waiting: dict[tuple[str, str], list[Point]] = {}
    recorded: set[str] = set()
    pending: list[Point] = []
    for p in todo:
        if complete(p):
            record(p)
        else:
            pending.append(p)
    executor = None
    close = lambda: None  # noqa: E731
    try:
        if pending:
            executor, close, where = _executor(workers, cluster)
            log(f"{len(points)} points, {skipped} finished before, {len(todo)} to run on {where}")
            futures, submitted = {}, set()
            for p in pending:
                for kind, key in needs(p):
                    cache = models if kind == "model" else synths
                    if cache.get(key) is not None:
                        continue
                    waiting.setdefault((kind, key), []).append(p)
                    if (kind, key) in submitted:
                        continue
                    submitted.add((kind, key))
                    if kind == "model":
                        fut = executor.submit(train_job, spec.task, p.config, spec.data, spec.train_seed)
                        family = None
                    else:
                        family = next(f for f in spec.synth if p.hw_key(f, spec.synth_share) == key)
                        fut = executor.submit(synth_job, p.config, p.io, p.lanes, family)
                    futures[fut] = (kind, key, family)
            for fut in cf.as_completed(futures):
                kind, key, family = futures[fut]
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - e.g. a worker that died, a lost cluster
                    # not a property of the point: left unfinished (not cached), run again on resume
                    counts["crashed"] += len(waiting.pop((kind, key)))
                    log(f"{kind} job crashed ({type(e).__name__}: {e}); its points are left for the next run")
                    continue
                if kind == "model":
                    models[key] = result
                    model_log.write({"key": key, "result": result})
                    counts["trainings_run"] += 1
                else:
                    synths[key] = result
                    synth_log.write({"key": key, "result": result})
                    counts["syntheses_run"][family] += 1
                for p in waiting.pop((kind, key)):
                    if p.id not in recorded and complete(p):
                        record(p)
    finally:
        close()
        for a in (results, model_log, synth_log):
            a.close()
    counts["wall_s"] = round(time.time() - t0, 1)
    counts["finished"] = sum(1 for p in points if finished(p))
    with (out / RUNS_FILE).open("a") as f:
        f.write(json.dumps({"event": "end", "t": round(time.time(), 1), **counts}) + "\n")
    return counts


def _wall_time(runs: list[dict], records: list[dict]) -> float:
    """Seconds spent over all runs: each from its start to its end, or to its last finished point if it was
    interrupted."""
    total, start = 0.0, None
    stamps = sorted(r["t"] for r in records if "t" in r)
    for r in runs + [{"event": "start", "t": math.inf}]:
        if r.get("event") == "start":
            if start is not None:   # the previous run never ended: count it up to its last point
                last = [t for t in stamps if start <= t < r["t"]]
                total += (last[-1] - start) if last else 0.0
            start = r["t"]
        elif r.get("event") == "end" and start is not None:
            total += r["t"] - start
            start = None
    return round(total, 1)


def machine() -> str:
    return f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, " \
           f"Python {platform.python_version()}"


# --- analysis and report ---------------------------------------------------------------

def pareto_front(costs: Iterable[float], scores: Iterable[float], maximize: bool = True) -> list[int]:
    """Indices of the Pareto-optimal points: no other point has a cost <= and a score at least as good with
    one of them strictly better. Sorted by increasing cost; of exact duplicates only the first is kept."""
    c = list(costs)
    s = [v if maximize else -v for v in scores]
    order = sorted(range(len(c)), key=lambda i: (c[i], -s[i], i))
    front, best = [], -math.inf
    for i in order:
        if s[i] > best:
            front.append(i)
            best = s[i]
    return front


COSTS = (("luts", "LUTs"), ("dsps", "DSPs"), ("brams", "BRAMs"))


def _ok(records: Iterable[dict], family: str | None = None) -> list[dict]:
    return [r for r in records if r.get("status") == "ok" and (family is None or family in r.get("synth", {}))]


def best_fitting(records: Iterable[dict], family: str) -> dict | None:
    """The most accurate point that fits the family's device (ties: fewer LUTs)."""
    fits = [r for r in _ok(records, family) if r["synth"][family]["fits_device"]]
    if not fits:
        return None
    sign = 1 if fits[0]["metric"] == "accuracy" else -1
    return max(fits, key=lambda r: (sign * r["score"], -r["synth"][family]["luts"], -r["synth"][family]["ffs"]))


def plot_pareto(records: list[dict], family: str, path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = _ok(records, family)
    metric = rs[0]["metric"] if rs else "accuracy"
    maximize = metric == "accuracy"
    fig, axes = plt.subplots(1, len(COSTS), figsize=(5.2 * len(COSTS), 4.2), squeeze=False)
    best = best_fitting(rs, family)
    for ax, (cost, label) in zip(axes[0], COSTS):
        x = [r["synth"][family][cost] for r in rs]
        y = [r["score"] * (100 if maximize else 1) for r in rs]
        fit = [r["synth"][family]["fits_device"] for r in rs]
        device = rs[0]["synth"][family]["device"] if rs else family
        ax.scatter([a for a, f in zip(x, fit) if not f], [b for b, f in zip(y, fit) if not f], s=14, c="0.65",
                   marker="x", label=f"does not fit {device}")
        ax.scatter([a for a, f in zip(x, fit) if f], [b for b, f in zip(y, fit) if f], s=16, c="tab:blue",
                   alpha=0.7, label=f"fits {device}")
        front = pareto_front(x, y, maximize)
        ax.step([x[i] for i in front], [y[i] for i in front], where="post", c="tab:red", lw=1.2)
        ax.scatter([x[i] for i in front], [y[i] for i in front], s=40, facecolors="none", edgecolors="tab:red",
                   label="Pareto front")
        if best is not None:
            ax.scatter([best["synth"][family][cost]], [best["score"] * (100 if maximize else 1)], s=160,
                       marker="*", c="gold", edgecolors="k", zorder=5, label=f"best that fits {device}")
        cap = rs[0]["synth"][family]["capacity"].get(cost) if rs else None
        if cap is not None and x and max(x) >= 0.5 * cap:
            ax.axvline(cap, c="tab:green", ls="--", lw=1)
            ax.text(cap, ax.get_ylim()[0], f" {device} {label}", color="tab:green", fontsize=8, rotation=90,
                    va="bottom", ha="right")
        ax.set_xlabel(f"{label} ({family})")
        ax.set_ylabel("integer test accuracy (%)" if maximize else "integer test NRMSE")
        if cost == "luts" and x and max(x) > 20 * max(1, min(x)):
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right" if maximize else "upper right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt_score(r: dict) -> str:
    return f"{100 * r['score']:.1f} %" if r["metric"] == "accuracy" else f"{r['score']:.4f}"


def _describe(r: dict) -> str:
    res, fx = r["config"]["reservoir"], r["config"]["fixed"]
    tau = res["tau"]
    tau_s = (f"{tau['mode']} {tau['low_ns']:g}-{tau['high_ns']:g}" if tau["mode"] not in ("single", "list",
             "compositions") else f"{tau['mode']} {','.join(f'{v:g}' for v in tau['values_ns'][:4])}")
    return (f"N={res['n_devices']} ML={res['n_virtual']} tau={tau_s} ns dt={res['dt_ns']:g} ns "
            f"idle={res['idle_ns']:g} ns state/pulse/weight bits={fx['state_bits']}/{fx['pulse_bits']}/"
            f"{fx['weight_bits']} lanes={r['lanes']}")


def report(out_dir: str | Path, spec: Spec, *, img_dir: str | Path | None = None, prefix: str = "pareto") -> dict:
    """Pareto plots, ``summary.md`` and ``best_<device>.json`` of a sweep folder; returns what was written."""
    out = Path(out_dir)
    records = list(load_results(out).values())
    ids = {p.id for p in make_points(spec)}
    records = [r for r in records if r["id"] in ids]
    ok = _ok(records)
    runs = _read_jsonl(out / RUNS_FILE)
    starts = [r for r in runs if r.get("event") == "start"]
    synth_cache = _read_jsonl(out / SYNTH_CACHE)
    model_cache = _read_jsonl(out / MODEL_CACHE)
    result: dict = {"out": str(out), "points": len(ids), "finished": len(records), "ok": len(ok),
                    "failed": len(records) - len(ok), "distinct_trainings": len({r["model_key"] for r in ok}),
                    "distinct_syntheses": {f: len({r["synth"][f]["key"] for r in _ok(records, f)})
                                           for f in spec.synth},
                    "trainings_run": len(model_cache), "syntheses_run": len(synth_cache),
                    "wall_s": _wall_time(runs, records),
                    "plots": [], "best": {}}
    lines = [f"# Sweep {out.name}", "",
             f"task {spec.task}, mode {spec.mode}, {len(ids)} points: {len(records)} finished "
             f"({len(ok)} ok, {len(records) - len(ok)} failed); "
             f"{result['distinct_trainings']} distinct trainings, distinct syntheses "
             + ", ".join(f"{f}: {n}" for f, n in result["distinct_syntheses"].items())
             + f"; wall time {result['wall_s'] / 60:.1f} min over {len(starts)} run(s).", ""]
    if starts:
        lines += [f"machine: {starts[-1].get('machine', '?')}; "
                  + (f"Dask cluster {starts[-1]['cluster']}" if starts[-1].get("cluster")
                     else f"{starts[-1].get('workers')} worker process(es)"), ""]
    for family in spec.synth:
        rs = _ok(records, family)
        if not rs:
            continue
        png = (Path(img_dir) if img_dir else out) / f"{prefix}_{family}.png"
        device = rs[0]["synth"][family]["device"]
        plot_pareto(records, family, png, f"{spec.task}: integer score vs {family} cost "
                                          f"({len(rs)} configurations, {device} fits marked)")
        result["plots"].append(str(png))
        maximize = rs[0]["metric"] == "accuracy"
        x = [r["synth"][family]["luts"] for r in rs]
        front = pareto_front(x, [r["score"] for r in rs], maximize)
        lines += [f"## {family} ({device})", "", f"![Pareto {family}]({png.name if not img_dir else png})", "",
                  f"{sum(r['synth'][family]['fits_device'] for r in rs)} of {len(rs)} configurations fit the "
                  f"{device}.", "", "Pareto front, score against LUTs:", "",
                  "| score | LUTs | FFs | DSPs | BRAMs | fits | clocks/frame | configuration |",
                  "|---:|---:|---:|---:|---:|:-:|---:|---|"]
        for i in front:
            r, s = rs[i], rs[i]["synth"][family]
            lines.append(f"| {_fmt_score(r)} | {s['luts']} | {s['ffs']} | {s['dsps']} | {s['brams']} | "
                         f"{'yes' if s['fits_device'] else 'no'} | {s['cycles_per_frame']} | {_describe(r)} |")
        best = best_fitting(rs, family)
        if best is not None:
            name = f"best_{family}.json"
            (out / name).write_text(json.dumps(best["config"], indent=2) + "\n")
            s = best["synth"][family]
            result["best"][family] = {"id": best["id"], "score": best["score"], "metric": best["metric"],
                                      "float_score": best["float_score"], "lanes": best["lanes"],
                                      "luts": s["luts"], "ffs": s["ffs"], "dsps": s["dsps"], "brams": s["brams"],
                                      "device": device, "config_file": str(out / name),
                                      "describe": _describe(best)}
            lines += ["", f"**Best configuration that fits the {device}**: {_fmt_score(best)} "
                          f"(float {best['float_score'] * (100 if maximize else 1):.{1 if maximize else 4}f}"
                          f"{' %' if maximize else ''}), {s['luts']} LUTs, {s['ffs']} FFs, {s['dsps']} DSPs, "
                          f"{s['brams']} BRAMs; {_describe(best)}. Configuration: `{name}` "
                          f"(`memres train --task {spec.task} --config {name}`, then "
                          f"`memres generate MODEL --lanes {best['lanes']} --synth {family}`)."]
        lines.append("")
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["## Failed points", ""] + [f"- `{r['id']}` {r.get('values')}: {r.get('error')}"
                                               for r in failed[:20]]
        if len(failed) > 20:
            lines.append(f"- ... and {len(failed) - 20} more (see {RESULTS_FILE})")
        lines.append("")
    (out / SUMMARY_FILE).write_text("\n".join(lines))
    result["summary"] = str(out / SUMMARY_FILE)
    return result


# --- command line -------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``memres sweep SPEC -o DIR [--workers N | --cluster ADDRESS] ...``."""
    parser.add_argument("spec", metavar="SPEC", help="sweep specification (.toml or .json; see docs/sweep.md)")
    parser.add_argument("-o", "--out", required=True, metavar="DIR",
                        help="output folder: results.jsonl, caches, plots, summary.md (resumed if it exists)")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"local worker processes (default: all {os.cpu_count()} cores)")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run on a Dask cluster (scheduler address, e.g. tcp://host:8786) instead")
    parser.add_argument("--limit", type=int, metavar="N", help="run at most N unfinished points, then stop")
    parser.add_argument("--retry-failed", action="store_true", help="run failed points again")
    parser.add_argument("--report-only", action="store_true", help="only redraw plots and summary from the results")
    parser.add_argument("--img-dir", metavar="DIR", help="write the Pareto PNGs here instead of into the output folder")
    from pygen.cli import add_output_flags
    add_output_flags(parser, "print one JSON object with the results on stdout", "no progress bar or summary")


def run(args: argparse.Namespace) -> int:
    from pygen.cli import err, progress_bars
    spec = load_spec(args.spec)
    if args.limit is not None and args.limit < 0:
        raise SweepError(f"--limit must be >= 0, not {args.limit}")
    if args.workers is not None and args.workers < 1:
        raise SweepError(f"--workers must be at least 1, not {args.workers}")
    if args.cluster and args.workers:
        raise SweepError("--workers and --cluster exclude each other (the cluster has its own workers)")
    counts = {}
    if not args.report_only:
        try:
            with progress_bars(not args.quiet) as bars:
                counts = run_sweep(spec, args.out, workers=args.workers, cluster=args.cluster, limit=args.limit,
                                   retry_failed=args.retry_failed, progress=bars,
                                   log=(lambda s: None) if args.quiet else (lambda s: err.print(s)))
        except KeyboardInterrupt:
            done = len(load_results(args.out))
            err.print(f"[yellow]interrupted[/]: {done} finished points are in {Path(args.out) / RESULTS_FILE}; "
                      f"run the same command again to resume")
            return 130
    rep = report(args.out, spec, img_dir=args.img_dir)
    result = {"run": counts, **rep}
    if args.json:
        print(json.dumps(result, default=float))
    elif not args.quiet:
        err.print(f"{rep['finished']}/{rep['points']} points finished ({rep['ok']} ok, {rep['failed']} failed); "
                  f"distinct syntheses: {rep['distinct_syntheses']}; summary {rep['summary']}")
        for family, b in rep["best"].items():
            err.print(f"  best that fits the {b['device']}: {b['metric']} {b['score']:.4f}, {b['luts']} LUTs, "
                      f"{b['dsps']} DSPs, {b['brams']} BRAMs: {b['describe']}")
    return 0
