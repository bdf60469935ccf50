"""Frames per second of the golden model (float and integer) beside a reservoirpy ESN.

    python benchmarks/bench_golden_model.py [--devices 40] [--virtual 10] [--batch 256]

All three run the same input: a batch of random 32-channel frames (the shape
of the FSDD front-end output, 43 frames per sequence). The measurement is
:func:`pygen.bench.golden_speed`, the speed section of ``memres bench``;
this script runs that part alone. reservoirpy is an optional dependency
(``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memres.pygen.bench import golden_speed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=40)
    ap.add_argument("--virtual", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--frames", type=int, default=43)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--esn-units", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps(golden_speed(args.devices, args.virtual, args.batch, args.frames, args.channels,
                                  esn_units=args.esn_units, repeats=args.repeats), indent=2))


if __name__ == "__main__":
    main()
