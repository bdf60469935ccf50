"""Which verification covers a build: records ``memres verify`` leaves and ``memres build`` reads.

A core's identity is the SHA-256 of the Verilog of the core a board build
places (:func:`pygen.generate.core_of` without the trace port) and of the
readout it runs (the model's integer weights, or "loaded" for a
configuration, whose readout is written at run time). Any change of the
model, the configuration, the core options (lanes, readout crossbar, weight
memory) or the generator gives another identity.

``memres verify`` stores a small record per identity (:func:`store`) under
``<cache>/verified/<identity>.json`` (the cache root of
:func:`testbenches.toolchain.cache_dir`; ``$MEMRES_VERIFIED_DIR`` names another
folder, as the tests do): one section per kind of check,
``core`` (the core against the integer model, transaction by transaction) and
``uart`` (the board top, link and core, over the bit-level UART simulation),
each with the values compared, the mismatches, the date and the command.
``memres build`` looks its core's identity up (:func:`coverage`): only a
``core`` check with no mismatch counts.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

from memres.hdl.design import Design
from memres.pygen.generate import core_of, to_verilog
from memres.pygen.manifest import sha256_of
from memres.sw_model.atomic import atomic_write_text, json_default
from memres.testbenches.toolchain import cache_dir

__all__ = ["core_identity", "record_path", "RECORDS_ENV", "store", "load", "coverage", "hint", "KINDS"]

#: The sections of a record: the core check and the board top's UART check.
KINDS = ("core", "uart")


def _weights_digest(design: Design) -> str:
    return "sha256:" + sha256_of(design.w, design.b) if design.baked else "loaded"


def core_identity(design: Design) -> dict:
    """The identity of the core a board build makes of ``design`` (module doc): ``key`` and what it covers."""
    verilog = to_verilog(core_of(design, trace=False))
    weights = _weights_digest(design)
    key = hashlib.sha256(verilog.encode() + b"\0" + weights.encode()).hexdigest()
    p = design.params
    return {"key": key, "config_hash": design.config.hash(), "n_inputs": p.n_inputs, "n_outputs": p.n_outputs,
            "lanes": p.lanes, "readout": str(p.readout), "weight_ram": p.weight_ram, "readout_weights": weights}


#: Environment variable naming the records' folder instead of ``<cache>/verified``.
RECORDS_ENV = "MEMRES_VERIFIED_DIR"


def record_path(key: str) -> Path:
    root = os.environ.get(RECORDS_ENV)
    return (Path(root).expanduser() if root else cache_dir() / "verified") / f"{key}.json"


def load(identity: dict) -> dict | None:
    """The record of ``identity``, or None."""
    path = record_path(identity["key"])
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def store(identity: dict, kind: str, result: dict, *, command: str, board: str | None = None) -> Path:
    """Record one check of kind ``kind`` (:data:`KINDS`) of the core ``identity``; replaces that kind's earlier
    record. ``result``: ``passed``, ``compared``, ``mismatches`` and whatever else the check measured."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rec = load(identity) or {}
    rec.update({"identity": identity})
    rec[kind] = {**result, "board": board, "command": command,
                 "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    return atomic_write_text(record_path(identity["key"]), json.dumps(rec, indent=1, default=json_default) + "\n")


def _counts(section: dict | None) -> bool:
    return bool(section) and bool(section.get("passed")) and section.get("mismatches") == 0


def coverage(identity: dict) -> dict | None:
    """What ``memres build`` reports for its core: the identity and the passing checks, or None when no
    core check with 0 mismatches is recorded for this identity."""
    rec = load(identity)
    if rec is None or not _counts(rec.get("core")):
        return None
    out = {"key": identity["key"], "config_hash": identity["config_hash"],
           "core_options": {k: identity[k] for k in ("lanes", "readout", "weight_ram")},
           "core": rec["core"], "uart": rec["uart"] if _counts(rec.get("uart")) else None}
    return out


def hint(identity: dict, source, board: str, *, default_readout: str) -> str:
    """One line for a build without a verification: what the record says, and the command to run."""
    cmd = f"memres verify {source} --board {board}"
    if identity["lanes"] != 1:
        cmd += f" --lanes {identity['lanes']}"
    if identity["readout"] != default_readout:
        cmd += f" --readout {identity['readout']}"
    rec = load(identity)
    core = (rec or {}).get("core")
    if core and not _counts(core):
        return (f"the last verification of this core ({core.get('date')}) found {core.get('mismatches')} "
                f"mismatch(es); run `{cmd}` after fixing it")
    return f"no verification of this core (model, options, generator) is recorded: run `{cmd}`"


