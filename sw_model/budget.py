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

__all__ = ["MemoryBudgetError", "available_bytes", "ensure_fits", "gib"]

#: Share of the available memory one allocation may take.
HEADROOM = 0.8


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
