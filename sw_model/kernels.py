"""Compiled inner loops of the float and integer reservoirs (numba), with the numpy path as fallback.

The reservoirs in :mod:`sw_model.reservoir` and :mod:`sw_model.fixed` have
two interchangeable backends:

* ``"numpy"``: the reference, written with whole-array operations per pulse
  (one Python step per pulse of every frame);
* ``"numba"``: the kernels below, one compiled loop over sequences
  (in parallel), frames, pulses and devices, with the input projection done
  in the loop so that no (B, T, ML, N) array is ever held.

The float kernel evaluates every expression in the order of
:mod:`sw_model.device`, so it agrees with the numpy path to rounding of the
input projection (about 1e-15 relative). The integer kernel is bit-exact with
:mod:`sw_model.fixed`: the projection of integer input codes is done in
float64, which is exact because every partial sum is an integer below 2^53,
and everything after it is int64 arithmetic in the order of the contract.

numba is the default when it imports. Set ``MEMRES_NUMBA=0`` in the
environment to use the numpy path everywhere; pass ``backend="numpy"`` to a
reservoir to choose per object.
"""

from __future__ import annotations

import os
import threading

import numpy as np

try:  # numba is a dependency, but the model must keep working without it.
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - exercised by the forced-numpy test in a subprocess
    numba = None

if numba is not None and "NUMBA_THREADING_LAYER" not in os.environ:
    # numba picks GNU OpenMP when libgomp is present, and GNU OpenMP terminates a child forked after a
    # parallel kernel ran ("fork() called from a process already using GNU OpenMP"): sweeps, the bench
    # and the front-end fork worker processes. numba's own work queue is fork-safe but not thread-safe,
    # so the kernels are entered by one thread at a time (a Dask cluster runs jobs in threads).
    numba.config.THREADING_LAYER = "workqueue"

#: Held while a kernel runs: numba's work queue aborts the process on concurrent entry from two threads.
_ONE_AT_A_TIME = threading.Lock()

BACKENDS = ("numba", "numpy")

#: True when the numba kernels can be used (numba imports and ``MEMRES_NUMBA`` is not 0).
AVAILABLE = numba is not None and os.environ.get("MEMRES_NUMBA", "1").strip().lower() not in ("0", "no", "false", "off")


def default_backend() -> str:
    """``"numba"`` when available, else ``"numpy"``."""
    return "numba" if AVAILABLE else "numpy"


def resolve_backend(backend: str | None) -> str:
    """Check a backend name; None means :func:`default_backend`."""
    if backend is None:
        return default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"unknown reservoir backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "numba" and not AVAILABLE:
        raise ValueError("the numba backend is not available (numba does not import, or MEMRES_NUMBA=0)")
    return backend


if numba is not None:
    @njit(inline="always")
    def _rshift_round(x, s):
        """fixed.rshift_round for one int64."""
        if s <= 0:
            return x << -s
        return (x + (np.int64(1) << (s - 1))) >> s

    @njit(inline="always")
    def _emit(row, feats, b, t, store, acc, ends, sums, k):
        """Store frame ``t``'s features and add them to the running sum; keep the sum at the ends."""
        if store:
            for j in range(row.shape[0]):
                feats[b, t, j] = row[j]
        if ends.shape[1]:
            for j in range(row.shape[0]):
                acc[j] += row[j]
            kk = k
            while kk < ends.shape[1] and ends[b, kk] == t + 1:
                for j in range(row.shape[0]):
                    sums[b, kk, j] = acc[j]
                kk += 1

    @njit(inline="always")
    def _project(u, b, t, mask, p):
        """p = u[b, t] @ mask: one frame onto all ML x N pulses (exact in float64 for integer codes)."""
        n_in, mln = mask.shape
        u0 = u[b, t, 0]
        for j in range(mln):
            p[j] = u0 * mask[0, j]
        for c in range(1, n_in):
            uc = u[b, t, c]
            for j in range(mln):
                p[j] += uc * mask[c, j]

    @njit(inline="always")
    def _next_end(ends, b, t, k):
        while k < ends.shape[1] and ends[b, k] == t + 1:
            k += 1
        return k

    @njit(parallel=True, cache=True, nogil=True)
    def _float_run(u, lengths, mask, c0, c1, sq, v_min, v_max, alpha, kp, kn, r, g0, r_idle, idle,
                   state_features, noise, noise_amp, feats, states, record, store, ends, sums):
        n_seq = u.shape[0]
        mln = mask.shape[1]
        n_dev = r.shape[0]
        ml = mln // n_dev
        for b in prange(n_seq):
            g = np.full(n_dev, g0)
            p = np.empty(mln)
            lam = np.empty(mln)
            h = np.empty(mln)
            f = np.empty(mln)
            rest = np.empty(n_dev)
            for n in range(n_dev):
                rest[n] = (1.0 - r[n]) * g0
            n_feat = sums.shape[2] if not store else feats.shape[2]
            row = np.empty(n_feat)
            acc = np.zeros(n_feat)
            k = 0
            for t in range(lengths[b]):
                _project(u, b, t, mask, p)     # projection onto all ML x N pulses (reservoir.voltages)
                # what each pulse does, independent of the state (device.pulse_factors)
                for m in range(ml):
                    for n in range(n_dev):
                        j = m * n_dev + n
                        v = c0 + c1 * p[j] / sq
                        v = min(max(v, v_min), v_max)
                        av = alpha[n] * abs(v)
                        lam[j] = av / (av + 1.0)                          # device.switching_rate
                        h[j] = 1.0 if v > 0 else 0.0                      # device.target
                        vp = max(v, 0.0)
                        vn = min(v, 0.0)
                        f[j] = kp * (vp * vp * vp) + kn * (vn * vn * vn)  # device.current_factor
                for m in range(ml):
                    o = m * n_dev
                    for n in range(n_dev):                            # device.apply_pulse
                        gn = r[n] * g[n] + rest[n] + lam[o + n] * (h[o + n] - g[n])
                        g[n] = gn
                        row[o + n] = gn * f[o + n]
                    if record:
                        for n in range(n_dev):
                            states[b, t, m, n] = g[n]
                if noise_amp != 0.0:
                    for m in range(ml):
                        for n in range(n_dev):
                            j = m * n_dev + n
                            row[j] = row[j] * (1.0 + noise_amp * noise[t, m, b, n])
                if state_features:
                    for n in range(n_dev):
                        row[mln + n] = g[n]
                if idle:
                    for n in range(n_dev):
                        g[n] = g0 + r_idle[n] * (g[n] - g0)
                _emit(row, feats, b, t, store, acc, ends, sums, k)
                k = _next_end(ends, b, t, k)

    @njit(parallel=True, cache=True, nogil=True)
    def _fixed_run(u, lengths, mask, gain, center, gain_bits, q_max, a_lut, t_lut, f_lut, r, g0, g_max,
                   decay_bits, lut_bits, current_shift, state_shift, r_idle, idle, state_features, feats,
                   states, record, store, ends, sums):
        n_seq = u.shape[0]
        mln = mask.shape[1]
        n_dev = r.shape[0]
        ml = mln // n_dev
        for b in prange(n_seq):
            g = np.full(n_dev, g0)
            p = np.empty(mln)
            a = np.empty(mln, dtype=np.int64)
            tg = np.empty(mln, dtype=np.int64)
            f = np.empty(mln, dtype=np.int64)
            n_feat = sums.shape[2] if not store else feats.shape[2]
            row = np.empty(n_feat, dtype=np.int64)
            acc = np.zeros(n_feat, dtype=np.int64)
            k = 0
            for t in range(lengths[b]):
                _project(u, b, t, mask, p)     # integer projection, exact in float64 (partial sums < 2^53)
                # table look-ups of the whole frame (fixed.pulse_codes)
                for j in range(mln):
                    q = _rshift_round(np.int64(p[j]) * gain + center, gain_bits)
                    q = min(max(q, 0), q_max)
                    a[j] = a_lut[q]
                    tg[j] = t_lut[q]
                    f[j] = f_lut[q]
                for m in range(ml):
                    o = m * n_dev
                    for n in range(n_dev):                            # fixed.apply_cell_update
                        gg = g[n]
                        decay = g0 + _rshift_round(r[n] * (gg - g0), decay_bits)
                        move = _rshift_round(a[o + n] * (tg[o + n] - gg), lut_bits)
                        gn = min(max(decay + move, 0), g_max)
                        g[n] = gn
                        row[o + n] = _rshift_round(gn * f[o + n], current_shift)
                    if record:
                        for n in range(n_dev):
                            states[b, t, m, n] = g[n]
                if state_features:
                    for n in range(n_dev):                                           # fixed.state_feature
                        if state_shift >= 0:
                            row[mln + n] = g[n] >> state_shift
                        else:
                            row[mln + n] = g[n] << -state_shift
                if idle:
                    for n in range(n_dev):                                           # fixed.idle_update
                        g[n] = g0 + _rshift_round(r_idle[n] * (g[n] - g0), decay_bits)
                _emit(row, feats, b, t, store, acc, ends, sums, k)
                k = _next_end(ends, b, t, k)

    @njit(cache=True, nogil=True)
    def _quantise_rows(work, u, w_max, w_int):
        n_feat, n_out = work.shape
        err = np.empty(n_out)
        for j in range(n_feat):
            for k in range(n_out):
                wi = min(max(np.floor(work[j, k] + 0.5), -w_max), w_max)   # fixed.round_half_up, clipped
                w_int[j, k] = np.int64(wi)
                err[k] = (work[j, k] - wi) / u[j, j]
            for i in range(j + 1, n_feat):
                uji = u[j, i]
                for k in range(n_out):
                    work[i, k] -= uji * err[k]


    @njit(cache=True, nogil=True)
    def _prefix_sums(feats, ends, out):
        acc = np.zeros(feats.shape[1], dtype=feats.dtype)
        k = 0
        for t in range(feats.shape[0]):
            for j in range(feats.shape[1]):
                acc[j] += feats[t, j]
            while k < ends.shape[0] and ends[k] == t + 1:
                for j in range(feats.shape[1]):
                    out[k, j] = acc[j]
                k += 1
            if k == ends.shape[0]:
                break


def prefix_sums(feats: np.ndarray, ends: np.ndarray, out: np.ndarray, backend: str | None = None) -> None:
    """``out[k] = feats[:ends[k]].sum(axis=0)`` for ascending ``ends`` (K,), frame counts in
    1..len(feats): ``np.cumsum(feats, axis=0)[ends - 1]``, written into ``out`` (K, F). The numba
    kernel adds frame after frame in ``feats``' dtype as ``np.cumsum`` does, so both backends give
    the same values bit for bit, without the (T, F) array of all prefix sums. Other dtypes than
    float64 and int64 take the numpy path.
    """
    if (resolve_backend(backend) == "numba" and feats.dtype in (np.float64, np.int64) and feats.ndim == 2
            and out.flags.c_contiguous and len(ends) and ends[-1] <= len(feats)):
        # single-threaded (no numba work queue), so no need for _ONE_AT_A_TIME
        _prefix_sums(feats, ends, out)
        return
    out[...] = np.cumsum(feats, axis=0)[ends - 1]


def quantise_rows(work: np.ndarray, u: np.ndarray, w_max: int, backend: str | None = None) -> np.ndarray:
    """Round the rows of ``work`` (F, K) to integers in [-w_max, w_max] one after the other, each
    row's rounding error carried onto the rows after it through the upper triangular ``u`` (F, F):
    the loop of :class:`sw_model.readout.Quantiser`. ``work`` is overwritten. Both backends do the
    same float operations in the same order, so they give the same integers.
    """
    w_int = np.zeros(work.shape, dtype=np.int64)
    if resolve_backend(backend) == "numba":
        with _ONE_AT_A_TIME:
            _quantise_rows(work, np.ascontiguousarray(u), float(w_max), w_int)
        return w_int
    for j in range(len(work)):
        w_int[j] = np.clip(np.floor(work[j] + 0.5), -w_max, w_max)
        err = (work[j] - w_int[j]) / u[j, j]
        work[j + 1:] -= np.outer(u[j, j + 1:], err)
    return w_int


def _lengths(n_seq: int, t_len: int, lengths) -> np.ndarray:
    if lengths is None:
        return np.full(n_seq, t_len, dtype=np.int64)
    return np.ascontiguousarray(lengths, dtype=np.int64)


def _outputs(b: int, t_len: int, n_feat: int, ml: int, n: int, dtype, record_states: bool, store: bool, ends):
    feats = np.empty((b, t_len, n_feat) if store else (0, 0, 0), dtype=dtype)
    states = np.empty((b, t_len, ml, n) if record_states else (0, 0, 0, 0), dtype=dtype)
    if ends is None:
        ends = np.zeros((b, 0), dtype=np.int64)
    else:
        ends = np.ascontiguousarray(ends, dtype=np.int64)
        if ends.shape[0] != b or ends.size and (ends.min() < 1 or np.any(np.diff(ends, axis=1) < 0)):
            raise ValueError("ends must hold, per sequence, ascending frame counts >= 1")
    sums = np.zeros((b, ends.shape[1], n_feat), dtype=dtype)
    return feats, states, ends, sums


def float_run(u: np.ndarray, lengths, mask: np.ndarray, *, v_min: float, v_max: float, input_scale: float,
              alpha: np.ndarray, kp: float, kn: float, r: np.ndarray, g0: float, r_idle: np.ndarray | None,
              state_features: bool, noise: np.ndarray | None, noise_amp: float, n_features: int,
              record_states: bool = False, store: bool = True, ends=None):
    """Float reservoir on a padded batch ``u`` (B, T, C): ``(features, states, sums)``.

    ``features`` (B, T, F) when ``store`` (frames past ``lengths[b]`` are left
    unset), ``states`` (B, T, ML, N) when ``record_states``, and with ``ends``
    (B, K), ascending frame counts, ``sums`` (B, K, F): the sum of the first
    ``ends[b, k]`` frames' features, added frame after frame (as ``np.cumsum``
    does). What is not asked for is None. ``noise`` (T, ML, B, N) holds the
    standard normal draws of the read noise in the order the numpy path draws
    them (None without read noise).
    """
    b, t_len, n_in = u.shape
    ml, n = mask.shape[1], mask.shape[2]
    feats, states, ends_a, sums = _outputs(b, t_len, n_features, ml, n, np.float64, record_states, store, ends)
    half = (v_max - v_min) / 2
    with _ONE_AT_A_TIME:
        _float_run(np.ascontiguousarray(u, dtype=np.float64), _lengths(b, t_len, lengths),
                   np.ascontiguousarray(mask.reshape(n_in, ml * n), dtype=np.float64),
                   v_min + half, input_scale * half, float(np.sqrt(n_in)), float(v_min), float(v_max),
                   np.ascontiguousarray(alpha, dtype=np.float64), float(kp), float(kn),
                   np.ascontiguousarray(r, dtype=np.float64), float(g0),
                   np.ascontiguousarray(r if r_idle is None else r_idle, dtype=np.float64), r_idle is not None,
                   bool(state_features), np.zeros((0, 0, 0, 0)) if noise is None else noise,
                   float(noise_amp) if noise is not None else 0.0, feats, states, record_states, store, ends_a, sums)
    return (feats if store else None, states if record_states else None, sums if ends is not None else None)


def fixed_run(u_int: np.ndarray, lengths, k, *, record_states: bool = False, store: bool = True, ends=None):
    """Integer reservoir on a padded batch of input codes for constants ``k`` (a
    :class:`sw_model.fixed.FixedConstants`): ``(features, states, sums)``, int64, as :func:`float_run`."""
    b, t_len, n_in = u_int.shape
    ml, n = k.n_virtual, k.n_devices
    u = np.asarray(u_int)
    if u.size and int(np.abs(u).max()) * n_in >= 1 << 53:
        raise ValueError("integer input codes too large for the numba backend's exact float64 projection")
    feats, states, ends_a, sums = _outputs(b, t_len, k.n_features, ml, n, np.int64, record_states, store, ends)
    fx = k.fx
    with _ONE_AT_A_TIME:
        _fixed_run(u.astype(np.float64), _lengths(b, t_len, lengths),
                   np.ascontiguousarray(k.mask.reshape(n_in, ml * n), dtype=np.float64),
                   np.int64(k.gain), np.int64(k.center), np.int64(fx.gain_bits), np.int64(k.q_max),
                   np.ascontiguousarray(k.a_lut, dtype=np.int64),
                   np.ascontiguousarray(k.h_lut * k.g_max, dtype=np.int64),
                   np.ascontiguousarray(k.f_lut, dtype=np.int64), np.ascontiguousarray(k.r, dtype=np.int64),
                   np.int64(k.g0), np.int64(k.g_max), np.int64(fx.decay_bits), np.int64(fx.lut_bits),
                   np.int64(k.current_shift), np.int64(fx.state_bits - fx.current_bits),
                   np.ascontiguousarray(k.r if k.r_idle is None else k.r_idle, dtype=np.int64),
                   k.r_idle is not None, bool(k.state_features), feats, states, record_states, store, ends_a, sums)
    return (feats if store else None, states if record_states else None, sums if ends is not None else None)
