"""Where the integer model loses accuracy on the FSDD standard split: one step at a time.

For one configuration, on the standard split (everything fitted on the training recordings,
lambda by the same 5-fold cross-validation as ``memres train``), it prints the test accuracy of

* ``float``: the float reservoir on the float inputs, float readout (``memres train``'s float figure);
* ``float, inputs quantised``: the float reservoir on the inputs rounded to ``input_bits`` codes;
* ``integer reservoir, float readout``: the integer reservoir's features, a float ridge readout;
* ``integer, weight_bits B``: the same features, the integer readout with B-bit weights
  (B = the configuration's ``fixed.weight_bits`` is ``memres train``'s integer figure).

    python benchmarks/integer_loss.py --config examples/fsdd_cepstra.toml --weight-bits 8 10 12
    python benchmarks/integer_loss.py --config examples/fsdd_cepstra.toml --set fixed.input_bits=10

``--set SECTION.FIELD=VALUE`` overrides one field (repeatable). One JSON line per figure.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from memres.sw_model import classify, speech
from memres.sw_model.config import config_from_dict, read_toml_or_json
from memres.sw_model.datasets import list_recordings, standard_split
from memres.sw_model.fixed import FixedReservoir, bias_limit, quantise_inputs
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    ap.add_argument("--weight-bits", type=int, nargs="+", default=[])
    ap.add_argument("--skip-float", action="store_true", help="only the integer figures")
    ap.add_argument("--data", default=str(DEFAULT_FSDD))
    args = ap.parse_args()
    cfg = config_from_dict(overridden(args.config, args.set))
    recs = list_recordings(args.data)
    coch = cochleagrams(cfg, recs, False)
    train, test = standard_split(recs)
    data = speech.prepare_split(train, test, coch, speech.frontend_config(cfg))
    u, labels, lambdas = data.u, data.labels, cfg.readout.lambdas
    test_labels = labels[data.test_idx]
    c = u[0].shape[1]
    u_int = [quantise_inputs(x, cfg.fixed.input_bits) for x in u]

    def show(what: str, dec: np.ndarray, lam: float, t0: float) -> None:
        acc = classify.accuracy(dec, test_labels)
        print(json.dumps({"what": what, "accuracy": round(100 * float(acc[-1]), 2),
                          "early": [round(100 * float(a), 1) for a in acc], "lambda": lam,
                          "seconds": round(time.perf_counter() - t0)}), flush=True)

    if not args.skip_float:
        res = FloatReservoir(cfg.reservoir, c)
        t0 = time.perf_counter()
        choice, _, _, dec = speech.float_decisions(data, res.run(u), res.n_features, lambdas)
        show("float", dec, choice.lam, t0)
        t0 = time.perf_counter()
        u_q = [x / ((1 << cfg.fixed.input_bits) - 1) for x in u_int]
        choice, _, _, dec = speech.float_decisions(data, res.run(u_q), res.n_features, lambdas)
        show(f"float, inputs quantised to {cfg.fixed.input_bits} bits", dec, choice.lam, t0)

    t0 = time.perf_counter()
    fres = FixedReservoir(cfg.reservoir, cfg.fixed, c)
    streamed = classify.stream_features(fres.run(u_int), len(u), fres.n_features, labels, speech.N_CLASSES,
                                        data.part_of, dtype=np.int64, saturation=classify.Saturation.of(fres.k))
    choice = classify.cross_validate(streamed, data.folds, labels, lambdas, classify.float_readouts,
                                     classify.decide_float)
    whole = sum(streamed.grams.values(), Gram(fres.n_features, speech.N_CLASSES))
    w, b = classify.float_readouts(whole)(choice.lam)
    test_sums = streamed.sums.take(data.test_idx)
    show("integer reservoir, float readout", classify.decisions_float(test_sums, w, b), choice.lam, t0)
    for bits in args.weight_bits or [cfg.fixed.weight_bits]:
        t0 = time.perf_counter()
        k = FixedReservoir(cfg.reservoir, config_from_dict(
            overridden(args.config, args.set + [f"fixed.weight_bits={bits}"])).fixed, c).k
        make = classify.int_readouts(bits, bias_limit(k))
        choice = classify.cross_validate(streamed, data.folds, labels, lambdas, make, classify.decisions_int)
        ro = make(whole)(choice.lam)
        show(f"integer, weight_bits {bits}", classify.decisions_int(test_sums, ro), choice.lam, t0)


if __name__ == "__main__":
    main()
