"""Frames per second of the golden model (float and integer) beside a reservoirpy ESN.

A benchmark, not a test: run it by hand and copy the figures into the notes.

    python benchmarks/bench_golden_model.py [--devices 40] [--virtual 10] [--batch 256]

All three run the same input: a batch of random 32-channel frames (the shape
of the FSDD front-end output, 43 frames per sequence). reservoirpy is an
optional dependency (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sw_model.config import config_from_dict
from sw_model.fixed import FixedReservoir, quantise_inputs
from sw_model.reservoir import FloatReservoir


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=40)
    ap.add_argument("--virtual", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--frames", type=int, default=43)
    ap.add_argument("--channels", type=int, default=32)
    args = ap.parse_args()

    cfg = config_from_dict({"reservoir": {"n_devices": args.devices, "n_virtual": args.virtual,
                                          "alpha": 0.01, "tau": 20000.0, "state_features": True}})
    u = np.random.default_rng(0).random((args.batch, args.frames, args.channels))
    frames = args.batch * args.frames
    out = {"devices": args.devices, "virtual_nodes": args.virtual, "batch": args.batch, "frames": frames}

    fr = FloatReservoir(cfg.reservoir, args.channels)
    out["float_frames_per_s"] = frames / best_of(lambda: fr.run_batch(u))
    xr = FixedReservoir(cfg.reservoir, cfg.fixed, args.channels)
    ui = quantise_inputs(u, cfg.fixed.input_bits)
    out["fixed_frames_per_s"] = frames / best_of(lambda: xr.run_batch(ui))
    out["float_device_updates_per_s"] = out["float_frames_per_s"] * args.devices * args.virtual

    try:
        from reservoirpy.nodes import Reservoir
        esn = Reservoir(500, sr=0.5, lr=0.3, input_scaling=0.1, seed=0)
        seqs = list(u)
        esn.run(seqs[0])  # initialise
        out["reservoirpy_esn500_frames_per_s"] = frames / best_of(lambda: esn.run(seqs))
    except ImportError:
        out["reservoirpy_esn500_frames_per_s"] = None

    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
