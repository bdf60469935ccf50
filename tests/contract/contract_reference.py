"""An independent reading of the integer contract, written from docs/fixed_point.md and constants.json alone.

It does not import memres: plain Python integers (exact, no widths to get wrong), one frame and one
device at a time, in the order the document gives. The tests compare it with sw_model and the RTL.
"""

from __future__ import annotations

import json
from pathlib import Path


def load(path: str | Path) -> dict:
    """The constants file written by ``memres generate`` (``manifest["files"]["constants"]``)."""
    c = json.loads(Path(path).read_text())
    if c.get("format") != "memres-integer-constants" or c.get("format_version") != 1:
        raise ValueError(f"{path}: not a version-1 memres constants file")
    return c


def rshr(x: int, s: int) -> int:
    """Shift right, round (halves towards +infinity); Python's >> floors like an arithmetic shift."""
    return x if s == 0 else (x + (1 << (s - 1))) >> s


def clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x


def features(c: dict, seq) -> list[list[int]]:
    """The feature vector x of every frame of one sequence (a list of frames of C input codes)."""
    fx = c["fixed"]
    b_k, b_r, b_l, b_g, b_i = (fx[n] for n in ("gain_bits", "decay_bits", "lut_bits", "state_bits", "current_bits"))
    n_dev, n_virt, n_in = c["n_devices"], c["n_virtual"], c["n_inputs"]
    q_max, g_max, g0 = (1 << fx["pulse_bits"]) - 1, (1 << b_g) - 1, c["g0"]
    mask, r, r_idle = c["mask"], c["r"], c["r_idle"]
    a_lut, h_lut, f_lut = c["a_lut"], c["h_lut"], c["f_lut"]
    g = [g0] * n_dev
    out = []
    for frame in seq:
        u = [int(v) for v in frame]
        assert len(u) == n_in and all(0 <= v <= (1 << fx["input_bits"]) - 1 for v in u)
        x = []
        for m in range(n_virt):
            row = []
            for n in range(n_dev):
                p = sum(mask[ch][m][n] * u[ch] for ch in range(n_in))
                q = clamp(rshr(p * c["gain"] + c["center"], b_k), 0, q_max)
                old = g[n]
                decay = g0 + rshr(r[n] * (old - g0), b_r)
                move = rshr(a_lut[q] * (h_lut[q] * g_max - old), b_l)
                g[n] = clamp(decay + move, 0, g_max)
                row.append(rshr(g[n] * f_lut[q], b_g + b_l - b_i))
            x.extend(row)
        if c["state_features"]:
            x.extend(s >> (b_g - b_i) if b_g >= b_i else s << (b_i - b_g) for s in g)
        if r_idle is not None:
            g = [g0 + rshr(r_idle[n] * (g[n] - g0), b_r) for n in range(n_dev)]
        out.append(x)
    return out


def outputs(c: dict, seq) -> list[list[int]]:
    """y[k] of every frame: b[k] + sum_j W[j, k] x[j]."""
    w, b = c["weights"], c["biases"]
    return [[b[k] + sum(w[j][k] * xj for j, xj in enumerate(x)) for k in range(len(b))] for x in features(c, seq)]


def decisions(c: dict, seq) -> tuple[list[list[int]], list[int]]:
    """Running sequence sums Y (saturated after every frame) and the decision after every frame."""
    lim = c["sequence_sum_limit"]
    acc = [0] * c["n_outputs"]
    sums, dec = [], []
    for y in outputs(c, seq):
        acc = [clamp(a + v, -lim, lim) for a, v in zip(acc, y)]
        sums.append(list(acc))
        dec.append(max(range(len(acc)), key=lambda k: (acc[k], -k)))
    return sums, dec
