"""Where the integer model loses accuracy on FSDD: one step at a time.

For one configuration, on the standard split or (``--split loso``) on each leave-one-speaker-out
fold and their mean (everything fitted on the training recordings, lambda by the same 5-fold
cross-validation as ``memres train``), it prints the test accuracy of

* ``float``: the float reservoir on the float inputs, float readout (``memres train``'s float figure);
* ``float, inputs quantised``: the float reservoir on the inputs rounded to ``input_bits`` codes;
* ``integer reservoir, float readout``: the integer reservoir's features, a float ridge readout;
* ``integer, weight_bits B``: the same features, the integer readout with B-bit weights
  (B = the configuration's ``fixed.weight_bits`` is ``memres train``'s integer figure).

    python benchmarks/integer_loss.py --config examples/fsdd_cepstra.toml --weight-bits 8 10 12
    python benchmarks/integer_loss.py --config examples/fsdd_cepstra.toml --set fixed.input_bits=10
    python benchmarks/integer_loss.py --config examples/fsdd_cepstra_n400.toml --split loso --skip-float \
        --weight-bits 12 16

``--feature-error`` prints instead how far the integer reservoir's features are from the float
reservoir's on every tenth training recording of the standard split (no accuracy, no test
recording): per feature, the RMS of the difference (integer features scaled to the float units,
each feature's mean difference removed: a readout's bias absorbs it) over the RMS of the float
feature's variation, for the currents and the frame-end states. It is how the integer widths are
compared without looking at any held-out speaker:

    python benchmarks/integer_loss.py --config examples/fsdd_cepstra_n400.toml --feature-error
    python benchmarks/integer_loss.py --config examples/fsdd_cepstra_n400.toml --feature-error \
        --set fixed.input_bits=8 --set fixed.pulse_bits=10         # the default widths

``--set SECTION.FIELD=VALUE`` overrides one field (repeatable). One JSON line per figure and split
(``"split"``: ``standard`` or the held-out speaker); with ``--split loso`` a last line per figure
gives the mean over the six speakers (``"split": "mean"``), as ``memres train --split loso`` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from memres.sw_model import classify, speech
from memres.sw_model.config import config_from_dict, read_toml_or_json
from memres.sw_model.datasets import list_recordings, loso_folds, standard_split
from memres.sw_model.fixed import FixedReservoir, bias_limit, build_constants, quantise_inputs
from memres.sw_model.readout import Gram
from memres.sw_model.reservoir import FloatReservoir
from memres.sw_model.workflow import DEFAULT_FSDD, TASK_DEFAULTS, cochleagrams


def overridden(path: str | None, sets: list[str]) -> dict:
    data = read_toml_or_json(path) if path else dict(TASK_DEFAULTS["fsdd"])
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in sets:
        key, value = item.split("=", 1)
        section, field = key.split(".", 1)
        data.setdefault(section, {})[field] = json.loads(value)
    return data


def losses(cfg, train, test, coch, weight_bits: list[int] | None, skip_float: bool):
    """Yield ``(what, decisions at 25/50/75/100 %, lambda, seconds)`` for one split, step by step."""
    data = speech.prepare_split(train, test, coch, speech.frontend_config(cfg))
    u, labels, lambdas = data.u, data.labels, cfg.readout.lambdas
    c = u[0].shape[1]
    u_int = [quantise_inputs(x, cfg.fixed.input_bits) for x in u]

    if not skip_float:
        res = FloatReservoir(cfg.reservoir, c)
        t0 = time.perf_counter()
        choice, _, _, dec = speech.float_decisions(data, res.run(u), res.n_features, lambdas)
        yield "float", dec, choice.lam, t0
        t0 = time.perf_counter()
        u_q = [x / ((1 << cfg.fixed.input_bits) - 1) for x in u_int]
        choice, _, _, dec = speech.float_decisions(data, res.run(u_q), res.n_features, lambdas)
        yield f"float, inputs quantised to {cfg.fixed.input_bits} bits", dec, choice.lam, t0

    t0 = time.perf_counter()
    fres = FixedReservoir(cfg.reservoir, cfg.fixed, c)
    streamed = classify.stream_features(fres.run(u_int), len(u), fres.n_features, labels, speech.N_CLASSES,
                                        data.part_of, dtype=np.int64, saturation=classify.Saturation.of(fres.k))
    choice = classify.cross_validate(streamed, data.folds, labels, lambdas, classify.float_readouts,
                                     classify.decide_float)
    whole = sum(streamed.grams.values(), Gram(fres.n_features, speech.N_CLASSES))
    w, b = classify.float_readouts(whole)(choice.lam)
    test_sums = streamed.sums.take(data.test_idx)
    yield "integer reservoir, float readout", classify.decisions_float(test_sums, w, b), choice.lam, t0
    for bits in [cfg.fixed.weight_bits] if weight_bits is None else weight_bits:
        t0 = time.perf_counter()
        k = build_constants(cfg.reservoir, dataclasses.replace(cfg.fixed, weight_bits=bits), c)
        make = classify.int_readouts(bits, bias_limit(k))
        choice = classify.cross_validate(streamed, data.folds, labels, lambdas, make, classify.decisions_int)
        ro = make(whole)(choice.lam)
        yield f"integer, weight_bits {bits}", classify.decisions_int(test_sums, ro), choice.lam, t0


def feature_error(cfg, train, coch, every: int = 10) -> dict:
    """Relative RMS error of the integer features against the float ones, currents and states."""
    data = speech.prepare_split(train[::every], [], coch, speech.frontend_config(cfg))
    c = data.u[0].shape[1]
    fres = FixedReservoir(cfg.reservoir, cfg.fixed, c)
    floats = dict(FloatReservoir(cfg.reservoir, c).run(data.u))
    ints = dict(fres.run([quantise_inputs(x, cfg.fixed.input_bits) for x in data.u]))
    x_f = np.concatenate([floats[i] for i in range(len(data.u))])
    x_i = np.concatenate([ints[i] for i in range(len(data.u))]).astype(np.float64)
    k, n_currents = fres.k, cfg.reservoir.n_devices * cfg.reservoir.n_virtual
    x_i[:, :n_currents] *= k.f_scale / (1 << cfg.fixed.current_bits)      # I = G f(V) f_scale-normalised
    x_i[:, n_currents:] /= 1 << cfg.fixed.current_bits                    # top current_bits bits of G

    def rel(cols: slice) -> float:
        err = x_i[:, cols] - x_f[:, cols]
        err -= err.mean(axis=0)
        var = x_f[:, cols] - x_f[:, cols].mean(axis=0)
        return float(np.sqrt((err ** 2).sum() / (var ** 2).sum()))

    out = {"currents": rel(slice(0, n_currents))}
    if n_currents < x_f.shape[1]:
        out["states"] = rel(slice(n_currents, None))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    ap.add_argument("--weight-bits", type=int, nargs="*", default=None,
                    help="integer readouts with these weight widths (default: the configuration's; "
                         "none after the flag: the float readout only)")
    ap.add_argument("--skip-float", action="store_true", help="only the integer reservoir's figures")
    ap.add_argument("--split", choices=("standard", "loso"), default="standard")
    ap.add_argument("--feature-error", action="store_true",
                    help="only the integer features' error against the float ones (training recordings)")
    ap.add_argument("--data", default=str(DEFAULT_FSDD))
    args = ap.parse_args()
    cfg = config_from_dict(overridden(args.config, args.set))
    recs = list_recordings(args.data)
    coch = cochleagrams(cfg, recs, False)
    if args.feature_error:
        train, _ = standard_split(recs)
        print(json.dumps({"what": "feature error", "fixed": cfg.fixed.__dict__,
                          **{k: round(v, 5) for k, v in feature_error(cfg, train, coch).items()}}), flush=True)
        return
    splits = [("standard", *standard_split(recs))] if args.split == "standard" else list(loso_folds(recs))
    per: dict[str, list] = {}
    for name, train, test in splits:
        test_labels = np.array([r.digit for r in test])
        for what, dec, lam, t0 in losses(cfg, train, test, coch, args.weight_bits, args.skip_float):
            acc = [round(100 * float(a), 2) for a in classify.accuracy(dec, test_labels)]
            per.setdefault(what, []).append(acc)
            print(json.dumps({"split": name, "what": what, "accuracy": acc[-1], "early": acc, "lambda": lam,
                              "seconds": round(time.perf_counter() - t0)}), flush=True)
    if len(splits) > 1:
        for what, accs in per.items():
            mean = np.mean(accs, axis=0).round(2).tolist()
            print(json.dumps({"split": "mean", "what": what, "accuracy": mean[-1], "early": mean}), flush=True)


if __name__ == "__main__":
    main()
