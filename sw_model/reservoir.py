"""The float reservoir: input mask, virtual nodes and N devices, batched.

A frame ``u`` (C channels, each in [0, 1]) is projected by a fixed +1/-1 mask
(C x ML x N) onto ML consecutive pulses for each of N devices::

    p[m, n] = sum_c u[c] mask[c, m, n]
    V[m, n] = clip(Vmid + input_scale (Vmax - Vmin)/2 p[m, n] / sqrt(C), Vmin, Vmax)

Pulse m of a frame is applied to all devices at once; its read currents are
features ``m * N + n``. With ``state_features`` the device states after the
last pulse of the frame follow. Devices start each sequence at G0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from . import device, kernels
from .config import ReservoirConfig


@dataclass(frozen=True)
class DeviceParams:
    """Physical parameters drawn from a configuration for a given input width."""

    tau_ns: np.ndarray      # (N,) relaxation times after device-to-device spread
    r: np.ndarray           # (N,) per-pulse retention exp(-dt/tau)
    r_idle: np.ndarray      # (N,) retention over one idle gap exp(-idle/tau)
    alpha: np.ndarray       # (N,) switching constants after spread
    mask: np.ndarray        # (C, ML, N) of +1/-1

    @property
    def n_inputs(self) -> int:
        return self.mask.shape[0]


def draw_taus(cfg: ReservoirConfig, rng: np.random.Generator) -> np.ndarray:
    """Nominal relaxation time of every device, in ns, per ``cfg.tau``."""
    spec, n = cfg.tau, cfg.n_devices
    if spec.mode == "single":
        return np.full(n, spec.values_ns[0])
    if spec.mode == "list":
        return np.array(spec.values_ns, dtype=np.float64)
    if spec.mode == "compositions":
        return np.array([spec.values_ns[i % len(spec.values_ns)] for i in range(n)], dtype=np.float64)
    lo, hi = spec.low_ns, spec.high_ns
    if spec.mode == "uniform":
        return rng.uniform(lo, hi, n)
    if spec.mode == "log-uniform":
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    if spec.mode == "linear-spaced":
        return np.linspace(lo, hi, n)
    return np.geomspace(lo, hi, n)  # log-spaced


def device_params(cfg: ReservoirConfig, n_inputs: int) -> DeviceParams:
    """Draw taus, device spread and the input mask, all from ``cfg.seed``."""
    if n_inputs < 1:
        raise ValueError(f"a reservoir needs at least one input channel, not {n_inputs}")
    rng = np.random.default_rng(cfg.seed)
    # Fixed draw order so that changing one option does not reshuffle the others.
    mask = np.where(rng.random((n_inputs, cfg.n_virtual, cfg.n_devices)) < 0.5, -1.0, 1.0)
    tau = draw_taus(cfg, rng)
    spread_rng = np.random.default_rng([cfg.seed, 1])
    tau = tau * np.exp(cfg.tau_spread * spread_rng.standard_normal(cfg.n_devices))
    alpha = cfg.alpha * np.exp(cfg.alpha_spread * spread_rng.standard_normal(cfg.n_devices))
    return DeviceParams(
        tau_ns=tau,
        r=np.exp(-cfg.dt_ns / tau),
        r_idle=np.exp(-cfg.idle_ns / tau),
        alpha=alpha,
        mask=mask,
    )


def n_features(cfg: ReservoirConfig) -> int:
    """Features per frame (without the bias)."""
    return cfg.n_devices * cfg.n_virtual + (cfg.n_devices if cfg.state_features else 0)


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Indices of sequences grouped by similar length, to keep padding small."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def pad(seqs: Sequence[np.ndarray], dtype=np.float64) -> np.ndarray:
    """Stack sequences of shape (T_i, C) into (B, T_max, C), zero padded."""
    t_max = max(len(s) for s in seqs)
    out = np.zeros((len(seqs), t_max, seqs[0].shape[1]), dtype=dtype)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


#: Sequences per batch in :meth:`FloatReservoir.run` and :meth:`~sw_model.fixed.FixedReservoir.run`
#: when no batch size is given: the numba kernels need no large batches, and small ones keep the
#: (B, T, F) feature array small; the numpy path steps once per pulse for the whole batch, so it
#: wants large ones.
DEFAULT_BATCH = {"numba": 32, "numpy": 256}


class FloatReservoir:
    """Batched float simulation of the reservoir.

    ``backend`` chooses the implementation, ``"numba"`` (compiled kernels,
    the default when numba imports) or ``"numpy"`` (the reference); see
    :mod:`sw_model.kernels`. Both give the same features to rounding.
    """

    def __init__(self, cfg: ReservoirConfig, n_inputs: int, backend: str | None = None):
        cfg.validate()
        self.cfg = cfg
        self.params = device_params(cfg, n_inputs)
        self.backend = kernels.resolve_backend(backend)
        self._noise_rng = np.random.default_rng([cfg.seed, 2])

    @property
    def n_features(self) -> int:
        return n_features(self.cfg)

    def voltages(self, u: np.ndarray) -> np.ndarray:
        """Pulse amplitudes (..., ML, N) for frames ``u`` of shape (..., C)."""
        cfg, mask = self.cfg, self.params.mask
        p = np.tensordot(u, mask, axes=([-1], [0]))
        half = (cfg.v_max - cfg.v_min) / 2
        v = cfg.v_min + half + cfg.input_scale * half * p / np.sqrt(mask.shape[0])
        return np.clip(v, cfg.v_min, cfg.v_max)

    def run_batch(self, u: np.ndarray, record_states: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Features of a padded batch ``u`` (B, T, C) -> (B, T, F).

        With ``record_states`` also returns the states after every pulse, (B, T, ML, N).
        """
        return self._run_batch(u, None, record_states)

    def _kernel(self, u: np.ndarray, lengths, **what):
        """:func:`sw_model.kernels.float_run` on a padded batch (numba backend)."""
        cfg, prm = self.cfg, self.params
        noise = None
        if cfg.read_noise:
            # The numpy path draws (B, N) normals per pulse, frame by frame: the same stream.
            b, t_len, _ = u.shape
            noise = self._noise_rng.standard_normal((t_len, cfg.n_virtual, b, cfg.n_devices))
        return kernels.float_run(
            u, lengths, prm.mask, v_min=cfg.v_min, v_max=cfg.v_max, input_scale=cfg.input_scale,
            alpha=prm.alpha, kp=cfg.kp, kn=cfg.kn, r=prm.r, g0=cfg.g0,
            r_idle=prm.r_idle if cfg.idle_ns else None, state_features=cfg.state_features,
            noise=noise, noise_amp=cfg.read_noise, n_features=self.n_features, **what)

    def _run_batch(self, u: np.ndarray, lengths, record_states: bool):
        """:meth:`run_batch`; with ``lengths`` the numba path skips the padding after each sequence
        (those frames of the result are then undefined)."""
        if self.backend == "numba":
            feats, states, sums = self._kernel(u, lengths, record_states=record_states)
            return (feats, states) if record_states else feats
        cfg, prm = self.cfg, self.params
        b, t_len, _ = u.shape
        n, ml = cfg.n_devices, cfg.n_virtual
        feats = np.empty((b, t_len, self.n_features))
        states = np.empty((b, t_len, ml, n)) if record_states else None
        g = np.full((b, n), cfg.g0)
        for t in range(t_len):
            # The state-independent part of all ML pulses of the frame at once.
            lam, h, f = device.pulse_factors(self.voltages(u[:, t]), prm.alpha, cfg.kp, cfg.kn)
            for m in range(ml):
                g, i = device.apply_pulse(g, prm.r, cfg.g0, lam[:, m], h[:, m], f[:, m])
                if cfg.read_noise:
                    i = i * (1.0 + cfg.read_noise * self._noise_rng.standard_normal(i.shape))
                feats[:, t, m * n:(m + 1) * n] = i
                if states is not None:
                    states[:, t, m] = g
            if cfg.state_features:
                feats[:, t, ml * n:] = g
            if cfg.idle_ns:
                g = device.relax(g, prm.r_idle, cfg.g0)
        return (feats, states) if record_states else feats

    def run(self, seqs: Sequence[np.ndarray], batch_size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, features (T_i, F))`` for every sequence, in length-sorted batches."""
        return run_sequences(self._run_batch, seqs, batch_size or DEFAULT_BATCH[self.backend], np.float64)

    def sequence_sums(self, seqs: Sequence[np.ndarray], ends: np.ndarray, batch_size: int | None = None
                      ) -> np.ndarray:
        """Sums of the features of the first ``ends[i, k]`` frames of every sequence, (S, K, F).

        What a sequence decision needs (:class:`sw_model.classify.SequenceSums`),
        without keeping the features; the same values as ``np.cumsum`` over
        the features of :meth:`run`.
        """
        return sequence_sums(seqs, ends, self.n_features, np.float64, batch_size,
                             self._kernel if self.backend == "numba" else None, self.run)


def sequence_sums(seqs: Sequence[np.ndarray], ends: np.ndarray, n_features: int, dtype, batch_size: int | None,
                  kernel, run) -> np.ndarray:
    """:meth:`FloatReservoir.sequence_sums` for either reservoir: with ``kernel(padded, lengths,
    store=False, ends=...)`` (numba) the sums are accumulated in the kernel, else they are summed
    from the features of ``run(seqs, batch_size)``."""
    ends = np.asarray(ends, dtype=np.int64)
    lengths = np.array([len(s) for s in seqs])
    if ends.ndim != 2 or len(ends) != len(seqs) or ends.size and (
            ends.min() < 1 or np.any(ends.max(axis=1) > lengths) or np.any(np.diff(ends, axis=1) < 0)):
        raise ValueError("ends must be (sequences, K): ascending frame counts from 1 to each sequence's length")
    out = np.zeros((len(seqs), ends.shape[1], n_features), dtype=dtype)
    if kernel is not None:
        for idx in length_batches(lengths, batch_size or DEFAULT_BATCH["numba"]):
            out[idx] = kernel(pad([seqs[i] for i in idx], dtype=dtype), lengths[idx], store=False,
                              ends=ends[idx])[2]
    else:
        for i, feats in run(seqs, batch_size):
            out[i] = np.cumsum(feats, axis=0)[ends[i] - 1]
    return out


def run_sequences(run_batch, seqs: Sequence[np.ndarray], batch_size: int, dtype
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, features)`` of every sequence, from ``run_batch(padded, lengths, False)`` on
    length-sorted batches of ``batch_size`` sequences."""
    for idx in length_batches([len(s) for s in seqs], batch_size):
        lengths = np.array([len(seqs[i]) for i in idx])
        feats = run_batch(pad([seqs[i] for i in idx], dtype=dtype), lengths, False)
        for k, i in enumerate(idx):
            yield int(i), feats[k, :lengths[k]]
