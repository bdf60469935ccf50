"""Reading a sweep's results: Pareto fronts and the best configuration that fits a device."""

from __future__ import annotations

import math
from typing import Iterable

__all__ = ["pareto_front", "best_fitting", "ok_records", "COSTS"]


def pareto_front(costs: Iterable[float], scores: Iterable[float], maximize: bool = True) -> list[int]:
    """Indices of the Pareto-optimal points: no other point has a cost <= and a score at least as good with
    one of them strictly better. Sorted by increasing cost; of exact duplicates only the first is kept."""
    c = list(costs)
    s = [v if maximize else -v for v in scores]
    order = sorted(range(len(c)), key=lambda i: (c[i], -s[i], i))
    front, best = [], -math.inf
    for i in order:
        if s[i] > best:
            front.append(i)
            best = s[i]
    return front


COSTS = (("luts", "LUTs"), ("dsps", "DSPs"), ("brams", "BRAMs"))


def ok_records(records: Iterable[dict], family: str | None = None) -> list[dict]:
    return [r for r in records if r.get("status") == "ok" and (family is None or family in r.get("synth", {}))]


def best_fitting(records: Iterable[dict], family: str) -> dict | None:
    """The most accurate point that fits the family's device (ties: fewer LUTs)."""
    fits = [r for r in ok_records(records, family) if r["synth"][family]["fits_device"]]
    if not fits:
        return None
    sign = 1 if fits[0]["metric"] == "accuracy" else -1
    return max(fits, key=lambda r: (sign * r["score"], -r["synth"][family]["luts"], -r["synth"][family]["ffs"]))

