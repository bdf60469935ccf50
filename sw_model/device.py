"""The dynamic-memristor device law in floating point (domain.md section 2).

These functions are the float golden model of one pulse on many devices at
once. They follow the evaluation order of the authors' published code, so
that they reproduce its outputs to rounding (the reference vectors in
``shared/data/reference``).
"""

from __future__ import annotations

import numpy as np


def switching_rate(v: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """a(V) = alpha|V| / (alpha|V| + 1): how far one pulse moves the state."""
    av = alpha * np.abs(v)
    return av / (av + 1.0)


def target(v: np.ndarray) -> np.ndarray:
    """H(V): 1 for a set pulse (V > 0), 0 otherwise."""
    return (np.asarray(v) > 0).astype(np.float64)


def current_factor(v: np.ndarray, kp: float, kn: float) -> np.ndarray:
    """Kp max(V,0)^3 + Kn min(V,0)^3: the read current per unit of state."""
    return kp * np.maximum(v, 0.0) ** 3 + kn * np.minimum(v, 0.0) ** 3


def pulse_factors(v: np.ndarray, alpha: float | np.ndarray, kp: float, kn: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a pulse of amplitude ``v`` does, independent of the state: (a(V), H(V), current factor)."""
    return switching_rate(v, alpha), target(v), current_factor(v, kp, kn)


def apply_pulse(g: np.ndarray, r: float | np.ndarray, g0: float, lam: np.ndarray, h: np.ndarray,
                f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The state update and read current for precomputed :func:`pulse_factors`."""
    g_new = r * g + (1.0 - r) * g0 + lam * (h - g)
    return g_new, g_new * f


def pulse(g: np.ndarray, v: np.ndarray, r: float | np.ndarray, g0: float,
          alpha: float | np.ndarray, kp: float, kn: float) -> tuple[np.ndarray, np.ndarray]:
    """Apply one pulse of amplitude ``v`` to devices in state ``g``.

    Returns ``(g_new, current)``. The update uses the previous state
    throughout; the current is read from the updated state. Nothing is
    clipped: the update is a convex mix that keeps G in [0, 1] while
    a(V) <= r.
    """
    return apply_pulse(g, r, g0, *pulse_factors(v, alpha, kp, kn))


def relax(g: np.ndarray, r: float | np.ndarray, g0: float) -> np.ndarray:
    """Relaxation with no pulse: G <- G0 + r (G - G0)."""
    return g0 + r * (g - g0)
