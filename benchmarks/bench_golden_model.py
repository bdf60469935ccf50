"""Frames per second of the golden model (float and integer) beside a reservoirpy ESN, in one run.

    python benchmarks/bench_golden_model.py [--devices 40] [--virtual 10] [--batch 256] [--no-numpy]

All run the same input: a batch of random 32-channel frames (the shape of
the FSDD front-end output, 43 frames per sequence). The reservoir figures
and the ESN's are :func:`pygen.bench.golden_speed`, the speed section of
``memres bench``; this script adds, in the same run:

* ``*_accumulate_frames_per_s``: the reservoir and the per-sequence feature
  sums at 25/50/75/100 % of every sequence, what a sequence decision needs
  (:meth:`sw_model.reservoir.FloatReservoir.sequence_sums`, as ``memres
  evaluate`` uses it);
* ``*_stream_frames_per_s``: the reservoir's ``run`` (sequence by sequence)
  into :func:`sw_model.classify.stream_features` without training parts:
  the per-sequence sums as ``memres evaluate`` computes them;
* ``gram_frames_per_s``: adding the frames to the ridge statistics
  (X^T X, training only; a BLAS product, the same with either backend);
* ``numpy_*``: the same reservoirs on the numpy reference path (the speed
  before the numba kernels), unless ``--no-numpy``;
* ``ratio_*``: each figure over the ESN's frames/s, and ``load_before`` /
  ``load_after``, the 1-minute load average around the run (other work on
  the machine lowers every figure, the ratios less).

reservoirpy is an optional dependency (``pip install -e '.[bench]'``);
without it the ratios are absent.
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

from pygen.bench import golden_speed  # noqa: E402
from sw_model import classify, kernels  # noqa: E402
from sw_model.config import config_from_dict  # noqa: E402
from sw_model.fixed import FixedReservoir, quantise_inputs  # noqa: E402
from sw_model.readout import Gram  # noqa: E402
from sw_model.reservoir import FloatReservoir  # noqa: E402


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def extra_figures(devices: int, virtual: int, batch: int, frames: int, channels: int, repeats: int,
                  numpy_path: bool) -> dict:
    """Reservoir + accumulation, Gram and numpy-path frames/s on golden_speed's configuration and input."""
    cfg = config_from_dict({"reservoir": {"n_devices": devices, "n_virtual": virtual, "alpha": 0.01,
                                          "tau": 20000.0, "state_features": True}})
    u = np.random.default_rng(0).random((batch, frames, channels))
    ui = quantise_inputs(u, cfg.fixed.input_bits)
    n = batch * frames
    ends = np.tile(classify.prefix_ends(frames), (batch, 1))
    out = {"backend": kernels.default_backend()}
    fr = FloatReservoir(cfg.reservoir, channels)
    xr = FixedReservoir(cfg.reservoir, cfg.fixed, channels)
    seqs, seqs_i, labels = list(u), list(ui), np.arange(batch) % 10
    out["float_accumulate_frames_per_s"] = n / _best_of(lambda: fr.sequence_sums(seqs, ends), repeats)
    out["fixed_accumulate_frames_per_s"] = n / _best_of(lambda: xr.sequence_sums(seqs_i, ends), repeats)
    # What `memres train`/`evaluate` run: sequence by sequence into classify.stream_features (test
    # sequences: per-sequence sums only, no Gram).
    out["float_stream_frames_per_s"] = n / _best_of(lambda: classify.stream_features(
        fr.run(seqs), batch, fr.n_features, labels, 10, lambda i: None), repeats)
    out["fixed_stream_frames_per_s"] = n / _best_of(lambda: classify.stream_features(
        xr.run(seqs_i), batch, xr.n_features, labels, 10, lambda i: None, dtype=np.int64), repeats)
    x = fr.run_batch(u).reshape(n, -1)
    y = np.eye(10)[np.arange(n) % 10]
    out["gram_features"] = x.shape[1]
    out["gram_frames_per_s"] = n / _best_of(lambda: Gram(x.shape[1], 10).add(x, y), repeats)
    if numpy_path:
        fr_np = FloatReservoir(cfg.reservoir, channels, backend="numpy")
        xr_np = FixedReservoir(cfg.reservoir, cfg.fixed, channels, backend="numpy")
        out["numpy_float_frames_per_s"] = n / _best_of(lambda: fr_np.run_batch(u), repeats)
        out["numpy_fixed_frames_per_s"] = n / _best_of(lambda: xr_np.run_batch(ui), repeats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=40)
    ap.add_argument("--virtual", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--frames", type=int, default=43)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--esn-units", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-numpy", action="store_true", help="skip the numpy reference path (slow)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    out = golden_speed(args.devices, args.virtual, args.batch, args.frames, args.channels,
                       esn_units=args.esn_units, repeats=args.repeats)
    out.update(extra_figures(args.devices, args.virtual, args.batch, args.frames, args.channels, args.repeats,
                             not args.no_numpy))
    esn = out.get("esn_frames_per_s")
    if isinstance(esn, (int, float)):
        for key in ("float", "fixed", "float_accumulate", "fixed_accumulate", "float_stream", "fixed_stream", "gram",
                    "numpy_float", "numpy_fixed"):
            if f"{key}_frames_per_s" in out:
                out[f"ratio_{key}_to_esn"] = out[f"{key}_frames_per_s"] / esn
    out["load_before"] = load_before
    out["load_after"] = os.getloadavg()[0]
    out["cpus"] = os.cpu_count()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
