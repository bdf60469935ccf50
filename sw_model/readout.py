"""Linear readout: ridge regression from accumulated statistics, and its integer form.

Training never holds all frames of a data set in memory: features are
streamed into a :class:`Gram` accumulator (X^T X, X^T Y, sums). Features are
standardised with statistics of the training frames only, the ridge problem is
solved on standardised features, and the standardisation is then folded into
the weights and bias, so that a readout is always ``y = x @ W + b`` on raw
features. That is the form the hardware implements, after quantising W and b
to integers with one scale (:func:`quantise`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed import round_half_up


class Gram:
    """Running sums for least squares on frames: X^T X, X^T Y, sum x, sum y, count."""

    def __init__(self, n_features: int, n_outputs: int):
        self.xtx = np.zeros((n_features, n_features))
        self.xty = np.zeros((n_features, n_outputs))
        self.xs = np.zeros(n_features)
        self.ys = np.zeros(n_outputs)
        self.n = 0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add frames ``x`` (T, F) with targets ``y`` (T, K)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.xtx += x.T @ x
        self.xty += x.T @ y
        self.xs += x.sum(axis=0)
        self.ys += y.sum(axis=0)
        self.n += len(x)

    def __add__(self, other: "Gram") -> "Gram":
        out = Gram(*self.xty.shape)
        for name in ("xtx", "xty", "xs", "ys"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.n = self.n + other.n
        return out


def ridge(gram: Gram, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge readout on standardised features, folded back to raw features.

    ``lam`` is relative: the penalty is ``lam * n`` on features scaled to unit
    variance, so one grid of lambdas suits any data size. Constant features
    get weight 0. Returns ``(W (F, K), b (K,))`` with ``y = x @ W + b``.
    """
    n = gram.n
    if n < 2:
        raise ValueError(f"ridge needs at least 2 training frames, got {n}")
    mean = gram.xs / n
    ymean = gram.ys / n
    cov = gram.xtx - n * np.outer(mean, mean)
    var = np.diag(cov) / n
    live = var > 1e-12 * max(1.0, float(np.max(np.abs(mean))) ** 2)
    sd = np.where(live, np.sqrt(np.where(live, var, 1.0)), 1.0)
    zz = cov / np.outer(sd, sd)
    zy = (gram.xty - n * np.outer(mean, ymean)) / sd[:, None]
    zz = zz[np.ix_(live, live)] + lam * n * np.eye(int(live.sum()))
    w = np.zeros_like(zy)
    w[live] = np.linalg.solve(zz, zy[live])
    w /= sd[:, None]
    return w, ymean - mean @ w


@dataclass(frozen=True)
class IntReadout:
    """Integer readout ``y_int = x_int @ w + b``; ``y ~ y_int * scale``."""

    w: np.ndarray   # (F, K) int64, |w| <= 2^(bits-1) - 1
    b: np.ndarray   # (K,) int64
    scale: float    # float value of one output LSB

    def __call__(self, x_int: np.ndarray) -> np.ndarray:
        return np.asarray(x_int, dtype=np.int64) @ self.w + self.b


def quantise(w: np.ndarray, b: np.ndarray, weight_bits: int, bias_limit: int,
             gram: Gram | None = None, damp: float = 0.01) -> IntReadout:
    """Round a float readout to ``weight_bits``-bit weights sharing one scale.

    One scale for all outputs keeps their ranking (the class decision)
    unchanged up to rounding. Plain rounding of raw-feature weights is poor:
    features have large means, so each weight's rounding error times a large
    mean shifts the outputs. With the training ``gram`` two corrections are
    made:

    * weights are rounded one feature at a time and the rounding error of each
      is compensated on the features not yet rounded, through the inverse of
      the feature covariance (the "optimal brain quantisation" update, as in
      GPTQ, Frantar et al., ICLR 2023);
    * the bias is refitted after rounding, so that the mean output on the
      training frames is what the float readout gives.

    The bias is rounded on the same scale and saturated to ``bias_limit``.
    """
    w_max = (1 << (weight_bits - 1)) - 1
    peak = float(np.max(np.abs(w)))
    scale = peak / w_max if peak > 0 else 1.0
    if gram is None:
        w_int = np.clip(round_half_up(w / scale), -w_max, w_max)
        b_int = round_half_up(b / scale)
    else:
        n = gram.n
        mean = gram.xs / n
        cov = gram.xtx / n - np.outer(mean, mean)
        cov += damp * max(float(np.mean(np.diag(cov))), 1e-30) * np.eye(len(cov))
        # Upper Cholesky factor U of cov^-1 (cov^-1 = U^T U): row j holds how the
        # remaining weights absorb the error made on weight j.
        u = np.linalg.cholesky(np.linalg.inv(cov)).T
        work = np.array(w, dtype=np.float64) / scale
        w_int = np.zeros(work.shape, dtype=np.int64)
        for j in range(len(work)):
            w_int[j] = np.clip(round_half_up(work[j]), -w_max, w_max)
            err = (work[j] - w_int[j]) / u[j, j]
            work[j + 1:] -= np.outer(u[j, j + 1:], err)
        b_int = round_half_up(gram.ys / n / scale - mean @ w_int)
    return IntReadout(w=w_int, b=np.clip(b_int, -bias_limit, bias_limit), scale=scale)
