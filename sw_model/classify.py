"""Sequence classification (spoken digits) with a float and an integer readout.

Per frame the readout gives one score per class; a sequence is classified by
the argmax of its scores summed over frames (the same as averaged). Early
recognition uses the sum over the first 25/50/75/100 % of the frames. The
integer path uses exactly the integer sums the hardware accumulates.

Training streams features through :class:`~sw_model.readout.Gram`
accumulators; per sequence only a few prefix sums are kept, which is all the
sequence-level decisions need (the readout is linear). The integer decisions
follow the hardware's rule, :func:`running_decisions` (sums saturated after
every frame): within ``fixed.max_frames`` frames the sums never reach the
limit, so the prefix sums give the same decisions; the frames of longer
sequences are kept (:class:`Saturation`) and decided frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator, Sequence

import numpy as np

from . import kernels
from .fixed import FixedConstants, derive_widths
from .readout import Gram, IntReadout, Quantiser, RidgeSolver

#: Fractions of each sequence at which early decisions are reported.
EARLY_FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def prefix_ends(length: int, fractions: Sequence[float] = EARLY_FRACTIONS) -> np.ndarray:
    """Number of frames seen at each fraction of a sequence (at least one)."""
    return np.maximum(1, np.ceil(np.asarray(fractions) * length - 1e-9).astype(np.int64))


@lru_cache(maxsize=4096)
def _early_ends(length: int) -> np.ndarray:
    """:func:`prefix_ends` at :data:`EARLY_FRACTIONS`, read-only (one per length: called per sequence)."""
    ends = prefix_ends(length)
    ends.flags.writeable = False
    return ends


@dataclass(frozen=True)
class Saturation:
    """The per-sequence sums of the integer readout: ``Y_lim`` and the length ``T_max`` within which
    they never reach it (docs/fixed_point.md, "Readout")."""

    limit: int
    max_frames: int

    @classmethod
    def of(cls, k: FixedConstants) -> "Saturation":
        return cls((1 << (derive_widths(k).seq_acc - 1)) - 1, k.fx.max_frames)


@dataclass
class SequenceSums:
    """Prefix sums of features per sequence: sums[i, j] = sum of the first ends[i, j] frames.

    With ``saturation``, the features of every sequence longer than ``saturation.max_frames`` are kept
    in ``frames`` (their integer decisions need the per-frame outputs, see :func:`decisions_int`).
    """

    sums: np.ndarray          # (S, len(EARLY_FRACTIONS), F)
    ends: np.ndarray          # (S, len(EARLY_FRACTIONS)) int
    saturation: Saturation | None = None
    frames: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, n_seq: int, n_features: int, dtype, saturation: Saturation | None = None) -> "SequenceSums":
        k = len(EARLY_FRACTIONS)
        return cls(np.zeros((n_seq, k, n_features), dtype=dtype), np.zeros((n_seq, k), dtype=np.int64),
                   saturation)

    def take(self, idx: np.ndarray) -> "SequenceSums":
        """The sums of the sequences ``idx``."""
        rows = np.asarray(idx)
        rows = np.flatnonzero(rows) if rows.dtype == bool else np.arange(len(self.ends))[rows].ravel()
        frames = {j: self.frames[int(i)] for j, i in enumerate(rows) if int(i) in self.frames}
        return SequenceSums(self.sums[idx], self.ends[idx], self.saturation, frames)

    def set(self, i: int, feats: np.ndarray) -> None:
        ends = _early_ends(len(feats))
        kernels.prefix_sums(feats, ends, self.sums[i])
        self.ends[i] = ends
        if self.saturation is not None and len(feats) > self.saturation.max_frames:
            self.frames[i] = np.asarray(feats)
        else:
            self.frames.pop(i, None)


@dataclass
class StreamedFeatures:
    """What training keeps of a pass of the reservoir over all sequences."""

    sums: SequenceSums
    grams: dict[str, Gram] = field(default_factory=dict)


def stream_features(runs: Iterator[tuple[int, np.ndarray]], n_seq: int, n_features: int,
                    labels: np.ndarray, n_classes: int, part_of: Callable[[int], str | None],
                    dtype=np.float64, progress: Callable[[int], None] | None = None,
                    saturation: Saturation | None = None) -> StreamedFeatures:
    """Consume ``(index, features)`` pairs into prefix sums and per-part Gram sums.

    ``part_of(i)`` names the training part of sequence ``i`` ("fit", "val") or
    returns None for sequences that must not touch training statistics.
    ``saturation``: integer features, decided by the hardware's rule (:class:`SequenceSums`).
    """
    out = StreamedFeatures(SequenceSums.empty(n_seq, n_features, dtype, saturation))
    eye = np.eye(n_classes)
    # Frames are buffered per part and added to the Gram sums in large blocks:
    # one big matrix product is many times faster than one per sequence.
    buffers: dict[str, tuple[list, list]] = {}

    def flush(part: str) -> None:
        xs, ys = buffers.pop(part)
        gram = out.grams.setdefault(part, Gram(n_features, n_classes))
        gram.add(np.concatenate(xs), np.concatenate(ys))

    for i, feats in runs:
        out.sums.set(i, feats)
        part = part_of(i)
        if part is not None:
            xs, ys = buffers.setdefault(part, ([], []))
            xs.append(feats)
            ys.append(np.broadcast_to(eye[labels[i]], (len(feats), n_classes)))
            if sum(len(x) for x in xs) >= 8192:
                flush(part)
        if progress:
            progress(1)
    for part in list(buffers):
        flush(part)
    return out


def decisions_float(sums: SequenceSums, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Class decisions (S, len(EARLY_FRACTIONS)) of a float readout."""
    scores = sums.sums @ w + sums.ends[..., None] * b
    return np.argmax(scores, axis=-1)


def decisions_int(sums: SequenceSums, ro: IntReadout) -> np.ndarray:
    """Class decisions (S, len(EARLY_FRACTIONS)) of an integer readout by the hardware's rule.

    The rule is :func:`running_decisions` (sums saturated after every frame, ties -> lowest class).
    For sequences of at most ``fixed.max_frames`` frames the sums never reach ``Y_lim``
    (``derive_widths``), so the exact prefix sums give its decisions; the sequences whose frames
    ``sums`` kept (longer ones, with ``saturation``) are run through :func:`running_decisions`.
    """
    scores = sums.sums.astype(np.int64) @ ro.w + sums.ends[..., None] * ro.b
    dec = np.argmax(scores, axis=-1)
    for i, feats in sums.frames.items():
        _, per_frame = running_decisions(np.asarray(feats, dtype=np.int64) @ ro.w + ro.b, sums.saturation.limit)
        dec[i] = per_frame[sums.ends[i] - 1]
    return dec


def running_decisions(y: np.ndarray, limit: int, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The classifier rule of the hardware: saturating running sequence sums, then argmax.

    ``Y_t[k] = clamp(Y_{t-1}[k] + y_t[k], -limit, limit)`` with ``Y_{-1} = start`` (zeros: a new
    sequence), saturating after every addition as the RTL does; the decision after frame ``t`` is the
    smallest ``k`` with the largest ``Y_t[k]``.

    Parameters
    ----------
    y : int array (..., T, K)
        Per-frame readout outputs of one sequence (or a batch of sequences of equal length).
    limit : int
        ``Y_lim`` (``CoreParams.seq_limit``).
    start : int array (..., K), optional
        The sums before the first frame (to continue a sequence).

    Returns
    -------
    sums : int64 array (..., T, K)
    decisions : int64 array (..., T)
    """
    # int64 unless a sum of two values within +-limit could overflow it (64-bit sums): Python ints then
    dtype = np.int64 if limit < 1 << 62 else object
    y = np.asarray(y).astype(dtype)
    acc = np.zeros(y.shape[:-2] + y.shape[-1:], dtype=dtype) if start is None else np.array(start).astype(dtype)
    sums = np.empty_like(y)
    for t in range(y.shape[-2]):
        acc = np.minimum(np.maximum(acc + y[..., t, :], -limit), limit)
        sums[..., t, :] = acc
    decisions = np.argmax(sums, axis=-1) if dtype is np.int64 else \
        np.array([max(range(len(row)), key=lambda k, r=row: (r[k], -k)) for row in sums.reshape(-1, sums.shape[-1])],
                 dtype=np.int64).reshape(sums.shape[:-1])
    return sums, np.asarray(decisions, dtype=np.int64)


def accuracy(decisions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Accuracy per early-recognition fraction."""
    return (decisions == np.asarray(labels)[:, None]).mean(axis=0)


@dataclass(frozen=True)
class Choice:
    """A lambda chosen by cross-validation, with the score of every candidate."""

    lam: float
    val_accuracy: dict[float, float]


def float_readouts(gram: Gram) -> Callable[[float], tuple[np.ndarray, np.ndarray]]:
    """lambda -> float readout of ``gram``."""
    return RidgeSolver(gram).solve


def int_readouts(weight_bits: int, bias_limit: int) -> Callable[[Gram], Callable[[float], IntReadout]]:
    """gram -> (lambda -> integer readout): quantised with error compensation, so that
    lambda is chosen with quantisation in the loop."""
    def per_gram(gram: Gram) -> Callable[[float], IntReadout]:
        solver, quantiser = RidgeSolver(gram), Quantiser(gram)
        return lambda lam: quantiser(*solver.solve(lam), weight_bits, bias_limit)
    return per_gram


def cross_validate(streamed: StreamedFeatures, folds: dict[str, np.ndarray], labels: np.ndarray,
                   lambdas: Sequence[float], readouts: Callable, decide: Callable) -> Choice:
    """Lambda with the best cross-validated sequence accuracy (ties: larger lambda).

    ``folds`` maps each training part (a key of ``streamed.grams``) to its
    sequence indices. For every fold, readouts made from the other folds'
    sums (``readouts(gram)(lam)``) decide that fold's sequences
    (``decide(sums, readout)``).
    """
    total = sum(len(idx) for idx in folds.values())
    correct = dict.fromkeys(lambdas, 0)
    for name, idx in folds.items():
        others = sum((g for k, g in streamed.grams.items() if k != name), Gram(*streamed.grams[name].xty.shape))
        make = readouts(others)
        for lam in lambdas:
            dec = decide(streamed.sums.take(idx), make(lam))
            correct[lam] += int((dec[:, -1] == labels[idx]).sum())
    scores = {lam: c / total for lam, c in correct.items()}
    return Choice(_best(scores), scores)


def decide_float(sums: SequenceSums, readout) -> np.ndarray:
    return decisions_float(sums, *readout)


def _best(scores: dict[float, float]) -> float:
    return max(scores, key=lambda lam: (scores[lam], lam))


def confusion(labels: np.ndarray, decisions: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix: rows true class, columns decided class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (labels, decisions), 1)
    return m
