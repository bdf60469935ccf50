"""Spoken-digit recognition on FSDD: front-end -> reservoir -> readout, float and integer.

One call of :func:`train_split` trains and tests on one split (the standard
split or one leave-one-speaker-out fold). Everything fitted (the front-end
normaliser, the standardisation folded into the readouts, the choice of
lambda) sees the training recordings only; lambda is chosen on a validation
part inside them: 5-fold cross-validation over the training recordings,
folds by take number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import classify
from .config import ConfigError, ModelConfig
from .datasets import Recording
from .fixed import FixedReservoir, bias_limit, quantise_inputs
from .frontend import FrontEndConfig, Normaliser
from .readout import Gram, IntReadout, ridge
from .reservoir import FloatReservoir

N_CLASSES = 10
#: Folds of the cross-validation that chooses lambda.
N_FOLDS = 5


def frontend_config(cfg: ModelConfig) -> FrontEndConfig:
    try:
        fe = FrontEndConfig(**cfg.frontend)
    except TypeError as e:
        raise ValueError(f"config section 'frontend': {e}") from None
    if fe.input_taps != 1:
        raise ConfigError(f"config field frontend.input_taps = {fe.input_taps} applies to the time-series tasks, "
                          "not to spoken digits: leave it at 1")
    return fe


@dataclass
class SplitResult:
    """A trained model on one split and its test figures."""

    normaliser: Normaliser
    lam_float: float
    lam_fixed: float
    w_float: np.ndarray
    b_float: np.ndarray
    readout_int: IntReadout
    test_labels: np.ndarray
    dec_float: np.ndarray          # (S_test, 4) decisions at 25/50/75/100 %
    dec_fixed: np.ndarray
    val_scores_float: dict
    val_scores_fixed: dict

    def metrics(self) -> dict:
        acc_f = classify.accuracy(self.dec_float, self.test_labels)
        acc_x = classify.accuracy(self.dec_fixed, self.test_labels)
        early = [{"fraction": fr, "float": float(a), "fixed": float(b)}
                 for fr, a, b in zip(classify.EARLY_FRACTIONS, acc_f, acc_x)]
        return {
            "n_test": int(len(self.test_labels)),
            "float": {"accuracy": float(acc_f[-1]), "lambda": self.lam_float},
            "fixed": {"accuracy": float(acc_x[-1]), "lambda": self.lam_fixed},
            "early": early,
        }


@dataclass
class SplitData:
    """The inputs of one split: normalised front-end output of train + test, labels and CV folds."""

    normaliser: Normaliser
    u: list                        # normalised input sequences, training recordings first
    labels: np.ndarray
    n_train: int
    fold_of: list                  # fold name of each training recording
    folds: dict                    # fold name -> training indices

    @property
    def test_idx(self) -> np.ndarray:
        return np.arange(self.n_train, len(self.u))

    def part_of(self, i: int) -> str | None:
        return self.fold_of[i] if i < self.n_train else None


def prepare_split(train: Sequence[Recording], test: Sequence[Recording],
                  cochleagrams: dict[str, np.ndarray], fe: FrontEndConfig = FrontEndConfig()) -> SplitData:
    """Normalise (fitted on ``train`` only, as ``fe`` says: see :class:`Normaliser`), label and fold one split."""
    recs = list(train) + list(test)
    normaliser = Normaliser.fit([cochleagrams[str(r.path)] for r in train], mean_frames=fe.mean_frames,
                                remove_level=fe.remove_level, cepstra=fe.cepstra)
    u = [normaliser.transform(cochleagrams[str(r.path)]) for r in recs]
    # Lambda is chosen by cross-validation over the training recordings, in
    # N_FOLDS folds by take number (every fold holds every digit and speaker).
    fold_of = [f"fold{r.take % N_FOLDS}" for r in train]
    folds = {name: np.flatnonzero(np.array(fold_of) == name) for name in sorted(set(fold_of))}
    return SplitData(normaliser, u, np.array([r.digit for r in recs]), len(train), fold_of, folds)


def float_decisions(data: SplitData, runs, n_features: int, lambdas,
                    progress: Callable[[int], None] | None = None):
    """Float readout on the feature ``runs`` of ``data.u`` (any reservoir): ``(choice, w, b, test decisions)``.

    Frame scores summed per sequence, ridge readout, lambda by cross-validation over ``data.folds``.
    """
    streamed = classify.stream_features(runs, len(data.u), n_features, data.labels, N_CLASSES, data.part_of,
                                        progress=progress)
    choice = classify.cross_validate(streamed, data.folds, data.labels, lambdas, classify.float_readouts,
                                     classify.decide_float)
    w, b = ridge(sum(streamed.grams.values(), Gram(n_features, N_CLASSES)), choice.lam)
    return choice, w, b, classify.decisions_float(streamed.sums.take(data.test_idx), w, b)


def train_split(cfg: ModelConfig, train: Sequence[Recording], test: Sequence[Recording],
                cochleagrams: dict[str, np.ndarray], progress: Callable[[int], None] | None = None,
                with_fixed: bool = True) -> SplitResult:
    """Train float and integer readouts on ``train`` and decide every ``test`` recording.

    ``cochleagrams`` maps each recording's path (str) to its un-normalised
    front-end output. ``progress`` is called with the number of sequences
    each reservoir pass finishes.
    """
    data = prepare_split(train, test, cochleagrams, frontend_config(cfg))
    u, labels, test_idx = data.u, data.labels, data.test_idx
    lambdas = cfg.readout.lambdas
    n_inputs = u[0].shape[1]
    res = FloatReservoir(cfg.reservoir, n_inputs)
    choice_f, w, b, dec_f = float_decisions(data, res.run(u), res.n_features, lambdas, progress)

    if with_fixed:
        fres = FixedReservoir(cfg.reservoir, cfg.fixed, n_inputs)
        u_int = [quantise_inputs(x, cfg.fixed.input_bits) for x in u]
        streamed_i = classify.stream_features(fres.run(u_int), len(u), fres.n_features, labels,
                                              N_CLASSES, data.part_of, dtype=np.int64, progress=progress,
                                              saturation=classify.Saturation.of(fres.k))
        make = classify.int_readouts(cfg.fixed.weight_bits, bias_limit(fres.k))
        choice_x = classify.cross_validate(streamed_i, data.folds, labels, lambdas, make, classify.decisions_int)
        ro = make(sum(streamed_i.grams.values(), Gram(fres.n_features, N_CLASSES)))(choice_x.lam)
        dec_x = classify.decisions_int(streamed_i.sums.take(test_idx), ro)
    else:
        choice_x, ro, dec_x = classify.Choice(float("nan"), {}), None, np.full_like(dec_f, -1)

    return SplitResult(data.normaliser, choice_f.lam, choice_x.lam, w, b, ro, labels[test_idx],
                       dec_f, dec_x, choice_f.val_accuracy, choice_x.val_accuracy)
