#!/usr/bin/env python
"""The value ranges of a core's datapath, exhaustively: what a mutant that narrows a field must change.

    python benchmarks/value_ranges.py                      # examples/tiny.json, 3 inputs, 3 outputs
    python benchmarks/value_ranges.py --config cfg.json --inputs 32 --outputs 10

A mutant that drops a field's top bit (``[29:0] -> [28:0]``) or reads a signed operand as unsigned changes
nothing when every value that field carries fits the narrower or unsigned reading. For each product and
field of the cell array and the readout this prints the smallest and largest value over *every* operand
the core can give it (every state ``0 .. g_max`` or, where the state comes out of the update, the update's
range; every decay factor; every table entry; every feature and weight within their bounds), the
two's-complement and unsigned widths that hold them (unsigned: only when never negative). The bounds are exact where
the product's operands are independent (every pair is enumerated), and never too narrow. Last, whether a pulse
code at a clamp bound read one off (the clamp's value a constant one off) changes the update of any state a
device can reach (``testbenches.directed.codes_differ``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memres.pygen.verify import load_design  # noqa: E402
from memres.sw_model.fixed import bits_signed, bits_unsigned, feature_bounds, update_range  # noqa: E402
from memres.testbenches.directed import reachable_states, codes_differ  # noqa: E402


def ranges(design) -> list[tuple[str, int, int, str]]:
    """``(quantity, lo, hi, how)`` for the cell array's and the readout's products and fields."""
    p = design.params
    k = p.k
    g = np.arange(k.g_max + 1, dtype=np.int64)
    rs = np.concatenate([k.r, k.r_idle]) if k.r_idle is not None else k.r
    decay = rs[:, None] * (g[None, :] - k.g0)
    # without H logic (CoreParams.h_acts False) the move's target is g_max on every code
    target = k.h_lut * k.g_max if p.h_acts else np.full_like(k.h_lut, k.g_max)
    move = k.a_lut[:, None] * (target[:, None] - g[None, :])
    u_lo, u_hi = update_range(k)
    g_new = np.arange(max(u_lo, 0), min(u_hi, k.g_max) + 1, dtype=np.int64)
    current = g_new[None, :] * k.f_lut[:, None]
    f_lo, f_hi = feature_bounds(k)
    w = p.weight_max
    prods = [f_lo * w, f_lo * -w, f_hi * w, f_hi * -w]
    out = [
        ("decay product r (g - g0), every factor and state", int(decay.min()), int(decay.max()), "exhaustive"),
        ("move product A[q] (H[q] g_max - g), every code and state", int(move.min()), int(move.max()), "exhaustive"),
        ("move operand H[q] g_max - g", int((target[:, None] - g[None, :]).min()),
         int((target[:, None] - g[None, :]).max()), "exhaustive"),
        ("state after the update (decay + move, clamp left out where it cannot act)", u_lo, u_hi,
         "sw_model.fixed.update_range"),
        ("current product g' F[q], every code and updated state", int(current.min()), int(current.max()),
         "exhaustive"),
        ("table A[q]", int(k.a_lut.min()), int(k.a_lut.max()), "the table"),
        ("table F[q]", int(k.f_lut.min()), int(k.f_lut.max()), "the table"),
        ("feature (current or state feature)", f_lo, f_hi, "sw_model.fixed.feature_bounds"),
        ("readout product w x, |w| <= weight_max", min(prods), max(prods), "bounds of the factors"),
        ("pass index m of a cell write", 0, k.n_virtual - (0 if p.has_idle else 1),
         "the end pass writes only with an idle gap"),
    ]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "examples" / "tiny.json"))
    ap.add_argument("--inputs", type=int, default=3)
    ap.add_argument("--outputs", type=int, default=3)
    a = ap.parse_args()
    design, _ = load_design(a.config, lanes=1, n_inputs=a.inputs, n_outputs=a.outputs, seed=1)
    print(f"{'quantity':<78} {'min':>14} {'max':>14}  signed/unsigned bits  how")
    for name, lo, hi, how in ranges(design):
        bits = f"{bits_signed(lo, hi)} / " + (str(bits_unsigned(hi)) if lo >= 0 else "-")
        print(f"{name:<78} {lo:>14,} {hi:>14,}  {bits:<20}  {how}")
    k = design.params.k
    # operands over the states a device can reach from rest (with any codes): where signedness matters
    per_device = reachable_states(k, [("decay", "on", d) for d in range(k.n_devices)])
    reach = np.unique(np.concatenate(list(per_device.values())))
    target = k.h_lut * k.g_max if design.params.h_acts else np.full_like(k.h_lut, k.g_max)
    moving = target[k.a_lut != 0][:, None] - reach[None, :]
    print(f"{'decay operand g - g0, reachable states':<78} {int(reach.min() - k.g0):>14,} {int(reach.max() - k.g0):>14,}"
          "  exhaustive (testbenches.directed.reachable_states)")
    print(f"{'move operand H[q] g_max - g where A[q] != 0, reachable states':<78} {int(moving.min()):>14,} "
          f"{int(moving.max()):>14,}  exhaustive")
    # the pulse code before its clamp, (p gain + center) >> s rounded, over every pulse sum p the inputs make
    c = k.mask.shape[0]
    ps = np.arange(-c * k.u_max, c * k.u_max + 1, dtype=np.int64)
    x = (ps * k.gain + k.center + (1 << (k.fx.gain_bits - 1))) >> k.fx.gain_bits
    print(f"pulse code before its clamp takes -1: {bool((x == -1).any())}; q_max + 1: {bool((x == k.q_max + 1).any())} "
          f"(every pulse sum p of {c} inputs)")
    # a pulse code clamped at 0 (or q_max) read one off: does any reachable state see it?
    for qa, qb in ((0, 1), (k.q_max, k.q_max ^ 1)):
        n = codes_differ(k, qa, qb, per_device)
        print(f"pulse code {qa} read as {qb}: changes the update of {n:,} reachable (device, state) pairs "
              "(exhaustive over every state reachable with any codes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
