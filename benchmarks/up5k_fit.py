#!/usr/bin/env python
"""The largest reservoir (N devices x ML virtual nodes) whose core fits an iCE40 UP5K, by Yosys synthesis.

    python benchmarks/up5k_fit.py                          # ML = 5, 10, 20; FSDD default widths, 32 in, 10 out
    python benchmarks/up5k_fit.py --ml 10 --base examples/published_alpha.toml --out fit.jsonl
    python benchmarks/up5k_fit.py --ml 10 --readout serial     # the serial readout (docs/hardware.md)

For each ML, a binary search over N for the largest core (lanes 1, C inputs,
K outputs, the base configuration's widths, tau and state features) that
fits the UP5K by ``memres generate --synth ice40``:

* ``--criterion lcs`` (default): ``fits_device`` of the manifest, i.e. the
  logic cells after nextpnr's packer <= 5280 as well as LUT4s, FFs, DSPs <= 8
  (readout multipliers beyond them go to logic) and BRAMs <= 30;
* ``--criterion luts``: the same without the packed logic cells (Yosys'
  counts alone, which undercount: a flip-flop not fed by its own LUT takes a
  logic cell alone).

The search first checks N=1 (if even that does not fit, there is no answer
at this ML), then assumes that fitting is monotone in N at fixed ML (BRAM and
logic only grow with N). Every synthesis is printed as a JSON line (appended
to ``--out`` and reused on a re-run). The core alone has too many ports to
place on the chip, hence packing only; a board build (core plus UART link)
is ``memres build MODEL --board icebreaker``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memres.pygen.generate import generate  # noqa: E402
from memres.sw_model.config import load_config  # noqa: E402


def _key(n: int, ml: int, readout: str) -> str:
    """Cache key of a point (parallel points keep the key of the files written before the serial readout)."""
    return f"{n}x{ml}" if readout == "parallel" else f"{n}x{ml}/{readout}"


def synth_point(base: dict, n: int, ml: int, inputs: int, outputs: int, cache: dict, out: Path | None,
                readout: str = "parallel") -> dict:
    key = _key(n, ml, readout)
    if key in cache:
        return cache[key]
    cfg = json.loads(json.dumps(base))
    cfg["reservoir"].update({"n_devices": n, "n_virtual": ml})
    with tempfile.TemporaryDirectory(prefix="memres-fit-") as tmp:
        path = Path(tmp) / "cfg.json"
        path.write_text(json.dumps(cfg))
        t0 = time.perf_counter()
        m = generate(path, Path(tmp) / "gen", synth="ice40", n_inputs=inputs, n_outputs=outputs, readout=readout)
    s = m["synthesis"]
    cap = s["capacity"]
    row = {"n_devices": n, "n_virtual": ml, "readout": readout, "features": m["parameters"]["n_features"],
           "luts": s["luts"], "lcs": s.get("lcs"), "ffs": s["ffs"], "dsps": s["dsps"], "brams": s["brams"],
           "fits_luts": all(s[k] <= cap[k] for k in ("luts", "ffs", "dsps", "brams")), "fits": s["fits_device"],
           "seconds": round(time.perf_counter() - t0, 1)}
    cache[key] = row
    print(json.dumps(row), flush=True)
    if out:
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
    return row


def largest_fit(base: dict, ml: int, inputs: int, outputs: int, cache: dict, out: Path | None, n_max: int,
                n_min: int = 0, criterion: str = "lcs", readout: str = "parallel") -> dict | None:
    """Binary search for the largest N in [n_min, n_max] that fits (None if none does).

    ``n_min`` (default 0: nothing assumed) is taken to fit without a synthesis of its own."""
    key = "fits" if criterion == "lcs" else "fits_luts"
    if n_min < 1 and not synth_point(base, 1, ml, inputs, outputs, cache, out, readout)[key]:
        return None
    lo, hi = max(n_min, 1), n_max + 1      # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if synth_point(base, mid, ml, inputs, outputs, cache, out, readout)[key]:
            lo = mid
        else:
            hi = mid
    return cache.get(_key(lo, ml, readout)) if lo else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=Path(__file__).resolve().parents[1] / "examples/fsdd_eso.toml",
                    help="configuration whose widths, tau and features are used (default examples/fsdd_eso.toml)")
    ap.add_argument("--ml", type=int, nargs="+", default=[5, 10, 20], help="virtual nodes to search (default 5 10 20)")
    ap.add_argument("--inputs", type=int, default=32)
    ap.add_argument("--outputs", type=int, default=10)
    ap.add_argument("--n-max", type=int, default=256, help="upper end of the search (default 256)")
    ap.add_argument("--n-min", type=int, default=0,
                    help="a size known to fit, to start the search from (default: none)")
    ap.add_argument("--criterion", choices=["lcs", "luts"], default="lcs",
                    help="fit by packed logic cells (default) or by Yosys' LUT4 count alone")
    ap.add_argument("--readout", choices=["parallel", "serial"], default="parallel",
                    help="readout crossbar of the cores (default parallel)")
    ap.add_argument("--out", type=Path, help="JSON lines of every synthesis; reused on a re-run")
    args = ap.parse_args()

    cfg = load_config(args.base)
    base = cfg.to_dict()
    cache: dict = {}
    if args.out and args.out.exists():
        for line in args.out.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                row.setdefault("fits_luts", row["fits"])     # rows written before packed LCs were counted
                cache[_key(row["n_devices"], row["n_virtual"], row.get("readout", "parallel"))] = row
    best = []
    for ml in args.ml:
        row = largest_fit(base, ml, args.inputs, args.outputs, cache, args.out, args.n_max, args.n_min, args.criterion,
                          args.readout)
        best.append({"n_virtual": ml, "largest": row,
                     "next_size": cache.get(_key(row["n_devices"] + 1, ml, args.readout)) if row else None})
    print(json.dumps({"largest_fit": best}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
