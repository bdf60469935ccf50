"""Linear memory capacity of a reservoir configuration (Jaeger 2001).

Feed one channel of i.i.d. uniform input u(t) in [0, 1], one value per frame,
and train a separate linear readout for every delay k to recall u(t - k) from
the features of frame t. The capacity at delay k is the squared correlation
between recall and truth on held-out frames; the total memory capacity is
their sum. A reservoir that forgets within a frame has MC near 0; one with
memory over ten frames has MC(k) near 1 for k up to about ten.

This makes the "multi-timescale memory" of devices with different
relaxation times measurable: compare the profiles of one tau and of a spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ModelConfig
from .readout import Gram, ridge
from .reservoir import FloatReservoir


@dataclass(frozen=True)
class MemoryCapacity:
    delays: np.ndarray      # (K,) frame delays 1..K
    profile: np.ndarray     # (K,) squared correlation per delay

    @property
    def total(self) -> float:
        return float(self.profile.sum())

    def to_dict(self) -> dict:
        return {"total": self.total, "delays": self.delays.tolist(), "profile": self.profile.tolist()}


def memory_capacity(cfg: ModelConfig, max_delay: int = 30, n_train: int = 2000, n_test: int = 1000,
                    washout: int = 100, lam: float = 1e-6, seed: int = 0) -> MemoryCapacity:
    """Memory capacity profile MC(k), k = 1..max_delay, of the float model."""
    rng = np.random.default_rng(seed)
    total = washout + n_train + n_test
    u = rng.random((total, 1))
    x = FloatReservoir(cfg.reservoir, 1).run_batch(u[None])[0]
    train = np.arange(washout, washout + n_train)
    test = np.arange(washout + n_train, total)
    delays = np.arange(1, max_delay + 1)
    targets = np.stack([u[np.arange(total) - k, 0] for k in delays], axis=1)   # (T, K)
    g = Gram(x.shape[1], len(delays))
    g.add(x[train], targets[train])
    w, b = ridge(g, lam)
    pred = x[test] @ w + b
    prof = np.array([np.corrcoef(pred[:, j], targets[test, j])[0, 1] ** 2 for j in range(len(delays))])
    return MemoryCapacity(delays, np.nan_to_num(prof))
