"""The random-configuration sweep of the RTL checker: one seeded case per seed.

A case is a random buildable core (:func:`testbenches.predict.random_design`,
up to 64 devices, 8 virtual nodes, 32 inputs, 10 outputs, every width, tau
spread, idle gap and state features drawn; every fifth with the serial
readout), its stimulus and the handshake probabilities. Both the slow test (``tests/testbenches/test_verify.py``) and
the benchmark (``benchmarks/verify_random_configs.py``) take their cases from
here, so the figure the benchmark reports is the test's sweep at a larger count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .predict import Design, random_design
from .stimulus import random_sequences

__all__ = ["RandomCase", "random_case"]


@dataclass
class RandomCase:
    seed: int
    design: Design
    seqs: list
    sim: str
    p_valid: float
    p_ready: float

    def describe(self) -> dict:
        p = self.design.params
        return {"seed": self.seed, "sim": self.sim, "n_devices": p.n_devices, "n_virtual": p.n_virtual,
                "inputs": self.design.n_inputs, "outputs": self.design.n_outputs, "lanes": self.design.lanes,
                "rows": p.rows, "readout": p.readout, "baked": self.design.baked,
                "frames": int(sum(map(len, self.seqs))),
                "p_valid": round(self.p_valid, 3), "p_ready": round(self.p_ready, 3)}


def random_case(seed: int) -> RandomCase:
    """The sweep's case for ``seed``: every third core takes its readout through ``load``, every fifth has the
    serial readout (``seed % 5 == 2``), every fourth other one runs on Icarus (short stimulus: Icarus is slow
    on active cores), the rest on Verilator with 10 sequences of up to 20 frames."""
    serial = seed % 5 == 2
    d = random_design(seed, max_devices=64, max_virtual=8, max_inputs=32,
                      readout_mode="serial" if serial else "parallel")
    if seed % 3 == 0:
        d.baked = False
    icarus = seed % 4 == 0 and not serial
    seqs = random_sequences(d, np.random.default_rng(seed), 3 if icarus else 10, 6 if icarus else 20)
    rng = np.random.default_rng(seed)
    return RandomCase(seed, d, seqs, "icarus" if icarus else "verilator",
                      p_valid=float(rng.uniform(0.3, 1.0)), p_ready=float(rng.uniform(0.2, 1.0)))
