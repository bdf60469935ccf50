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
import scipy.linalg
import scipy.linalg.lapack

from . import kernels
from .fixed import round_half_up


class Gram:
    """Running sums for least squares on frames: X^T X, X^T Y, sum x, sum y, count."""

    #: Frames per block when integer features are converted to float.
    BLOCK = 2048

    def __init__(self, n_features: int, n_outputs: int):
        self.xtx = np.zeros((n_features, n_features))
        self.xty = np.zeros((n_features, n_outputs))
        self.xs = np.zeros(n_features)
        self.ys = np.zeros(n_outputs)
        self.n = 0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add frames ``x`` (T, F) with targets ``y`` (T, K).

        Integer features are converted to float in blocks of :data:`BLOCK`
        frames, so no float copy of a large integer ``x`` is held (the sums
        of integer features are exact in float64 while below 2^53).
        """
        y = np.asarray(y, dtype=np.float64)
        x = np.asarray(x)
        step = len(x) if x.dtype == np.float64 else self.BLOCK
        for start in range(0, len(x), max(1, step)):
            xb = x[start:start + step].astype(np.float64, copy=False)
            self.xtx += xb.T @ xb
            self.xty += xb.T @ y[start:start + step]
            self.xs += xb.sum(axis=0)
        self.ys += y.sum(axis=0)
        self.n += len(x)

    def __add__(self, other: "Gram") -> "Gram":
        out = Gram(*self.xty.shape)
        for name in ("xtx", "xty", "xs", "ys"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.n = self.n + other.n
        return out


class RidgeSolver:
    """Ridge readouts of one training set for any lambda.

    Features are standardised (training mean and standard deviation);
    ``lam`` is relative: the penalty is ``lam * n`` on unit-variance features,
    so one grid of lambdas suits any data size. Constant features get weight
    0. :meth:`solve` returns ``(W (F, K), b (K,))`` with ``y = x @ W + b`` on
    raw features (the standardisation folded in). Each lambda is one Cholesky
    factorisation of the regularised system (many times cheaper than the
    eigendecomposition a whole grid could share, for grids of up to ~15
    lambdas); a system that is not numerically positive definite falls back
    to the eigendecomposition, with negative eigenvalues taken as 0.
    """

    def __init__(self, gram: Gram):
        n = gram.n
        if n < 2:
            raise ValueError(f"ridge needs at least 2 training frames, got {n}")
        self.n = n
        self.mean = gram.xs / n
        self.ymean = gram.ys / n
        cov = gram.xtx - n * np.outer(self.mean, self.mean)
        var = np.diag(cov) / n
        self.live = var > 1e-12 * max(1.0, float(np.max(np.abs(self.mean))) ** 2)
        self.sd = np.where(self.live, np.sqrt(np.where(self.live, var, 1.0)), 1.0)
        live = self.live
        self.zz = (cov / np.outer(self.sd, self.sd))[np.ix_(live, live)]
        self.zy = ((gram.xty - n * np.outer(self.mean, self.ymean)) / self.sd[:, None])[live]
        self._eig = None

    def _solve_standardised(self, lam: float) -> np.ndarray:
        a = self.zz.copy()
        a.flat[::len(a) + 1] += lam * self.n
        try:
            return scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, overwrite_a=True, check_finite=False),
                                          self.zy, check_finite=False)
        except np.linalg.LinAlgError:
            if self._eig is None:
                evals, evecs = np.linalg.eigh(self.zz)
                self._eig = evals, evecs, evecs.T @ self.zy
            evals, evecs, proj = self._eig
            return evecs @ (proj / (np.maximum(evals, 0.0) + lam * self.n)[:, None])

    def solve(self, lam: float) -> tuple[np.ndarray, np.ndarray]:
        w = np.zeros((len(self.live), self.zy.shape[1]))
        w[self.live] = self._solve_standardised(lam)
        w /= self.sd[:, None]
        return w, self.ymean - self.mean @ w


def ridge(gram: Gram, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """The ridge readout of ``gram`` for one ``lam`` (see :class:`RidgeSolver`)."""
    return RidgeSolver(gram).solve(lam)


@dataclass(frozen=True)
class IntReadout:
    """Integer readout ``y_int = x_int @ w + b``; ``y ~ y_int * scale``."""

    w: np.ndarray   # (F, K) int64, |w| <= 2^(bits-1) - 1
    b: np.ndarray   # (K,) int64
    scale: float    # float value of one output LSB

    def __call__(self, x_int: np.ndarray) -> np.ndarray:
        return np.asarray(x_int, dtype=np.int64) @ self.w + self.b


def upper_inverse_factor(cov: np.ndarray) -> np.ndarray:
    """The upper triangular U with positive diagonal and U^T U = cov^-1, for a positive definite ``cov``.

    With J the order reversal and J cov J = L L^T (Cholesky), U = J L^-1 J:
    one Cholesky factorisation and one triangular inverse, without forming cov^-1.
    """
    low = scipy.linalg.cholesky(cov[::-1, ::-1], lower=True, check_finite=False)
    inv, info = scipy.linalg.lapack.dtrtri(low, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"triangular inverse failed (info {info})")
    return np.ascontiguousarray(inv[::-1, ::-1])


class Quantiser:
    """Rounds float readouts of one training set to integers (see :func:`quantise`).

    Holds what depends only on the training features (their mean and the
    Cholesky factor of the inverse covariance), so that many readouts of the
    same data (one per lambda) are quantised at the cost of the rounding loop only.
    """

    def __init__(self, gram: Gram, damp: float = 0.01):
        n = gram.n
        self.mean = gram.xs / n
        self.ymean = gram.ys / n
        cov = gram.xtx / n - np.outer(self.mean, self.mean)
        cov += damp * max(float(np.mean(np.diag(cov))), 1e-30) * np.eye(len(cov))
        # Upper Cholesky factor U of cov^-1 (cov^-1 = U^T U): row j holds how the
        # remaining weights absorb the error made on weight j.
        self.u = upper_inverse_factor(cov)

    def __call__(self, w: np.ndarray, b: np.ndarray, weight_bits: int, bias_limit: int) -> IntReadout:
        w_max = (1 << (weight_bits - 1)) - 1
        scale = _scale(w, w_max)
        w_int = kernels.quantise_rows(np.array(w, dtype=np.float64) / scale, self.u, w_max)
        b_int = round_half_up(self.ymean / scale - self.mean @ w_int)
        return IntReadout(w=w_int, b=np.clip(b_int, -bias_limit, bias_limit), scale=scale)


def _scale(w: np.ndarray, w_max: int) -> float:
    peak = float(np.max(np.abs(w)))
    return peak / w_max if peak > 0 else 1.0


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
    if gram is not None:
        return Quantiser(gram, damp)(w, b, weight_bits, bias_limit)
    w_max = (1 << (weight_bits - 1)) - 1
    scale = _scale(w, w_max)
    w_int = np.clip(round_half_up(w / scale), -w_max, w_max)
    b_int = np.clip(round_half_up(b / scale), -bias_limit, bias_limit)
    return IntReadout(w=w_int, b=b_int, scale=scale)
