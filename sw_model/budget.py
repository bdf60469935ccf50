"""Memory estimates checked before large arrays are allocated.

A configuration can be valid and still ask for more memory than the machine
has (``n_devices = 4096, n_virtual = 256`` makes a million features, and the
ridge readout's Gram matrix alone would be 8 TB). Code that is about to
allocate something large calls :func:`ensure_fits` first; it refuses with
the estimate, what is available, and a way out, instead of letting the
kernel kill the process after minutes of swapping.
"""

from __future__ import annotations

import os

from .errors import MemresError

__all__ = ["MemoryBudgetError", "available_bytes", "ensure_fits", "ensure_training_fits", "gib", "training_bytes",
           "RIDGE_MATRICES", "TRAINING_WAY_OUT"]

#: Share of the available memory one allocation may take.
HEADROOM = 0.8

#: (F+1) x (F+1) float64 matrices alive at once when a ridge readout is solved, besides the Gram sums
#: themselves: the centred covariance, its standardised copy, and the eigen decomposition's work copy and
#: eigenvectors (sw_model/readout.py, RidgeSolver).
RIDGE_MATRICES = 4

#: What to change when training does not fit.
TRAINING_WAY_OUT = ("use fewer devices (reservoir.n_devices) or virtual nodes (reservoir.n_virtual): "
                    "F = n_devices x n_virtual features make an (F+1)^2 Gram matrix")


class MemoryBudgetError(MemresError):
    """An allocation would not fit in memory; the message gives the estimate and a way out."""


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def available_bytes() -> int:
    """Memory available to this process: MemAvailable from /proc/meminfo, else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def ensure_fits(n_bytes: int, what: str, way_out: str, available: int | None = None) -> None:
    """Raise :class:`MemoryBudgetError` if ``n_bytes`` exceed :data:`HEADROOM` of the available memory."""
    avail = available_bytes() if available is None else available
    if n_bytes > HEADROOM * avail:
        raise MemoryBudgetError(f"{what} needs about {gib(n_bytes)}, but only {gib(avail)} of memory is "
                                f"available: {way_out}")


def training_bytes(n_features: int, n_outputs: int = 1, *, frames: int, grams: int = 1, sequences: int = 0) -> int:
    """Estimated peak memory (bytes) of training a ridge readout on ``n_features`` reservoir features.

    n_features
        F, the reservoir's features per frame (without the bias).
    n_outputs
        K, the readout's outputs.
    frames
        Frames whose features are held at once: a batch of padded sequences, or a whole
        series. Counted twice: the float and the integer model each hold theirs.
    grams
        Gram accumulators ((F+1)^2 float64 each) kept at once, one per training part.
    sequences
        Sequences whose prefix sums (4 x F float64) are kept for early recognition, float and integer.

    The ridge solve adds :data:`RIDGE_MATRICES` more (F+1)^2 float64 matrices.
    """
    f1 = n_features + 1
    square = 8 * f1 * f1
    return int((grams + RIDGE_MATRICES) * square + grams * 8 * f1 * n_outputs
               + 2 * 8 * frames * n_features + 2 * 8 * 4 * sequences * n_features)


def ensure_training_fits(n_features: int, n_outputs: int = 1, *, frames: int, grams: int = 1, sequences: int = 0,
                         what: str = "training", way_out: str = TRAINING_WAY_OUT,
                         available: int | None = None) -> int:
    """:func:`ensure_fits` for :func:`training_bytes`; returns the estimate (bytes)."""
    need = training_bytes(n_features, n_outputs, frames=frames, grams=grams, sequences=sequences)
    ensure_fits(need, f"{what} ({n_features:,} features per frame)", way_out, available=available)
    return need
