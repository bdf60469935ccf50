"""Random stimulus for the checker: input sequences of a design (saturating and constant ones among them)."""

from __future__ import annotations

import numpy as np

from memres.hdl.design import Design

__all__ = ["random_sequences"]


def random_sequences(design: Design, rng: np.random.Generator, count: int, max_len: int = 10) -> list[np.ndarray]:
    """Random input sequences: uniform codes mostly, some of only 0 / full scale (saturation), some constant."""
    k = design.params.k
    out = []
    for _ in range(count):
        t = int(rng.integers(1, max_len + 1))
        kind = rng.choice(["random", "random", "random", "extremes", "full", "zero"])
        shape = (t, design.n_inputs)
        if kind == "extremes":
            s = rng.choice([0, k.u_max], size=shape)
        elif kind == "full":
            s = np.full(shape, k.u_max)
        elif kind == "zero":
            s = np.zeros(shape)
        else:
            s = rng.integers(0, k.u_max + 1, size=shape)
        out.append(np.asarray(s, dtype=np.int64))
    return out
