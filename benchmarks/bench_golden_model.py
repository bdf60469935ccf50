"""Frames per second of the golden model (float and integer) beside a reservoirpy ESN, in one run.

    python benchmarks/bench_golden_model.py [--devices 40] [--virtual 10] [--batch 256] [--no-numpy]

Everything runs on the same input: a batch of random 32-channel frames (the
shape of the FSDD front-end output, 43 frames per sequence), with the
configuration and the 500-unit ESN of ``memres bench``'s speed section
(:func:`pygen.bench.golden_speed`, which measures the first three figures
below the same way, one after the other). Here the measurements are
interleaved: each round times every item once, and each item's best round
counts, so that load from other work on the machine hits all items alike
and the ratios stay meaningful; a pause before each item lets the BLAS
threads of the previous one go idle. Figures (frames per second):

* ``float``, ``fixed``: the reservoirs' ``run_batch`` (features of every frame);
* ``float_accumulate``, ``fixed_accumulate``: the reservoir and the
  per-sequence feature sums at 25/50/75/100 % of every sequence, what a
  sequence decision needs (:meth:`sw_model.reservoir.FloatReservoir.sequence_sums`,
  as ``memres evaluate`` uses it);
* ``float_stream``, ``fixed_stream``: the reservoir's ``run`` (sequence by
  sequence) into :func:`sw_model.classify.stream_features` without training
  parts (per-sequence sums by ``np.cumsum`` in ``classify.SequenceSums``);
* ``gram``: adding the frames to the ridge statistics (X^T X, training only;
  a BLAS product, the same with either backend);
* ``numpy_float``, ``numpy_fixed``: the reservoirs on the numpy reference
  path (the speed before the numba kernels), unless ``--no-numpy``;
* ``esn``: reservoirpy ``Reservoir`` (500 units, sr 0.5, leak 0.3, input
  scaling 0.1) run over the same sequences.

``ratio_X_to_esn`` is each figure over the ESN's. ``load_before`` /
``load_after`` are the 1-minute load averages around the run. reservoirpy is
an optional dependency (``pip install -e '.[bench]'``); without it the ESN
and the ratios are absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memres.sw_model import classify, kernels  # noqa: E402
from memres.sw_model.config import config_from_dict  # noqa: E402
from memres.sw_model.fixed import FixedReservoir, quantise_inputs  # noqa: E402
from memres.sw_model.readout import Gram  # noqa: E402
from memres.sw_model.reservoir import FloatReservoir  # noqa: E402


#: Seconds between two timed items (not timed).
PAUSE = 0.3


def _esn(units: int, n_inputs: int):
    try:
        from reservoirpy.nodes import Reservoir
    except ImportError:
        return None
    return Reservoir(units, sr=0.5, lr=0.3, input_scaling=0.1, input_dim=n_inputs, seed=0)


def measure(devices: int = 40, virtual: int = 10, batch: int = 256, frames: int = 43, channels: int = 32,
            esn_units: int = 500, repeats: int = 5, numpy_path: bool = True) -> dict:
    cfg = config_from_dict({"reservoir": {"n_devices": devices, "n_virtual": virtual, "alpha": 0.01,
                                          "tau": 20000.0, "state_features": True}})
    u = np.random.default_rng(0).random((batch, frames, channels))
    ui = quantise_inputs(u, cfg.fixed.input_bits)
    seqs, seqs_i, labels = list(u), list(ui), np.arange(batch) % 10
    ends = np.tile(classify.prefix_ends(frames), (batch, 1))
    n = batch * frames
    fr = FloatReservoir(cfg.reservoir, channels)
    xr = FixedReservoir(cfg.reservoir, cfg.fixed, channels)
    x = fr.run_batch(u).reshape(n, -1)
    y = np.eye(10)[labels.repeat(frames)]
    items = {
        "float": lambda: fr.run_batch(u),
        "fixed": lambda: xr.run_batch(ui),
        "float_accumulate": lambda: fr.sequence_sums(seqs, ends),
        "fixed_accumulate": lambda: xr.sequence_sums(seqs_i, ends),
        "float_stream": lambda: classify.stream_features(fr.run(seqs), batch, fr.n_features, labels, 10,
                                                         lambda i: None),
        "fixed_stream": lambda: classify.stream_features(xr.run(seqs_i), batch, xr.n_features, labels, 10,
                                                         lambda i: None, dtype=np.int64),
        "gram": lambda: Gram(x.shape[1], 10).add(x, y),
    }
    if numpy_path:
        fr_np = FloatReservoir(cfg.reservoir, channels, backend="numpy")
        xr_np = FixedReservoir(cfg.reservoir, cfg.fixed, channels, backend="numpy")
        items["numpy_float"] = lambda: fr_np.run_batch(u)
        items["numpy_fixed"] = lambda: xr_np.run_batch(ui)
    esn = _esn(esn_units, channels)
    if esn is not None:
        esn.run(seqs[0])  # initialise
        items["esn"] = lambda: esn.run(seqs)
    for fn in items.values():  # warm-up: numba compilation or cache load, first-touch allocations
        fn()
    best = dict.fromkeys(items, float("inf"))
    for _ in range(repeats):
        for name, fn in items.items():
            # OpenBLAS worker threads spin for a while after a BLAS call (the Gram, the numpy path,
            # the ESN) and would take the cores from the next item's threads: let them go idle.
            time.sleep(PAUSE)
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    out = {"devices": devices, "virtual_nodes": virtual, "batch": batch, "frames": n, "channels": channels,
           "features": fr.n_features, "esn_units": esn_units, "backend": kernels.default_backend(),
           "repeats": repeats}
    out.update({f"{name}_frames_per_s": n / t for name, t in best.items()})
    if esn is not None:
        for name in items:
            if name != "esn":
                out[f"ratio_{name}_to_esn"] = out[f"{name}_frames_per_s"] / out["esn_frames_per_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=40)
    ap.add_argument("--virtual", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--frames", type=int, default=43)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--esn-units", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-numpy", action="store_true", help="skip the numpy reference path (slow)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    out = measure(args.devices, args.virtual, args.batch, args.frames, args.channels, args.esn_units,
                  args.repeats, not args.no_numpy)
    out["load_before"] = load_before
    out["load_after"] = os.getloadavg()[0]
    out["cpus"] = os.cpu_count()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
