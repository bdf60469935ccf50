"""Spoken-digit recognition on FSDD: front-end -> reservoir -> readout, float and integer.

One call of :func:`train_split` trains and tests on one split (the standard
split or one leave-one-speaker-out fold). Everything fitted (the front-end
normaliser, the standardisation folded into the readouts, the choice of
lambda) sees the training recordings only; lambda is chosen on a validation
part inside them (takes 5-9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import classify
from .config import ModelConfig
from .datasets import Recording, validation_split
from .fixed import FixedReservoir, bias_limit, quantise_inputs
from .frontend import FrontEndConfig, Normaliser
from .readout import IntReadout, quantise, ridge
from .reservoir import FloatReservoir

N_CLASSES = 10


def frontend_config(cfg: ModelConfig) -> FrontEndConfig:
    try:
        return FrontEndConfig(**cfg.frontend)
    except TypeError as e:
        raise ValueError(f"config section 'frontend': {e}") from None


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


def train_split(cfg: ModelConfig, train: Sequence[Recording], test: Sequence[Recording],
                cochleagrams: dict[str, np.ndarray], progress: Callable[[int], None] | None = None,
                with_fixed: bool = True) -> SplitResult:
    """Train float and integer readouts on ``train`` and decide every ``test`` recording.

    ``cochleagrams`` maps each recording's path (str) to its un-normalised
    front-end output. ``progress`` is called with the number of sequences
    each reservoir pass finishes.
    """
    fit, val = validation_split(train)
    recs = list(fit) + list(val) + list(test)
    n_fit, n_val = len(fit), len(val)
    labels = np.array([r.digit for r in recs])
    normaliser = Normaliser.fit([cochleagrams[str(r.path)] for r in train])
    u = [normaliser.transform(cochleagrams[str(r.path)]) for r in recs]
    val_idx = np.arange(n_fit, n_fit + n_val)
    test_idx = np.arange(n_fit + n_val, len(recs))

    def part_of(i: int) -> str | None:
        return "fit" if i < n_fit else "val" if i < n_fit + n_val else None

    lambdas = cfg.readout.lambdas
    n_inputs = u[0].shape[1]
    res = FloatReservoir(cfg.reservoir, n_inputs)
    streamed = classify.stream_features(res.run(u), len(recs), res.n_features, labels, N_CLASSES,
                                        part_of, progress=progress)
    choice_f = classify.choose_float(streamed, val_idx, labels, lambdas)
    w, b = ridge(streamed.grams["fit"] + streamed.grams["val"], choice_f.lam)
    dec_f = classify.decisions_float(classify._subset(streamed.sums, test_idx), w, b)

    if with_fixed:
        fres = FixedReservoir(cfg.reservoir, cfg.fixed, n_inputs)
        u_int = [quantise_inputs(x, cfg.fixed.input_bits) for x in u]
        streamed_i = classify.stream_features(fres.run(u_int), len(recs), fres.n_features, labels,
                                              N_CLASSES, part_of, dtype=np.int64, progress=progress)
        limit = bias_limit(fres.k)
        choice_x = classify.choose_int(streamed_i, val_idx, labels, lambdas, cfg.fixed.weight_bits, limit)
        gram = streamed_i.grams["fit"] + streamed_i.grams["val"]
        wi, bi = ridge(gram, choice_x.lam)
        ro = quantise(wi, bi, cfg.fixed.weight_bits, limit, gram=gram)
        dec_x = classify.decisions_int(classify._subset(streamed_i.sums, test_idx), ro)
    else:
        choice_x, ro, dec_x = classify.Choice(float("nan"), {}), None, np.full_like(dec_f, -1)

    return SplitResult(normaliser, choice_f.lam, choice_x.lam, w, b, ro, labels[test_idx],
                       dec_f, dec_x, choice_f.val_accuracy, choice_x.val_accuracy)
