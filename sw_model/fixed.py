"""The bit-exact integer reservoir: what the hardware must compute.

Everything here is integer arithmetic on numpy int64 arrays; the numerical
contract (formats, rounding, saturation, order of operations) is written
down in ``docs/fixed_point.md`` and this module implements it once. The
hardware in ``hdl/`` implements the same contract and is checked against
this module value by value, cycle by cycle.

Constants (lookup tables, decay factors, gains) are derived from the float
configuration once, in :func:`build_constants`, with round-half-up; from then
on no float is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from . import device, kernels
from .config import FixedConfig, ReservoirConfig
from .reservoir import DEFAULT_BATCH, DeviceParams, device_params, n_features, run_sequences, sequence_sums


def round_half_up(x: np.ndarray | float) -> np.ndarray:
    """Float -> nearest integer, halves towards +infinity (used only to build constants)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def rshift_round(x: np.ndarray, s: int) -> np.ndarray:
    """Arithmetic shift right by ``s`` bits, rounding half up: (x + 2^(s-1)) >> s."""
    if s <= 0:
        return x << -s
    return (x + (1 << (s - 1))) >> s


def bits_signed(lo: int, hi: int) -> int:
    """Width of the smallest two's-complement signal holding every value in [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def bits_unsigned(hi: int) -> int:
    """Width of the smallest unsigned signal holding 0 .. hi."""
    return max(1, int(hi).bit_length())


@dataclass(frozen=True)
class FixedConstants:
    """All integers the datapath needs, derived once from the configuration."""

    n_inputs: int
    n_devices: int
    n_virtual: int
    state_features: bool
    mask: np.ndarray         # (C, ML, N) int64 of +1/-1
    gain: int                # pulse code = (p * gain + center) >> gain_bits, rounded, clamped
    center: int
    r: np.ndarray            # (N,) decay factors, decay_bits fraction bits
    r_idle: np.ndarray | None  # (N,) idle decay factors, or None when there is no idle gap
    g0: int                  # resting state, state_bits fraction bits
    a_lut: np.ndarray        # (2^pulse_bits,) a(V(q)) with lut_bits fraction bits
    h_lut: np.ndarray        # (2^pulse_bits,) 1 where V(q) > 0
    f_lut: np.ndarray        # (2^pulse_bits,) current factor / f_scale, lut_bits fraction bits
    f_scale: float           # max |Kp max(V,0)^3 + Kn min(V,0)^3| over the codes (float, for reports)
    fx: FixedConfig

    @property
    def q_max(self) -> int:
        return (1 << self.fx.pulse_bits) - 1

    @property
    def g_max(self) -> int:
        return (1 << self.fx.state_bits) - 1

    @property
    def u_max(self) -> int:
        return (1 << self.fx.input_bits) - 1

    @property
    def n_features(self) -> int:
        return self.n_devices * self.n_virtual + (self.n_devices if self.state_features else 0)

    @property
    def current_shift(self) -> int:
        return self.fx.state_bits + self.fx.lut_bits - self.fx.current_bits


def pulse_voltages(cfg: ReservoirConfig, pulse_bits: int) -> np.ndarray:
    """V(q) = Vmin + q (Vmax - Vmin) / (2^b - 1) for every code q."""
    q_max = (1 << pulse_bits) - 1
    return cfg.v_min + np.arange(q_max + 1) * (cfg.v_max - cfg.v_min) / q_max


def build_constants(cfg: ReservoirConfig, fx: FixedConfig, n_inputs: int,
                    params: DeviceParams | None = None) -> FixedConstants:
    """Quantise the float configuration into the integer contract.

    The one place the float evaluation order of the constants is fixed: each expression below is
    the one written in docs/fixed_point.md ("Constants"), evaluated in IEEE-754 double, left to
    right. Downstream nothing recomputes them: ``memres generate`` writes the integers to
    ``constants.json``.
    """
    cfg.validate()
    fx.validate()
    if cfg.alpha_spread:
        raise ValueError("the integer model shares one a(V) table across devices: "
                         "reservoir.alpha_spread must be 0 for it (float model only)")
    prm = params if params is not None else device_params(cfg, n_inputs)
    q_max = (1 << fx.pulse_bits) - 1
    u_max = (1 << fx.input_bits) - 1
    # Float model: code = q_max/2 + input_scale q_max/2 p/sqrt(C), with p = p_int / u_max.
    k = cfg.input_scale * q_max / (2.0 * np.sqrt(n_inputs) * u_max)
    gain = int(round_half_up(k * (1 << fx.gain_bits)))
    center = int(round_half_up(q_max / 2 * (1 << fx.gain_bits)))
    v = pulse_voltages(cfg, fx.pulse_bits)
    one = 1 << fx.lut_bits
    decay_one = 1 << fx.decay_bits
    f = device.current_factor(v, cfg.kp, cfg.kn)
    f_scale = float(np.max(np.abs(f))) or 1.0
    return FixedConstants(
        n_inputs=n_inputs,
        n_devices=cfg.n_devices,
        n_virtual=cfg.n_virtual,
        state_features=cfg.state_features,
        mask=prm.mask.astype(np.int64),
        gain=gain,
        center=center,
        r=np.minimum(round_half_up(prm.r * decay_one), decay_one - 1),
        r_idle=np.minimum(round_half_up(prm.r_idle * decay_one), decay_one - 1) if cfg.idle_ns else None,
        g0=int(min(round_half_up(cfg.g0 * (1 << fx.state_bits)), (1 << fx.state_bits) - 1)),
        a_lut=round_half_up(device.switching_rate(v, cfg.alpha) * one),
        h_lut=(v > 0).astype(np.int64),
        f_lut=round_half_up(f / f_scale * one),
        f_scale=f_scale,
        fx=fx,
    )


def quantise_inputs(u: np.ndarray, input_bits: int) -> np.ndarray:
    """Input samples in [0, 1] -> unsigned codes round(u (2^b - 1)), saturated."""
    u_max = (1 << input_bits) - 1
    return np.clip(round_half_up(np.asarray(u) * u_max), 0, u_max)


def pulse_codes(k: FixedConstants, u_int: np.ndarray) -> np.ndarray:
    """Pulse codes (..., ML, N) for input codes (..., C).

    p = sum_c mask[c, m, n] u[c];  q = clamp((p gain + center + 2^(g-1)) >> g, 0, q_max)
    """
    p = np.tensordot(u_int, k.mask, axes=([-1], [0]))
    return np.clip(rshift_round(p * k.gain + k.center, k.fx.gain_bits), 0, k.q_max)


def cell_update(k: FixedConstants, g: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pulse: new state and read current, both from the previous state ``g``.

    decay = g0 + ((r (g - g0) + 2^(D-1)) >> D)
    move  = (a[q] (H[q] g_max - g) + 2^(L-1)) >> L
    g'    = clamp(decay + move, 0, g_max)
    I     = (g' f[q] + 2^(s-1)) >> s,  s = state_bits + lut_bits - current_bits
    """
    return apply_cell_update(k, g, k.a_lut[q], k.h_lut[q] * k.g_max, k.f_lut[q])


def apply_cell_update(k: FixedConstants, g: np.ndarray, a: np.ndarray, target: np.ndarray,
                      f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cell_update` with the table look-ups A[q], H[q] g_max, F[q] already done."""
    fx = k.fx
    decay = k.g0 + rshift_round(k.r * (g - k.g0), fx.decay_bits)
    move = rshift_round(a * (target - g), fx.lut_bits)
    g_new = np.clip(decay + move, 0, k.g_max)
    return g_new, rshift_round(g_new * f, k.current_shift)


def idle_update(k: FixedConstants, g: np.ndarray) -> np.ndarray:
    """Relaxation over the idle gap after a frame (no pulse)."""
    return k.g0 + rshift_round(k.r_idle * (g - k.g0), k.fx.decay_bits)


def state_feature(k: FixedConstants, g: np.ndarray) -> np.ndarray:
    """Frame-end state as a feature: the top current_bits bits of g (floor)."""
    return g >> (k.fx.state_bits - k.fx.current_bits) if k.fx.state_bits >= k.fx.current_bits \
        else g << (k.fx.current_bits - k.fx.state_bits)


class FixedReservoir:
    """Batched integer simulation; same interface as :class:`FloatReservoir`.

    Both backends (``"numba"``, the default when numba imports, and
    ``"numpy"``; see :mod:`sw_model.kernels`) give identical integers.
    """

    def __init__(self, cfg: ReservoirConfig, fx: FixedConfig, n_inputs: int, backend: str | None = None):
        self.cfg = cfg
        self.k = build_constants(cfg, fx, n_inputs)
        self.backend = kernels.resolve_backend(backend)

    @property
    def n_features(self) -> int:
        return n_features(self.cfg)

    def run_batch(self, u_int: np.ndarray, record_states: bool = False):
        """Integer features of a padded batch of input codes (B, T, C) -> (B, T, F) int64.

        With ``record_states`` also returns the states after every pulse, (B, T, ML, N).
        """
        return self._run_batch(u_int, None, record_states)

    def _run_batch(self, u_int: np.ndarray, lengths, record_states: bool):
        """:meth:`run_batch`; with ``lengths`` the numba path skips the padding after each sequence
        (those frames of the result are then undefined)."""
        if self.backend == "numba":
            feats, states, _ = self._kernel(u_int, lengths, record_states=record_states)
            return (feats, states) if record_states else feats
        k = self.k
        b, t_len, _ = u_int.shape
        n, ml = k.n_devices, k.n_virtual
        feats = np.empty((b, t_len, k.n_features), dtype=np.int64)
        states = np.empty((b, t_len, ml, n), dtype=np.int64) if record_states else None
        g = np.full((b, n), k.g0, dtype=np.int64)
        for t in range(t_len):
            q = pulse_codes(k, u_int[:, t])
            a, target, f = k.a_lut[q], k.h_lut[q] * k.g_max, k.f_lut[q]   # look-ups for the whole frame
            for m in range(ml):
                g, i = apply_cell_update(k, g, a[:, m], target[:, m], f[:, m])
                feats[:, t, m * n:(m + 1) * n] = i
                if states is not None:
                    states[:, t, m] = g
            if k.state_features:
                feats[:, t, ml * n:] = state_feature(k, g)
            if k.r_idle is not None:
                g = idle_update(k, g)
        return (feats, states) if record_states else feats

    def run(self, seqs: Sequence[np.ndarray], batch_size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, integer features (T_i, F))``; ``seqs`` hold input codes."""
        return run_sequences(self._run_batch, seqs, batch_size or DEFAULT_BATCH[self.backend], np.int64)

    def sequence_sums(self, seqs: Sequence[np.ndarray], ends: np.ndarray, batch_size: int | None = None
                      ) -> np.ndarray:
        """Integer sums of the features of the first ``ends[i, k]`` frames of every sequence, (S, K, F)
        (see :meth:`sw_model.reservoir.FloatReservoir.sequence_sums`)."""
        return sequence_sums(seqs, ends, self.n_features, np.int64, batch_size,
                             self._kernel if self.backend == "numba" else None, self.run)

    def _kernel(self, u_int: np.ndarray, lengths, **what):
        """:func:`sw_model.kernels.fixed_run` on a padded batch (numba backend)."""
        return kernels.fixed_run(u_int, lengths, self.k, **what)


# --- widths ---------------------------------------------------------------

def feature_bounds(k: FixedConstants) -> tuple[int, int]:
    """Smallest and largest value any feature can take (rounding is monotonic)."""
    prods = [g * f for g in (0, k.g_max) for f in (int(k.f_lut.min()), int(k.f_lut.max()))]
    lo = int(rshift_round(np.int64(min(prods)), k.current_shift))
    hi = int(rshift_round(np.int64(max(prods)), k.current_shift))
    if k.state_features:
        hi = max(hi, int(state_feature(k, np.int64(k.g_max))))
        lo = min(lo, 0)
    return lo, hi


#: Largest ``2^state_bits x (decay factors + table entries)`` that :func:`update_range` enumerates;
#: above it the range is bounded by interval analysis (rounding bounded by its linear envelope).
EXHAUSTIVE_LIMIT = 1 << 27


def update_range(k: FixedConstants) -> tuple[int, int]:
    """Smallest and largest ``decay + move`` before the clamp, over every state and pulse code.

    The state before a pulse is always in ``0 .. g_max`` (it was clamped, or is ``g0``). The
    update ``decay(r, g) + move(a, t, g)`` is taken over every decay factor ``r`` (``k.r`` and
    ``k.r_idle``), every table entry ``(a, t) = (A[q], H[q] g_max)`` and ``(0, 0)`` (the end
    pass, no move), and every state ``g``. The two terms depend on separate choices, so for each
    ``g`` the extremes are the sum of each term's extremes: exhaustive and exact when
    ``2^state_bits x (factors + entries) <= EXHAUSTIVE_LIMIT``. Above that, a sound interval
    bound: ``x/2^s - 1 < rshr(x, s) <= x/2^s + 1/2``, whose bounds are linear in ``g`` and so
    extreme at ``g = 0`` or ``g_max``.

    Where the range lies inside ``0 .. g_max`` the clamp of the state update can never act,
    and the hardware leaves that side out (``hdl/cell_array.py``).
    """
    fx = k.fx
    rs = np.unique(np.concatenate([k.r, k.r_idle if k.r_idle is not None else k.r]).astype(np.int64))
    entries = np.unique(np.stack([np.concatenate([k.a_lut, [0]]),
                                  np.concatenate([k.h_lut * k.g_max, [0]])], axis=1).astype(np.int64), axis=0)
    n_states = k.g_max + 1
    if n_states * (len(rs) + len(entries)) <= EXHAUSTIVE_LIMIT:
        g = np.arange(n_states, dtype=np.int64)
        d_lo = np.full(n_states, np.iinfo(np.int64).max)
        d_hi = np.full(n_states, np.iinfo(np.int64).min)
        for r in rs:
            d = k.g0 + rshift_round(r * (g - k.g0), fx.decay_bits)
            np.minimum(d_lo, d, out=d_lo)
            np.maximum(d_hi, d, out=d_hi)
        m_lo = np.full(n_states, np.iinfo(np.int64).max)
        m_hi = np.full(n_states, np.iinfo(np.int64).min)
        for a, t in entries:
            mv = rshift_round(a * (t - g), fx.lut_bits)
            np.minimum(m_lo, mv, out=m_lo)
            np.maximum(m_hi, mv, out=m_hi)
        return int((d_lo + m_lo).min()), int((d_hi + m_hi).max())
    # Interval bound: exact rationals in units of 2^-(D+L), at the ends g = 0 and g = g_max.
    D, L = fx.decay_bits, fx.lut_bits
    lo = hi = None
    for g in (0, k.g_max):
        for r in (int(rs.min()), int(rs.max())):
            for a, t in entries:
                x = (k.g0 << (D + L)) + (r * (g - k.g0) << L) + (int(a) * (int(t) - g) << D)
                up = (x + (1 << (D + L))) >> (D + L)           # + 1/2 + 1/2, floored: >= the true value
                down = -((-x) >> (D + L)) - 2                  # ceil(x) - 2 < x - 1 - 1 < the true value
                lo = down if lo is None else min(lo, down)
                hi = up if hi is None else max(hi, up)
    return lo, hi


@dataclass(frozen=True)
class Widths:
    """Signal widths of the datapath, derived so that no input can overflow them."""

    input: int          # unsigned input code
    projection: int     # signed mask projection p
    pulse: int          # unsigned pulse code
    state: int          # unsigned device state
    feature: int        # signed feature
    weight: int         # signed readout weight
    bias: int           # signed readout bias
    frame_acc: int      # signed per-frame readout sum
    seq_acc: int        # signed per-sequence sum of readouts

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def derive_widths(k: FixedConstants, n_outputs: int = 1) -> Widths:
    """Worst-case widths (see docs/fixed_point.md, section "Widths")."""
    fx = k.fx
    p_hi = k.n_inputs * k.u_max
    f_lo, f_hi = feature_bounds(k)
    w_max = (1 << (fx.weight_bits - 1)) - 1
    f_abs = max(-f_lo, f_hi)
    dot = k.n_features * f_abs * w_max
    b_max = bias_limit(k)
    frame = dot + b_max
    return Widths(
        input=fx.input_bits,
        projection=bits_signed(-p_hi, p_hi),
        pulse=fx.pulse_bits,
        state=fx.state_bits,
        feature=bits_signed(f_lo, f_hi),
        weight=fx.weight_bits,
        bias=bits_signed(-b_max, b_max),
        frame_acc=bits_signed(-frame, frame),
        seq_acc=bits_signed(-frame * fx.max_frames, frame * fx.max_frames),
    )


def bias_limit(k: FixedConstants) -> int:
    """Largest |bias| stored: as large as the largest possible dot product."""
    fx = k.fx
    lo, hi = feature_bounds(k)
    return k.n_features * max(-lo, hi) * ((1 << (fx.weight_bits - 1)) - 1)
