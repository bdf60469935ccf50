"""The manifest of a generated core: what a testbench or an integrator needs to know, as plain JSON.

Everything here is derived from the :class:`hdl.ReservoirCore` and its
:class:`hdl.CoreParams`; nothing depends on time or on the machine, so the
same input gives a byte-identical ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from memres.hdl import CoreParams, ReservoirCore
from memres.hdl.verilog import ports as verilog_ports

FORMAT = "memres-hardware-manifest"
FORMAT_VERSION = 1
CONSTANTS_FORMAT = "memres-integer-constants"
CONSTANTS_FORMAT_VERSION = 1


def sha256_of(*arrays) -> str:
    """SHA-256 over each array in turn: the ASCII text of its shape as Python prints a tuple
    (``"(4,)"``, ``"(2, 3)"``), then its values as little-endian int64 in C order (docs/hardware.md)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a, dtype="<i8"))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def layout_fields(shape, offset: int = 0) -> list[dict]:
    """Bit fields of a (possibly nested) layout, LSB first, as JSON-able dicts."""
    if isinstance(shape, data.StructLayout):
        out = []
        for name, field in shape:
            for f in layout_fields(field.shape, offset + field.offset):
                out.append({**f, "name": name if f["name"] is None else f"{name}.{f['name']}"})
        return out
    if isinstance(shape, data.ArrayLayout):
        elem = shape.elem_shape
        stride = Shape.cast(elem).width
        entry = {"name": None, "offset": offset, "count": shape.length, "stride": stride}
        if isinstance(elem, data.Layout):
            entry["fields"] = layout_fields(elem, 0)
        else:
            s = Shape.cast(elem)
            entry.update(width=s.width, signed=s.signed)
        return [entry]
    s = Shape.cast(shape)
    return [{"name": None, "offset": offset, "width": s.width, "signed": s.signed}]


def port_list(core: ReservoirCore) -> list[dict]:
    """Top-level ports as Amaranth names them in the Verilog (``stream__member``), with payload fields."""
    ports = [
        {"name": "clk", "direction": "input", "width": 1, "description": "clock of the one domain `sync`"},
        {"name": "rst", "direction": "input", "width": 1,
         "description": "synchronous reset, active high: empties the pipeline (weights and biases are kept)"},
    ]
    for name, (member, _) in verilog_ports(core).items():
        shape = member.shape
        entry = {"name": name, "direction": "input" if member.flow == wiring.In else "output",
                 "width": Shape.cast(shape).width}
        if isinstance(shape, data.Layout):
            entry["fields"] = [{**f, "name": f["name"] or name.rsplit("__", 1)[-1]} for f in layout_fields(shape)]
        ports.append(entry)
    return sorted(ports, key=lambda p: p["name"])


def build(core: ReservoirCore, *, source: dict, verilog_name: str, verilog_text: str,
          constants_name: str | None = None, constants_text: str | None = None) -> dict:
    """The manifest dictionary of ``core`` (without synthesis figures).

    ``constants_name`` / ``constants_text``: the file of :func:`integer_constants` written beside the
    manifest (:func:`dumps` of it), named and hashed (SHA-256 of its bytes) under ``files``.
    """
    from memres.sw_model import __version__
    import amaranth

    p = core.params
    k, fx = p.k, p.k.fx
    w = p.widths
    h_first = int(np.argmax(k.h_lut)) if k.h_lut.any() else None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": {"memres_version": __version__, "amaranth_version": amaranth.__version__},
        "source": source,
        "top": "memres_top",
        "files": {"verilog": verilog_name,
                  "verilog_sha256": hashlib.sha256(verilog_text.encode()).hexdigest(),
                  **({} if constants_name is None else {
                      "constants": constants_name,
                      "constants_sha256": hashlib.sha256(constants_text.encode()).hexdigest()})},
        "clock_domains": ["sync"],
        "parameters": {
            "n_inputs": p.n_inputs, "n_outputs": p.n_outputs, "n_devices": p.n_devices,
            "n_virtual": p.n_virtual, "n_features": p.n_features,
            "state_features": bool(k.state_features), "idle_gap": p.has_idle,
            "lanes": p.lanes, "slots": p.slots, "used_slots": p.used_slots, "idle_lane_slots": p.idle_lanes,
            "passes": p.passes, "beats_per_frame": p.rows, "readout": p.readout,
        },
        "cycles_per_frame": core.cycles_per_frame,
        "latency": core.latency,
        "timing": {
            "cycles_per_frame": core.cycles_per_frame,
            "latency": core.latency,
            # generated from the same figures (hdl.top.core_timing), not restated
            "cycles_per_frame_formula": core.timing.interval_formula(),
            "latency_formula": core.timing.latency_formula(),
            "latency_terms": dict(core.timing.blocks),
            "latency_definition": "clocks from the clock a frame is accepted to the clock its result is valid, "
                                  "empty pipeline, results always ready",
            "interval_definition": "with frames always valid and results always ready, a frame is accepted "
                                   "and a result delivered every cycles_per_frame clocks (steady state)",
        },
        "formats": {
            "fixed": dict(fx.__dict__),
            "widths": w.to_dict(),
            "weight_max": p.weight_max,
            "bias_limit": p.bias_max,
            "sequence_sum_limit": p.seq_limit,
            "decision_bits": p.decision_bits,
            "lut_a": {"width": p.a_shape.width, "signed": p.a_shape.signed},
            "lut_f": {"width": p.f_shape.width, "signed": p.f_shape.signed},
        },
        "constants": {
            "gain": int(k.gain), "center": int(k.center), "g0": int(k.g0),
            "u_max": k.u_max, "q_max": k.q_max, "g_max": k.g_max, "current_shift": k.current_shift,
            "r": [int(v) for v in k.r],
            "r_idle": None if k.r_idle is None else [int(v) for v in k.r_idle],
            "a_lut": {"min": int(k.a_lut.min()), "max": int(k.a_lut.max()), "sha256": sha256_of(k.a_lut)},
            "h_lut": {"first_code_with_h_1": h_first, "ones": int(k.h_lut.sum()), "sha256": sha256_of(k.h_lut)},
            "f_lut": {"min": int(k.f_lut.min()), "max": int(k.f_lut.max()), "sha256": sha256_of(k.f_lut)},
            "f_scale": float(k.f_scale),
            "mask": {"shape": list(k.mask.shape), "plus_ones": int((k.mask > 0).sum()), "sha256": sha256_of(k.mask)},
        },
        "readout": {
            "baked": source.get("readout", "zero"),
            "weights_sha256": sha256_of(core._weights, core._biases),
            "loadable": True,
            "mode": p.readout,
            "load_port": ("stream `load`: one beat writes W[j, k] with j = node * n_devices + device "
                          "(node = n_virtual for the state features) or, with bias = 1, b[k]; values saturate "
                          "to +-weight_max / +-bias_limit; accepted only between frames, and a pending "
                          "load holds off the next frame; weights and biases survive reset"),
        },
        "trace": ("per lane l an always-ready stream (trace__l__valid, trace__l__payload {n, m, frame, g, i}): "
                  "one beat for every cell written "
                  "(m = n_virtual is the idle-gap write of the end pass; frame counts within the "
                  f"sequence, modulo 2^{len(core.cells.trace[0].payload.frame)}); plain outputs, "
                  "removed by synthesis when unconnected"),
        "ports": port_list(core),
    }


def integer_constants(core: ReservoirCore) -> dict:
    """Every integer the hardware computes with, as values (the file ``constants.json``).

    With docs/fixed_point.md this is all an independent implementation needs: no float is
    recomputed downstream. Arrays are nested lists: ``mask[c][m][n]``, ``weights[j][k]``.
    """
    return constants_of(core.params, core._weights, core._biases)


def constants_of(p: CoreParams, weights, biases) -> dict:
    """:func:`integer_constants` of a core with parameters ``p`` and the (checked) readout ``weights``, ``biases``."""
    k = p.k

    def ints(a) -> list:
        return np.asarray(a, dtype=np.int64).tolist()

    return {
        "format": CONSTANTS_FORMAT,
        "format_version": CONSTANTS_FORMAT_VERSION,
        "fixed": dict(k.fx.__dict__),
        "n_inputs": p.n_inputs, "n_devices": p.n_devices, "n_virtual": p.n_virtual,
        "n_features": p.n_features, "n_outputs": p.n_outputs,
        "state_features": bool(k.state_features),
        "u_max": k.u_max, "q_max": k.q_max, "g_max": k.g_max, "current_shift": k.current_shift,
        "gain": int(k.gain), "center": int(k.center), "g0": int(k.g0),
        "r": ints(k.r), "r_idle": None if k.r_idle is None else ints(k.r_idle),
        "mask": ints(k.mask),
        "a_lut": ints(k.a_lut), "h_lut": ints(k.h_lut), "f_lut": ints(k.f_lut),
        "weights": ints(weights), "biases": ints(biases),
        "weight_max": p.weight_max, "bias_limit": p.bias_max, "sequence_sum_limit": p.seq_limit,
        "widths": p.widths.to_dict(),
    }


def dumps(manifest: dict) -> str:
    """Canonical text of a manifest (sorted keys, fixed indentation, final newline)."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"
