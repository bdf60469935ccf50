"""Speakers never heard: front-end and training variants, chosen on inner folds only.

For each variant, the float reservoir runs once over all 3,000 FSDD recordings
(the variants' normalisation needs no fitting per fold beyond one percentile
map, fitted here on all recordings: unsupervised, and the same for every
variant), and the per-speaker training sums are kept. Then, for every held-out
speaker, lambda is chosen by leave-one-speaker-out cross-validation over the
five *training* speakers ("inner"), the readout is fitted on those five, and
the held-out speaker is decided ("outer"). A variant is judged by its inner
accuracy; the outer figure is reported beside it, never used to choose.

    python benchmarks/loso_study.py                     # all variants (~1-4 min each on 2 cores)
    python benchmarks/loso_study.py --variants default mean3

Prints one JSON line per variant: inner and outer accuracy (%, mean of 6),
early outer accuracy at 25/50/75/100 %, per speaker, lambdas, seconds.
`memres train --task fsdd --split loso` gives the figures of the chosen
default with everything (normaliser included) fitted per fold.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from memres.pygen.bench.esn import esn_states, make_esn
from memres.pygen.bench.settings import ESN_FSDD
from memres.sw_model import classify, speech
from memres.sw_model.config import config_from_dict
from memres.sw_model.datasets import list_recordings
from memres.sw_model.frontend import Normaliser, causal_centre, cepstral_matrix, level_free
from memres.sw_model.readout import Gram
from memres.sw_model.reservoir import FloatReservoir
from memres.sw_model.workflow import DEFAULT_FSDD, TASK_DEFAULTS, cochleagrams

BASE = {k: v for k, v in TASK_DEFAULTS["fsdd"].items() if k != "frontend"}   # the raw front-end


def stretch(x: np.ndarray, f: float) -> np.ndarray:
    """Time-stretch a (T, C) sequence by ``f`` (linear interpolation of frames)."""
    t = np.linspace(0, len(x) - 1, max(2, round(len(x) * f)))
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, len(x) - 1)
    w = (t - i0)[:, None]
    return x[i0] * (1 - w) + x[i1] * w


def shift_channels(x: np.ndarray, s: int) -> np.ndarray:
    """Shift the spectrum by ``s`` channels (about 7 % in frequency each), edges repeated."""
    y = np.roll(x, s, axis=1)
    if s > 0:
        y[:, :s] = x[:, :1]
    elif s < 0:
        y[:, s:] = x[:, -1:]
    return y


def mean_norm(k: int, level: bool = False):
    """Causal mean normalisation as the Normaliser does it (its training mean as the prior); the
    percentile map is applied afterwards by :func:`run`, for every variant alike. With ``k = 0`` (no
    prior: the mean of the frames heard so far) the Normaliser keeps no mean, and none is needed."""
    def make(all_x):
        mu = Normaliser.fit(all_x, mean_frames=k, remove_level=level).mean if k else 0.0
        return lambda x: causal_centre(level_free(x) if level else x, mu, k)
    return make


def mean_var_norm(k: int):
    """Causal mean and variance normalisation, the training mean and variance as a prior of k frames."""
    def make(all_x):
        data = np.concatenate(all_x)
        mu, var = data.mean(axis=0), data.var(axis=0)

        def f(x):
            n = (k + np.arange(1, len(x) + 1))[:, None]
            m = (np.cumsum(x, axis=0) + k * mu) / n
            q = (np.cumsum(x ** 2, axis=0) + k * (var + mu ** 2)) / n
            return (x - m) / np.sqrt(np.maximum(q - m ** 2, 1e-6))
        return f
    return make


def with_deltas(make_pre):
    """The normalised channels plus each channel's change since the last frame (C doubles)."""
    def make(all_x):
        f = make_pre(all_x)
        return lambda x: np.concatenate([f(x), np.diff(x, axis=0, prepend=x[:1])], axis=1)
    return make


def cepstra(n: int, k: int, first: int = 0):
    """Causal mean normalisation (k) of the first ``n`` cepstral coefficients (from ``first``): the
    spectrum smoothed over the channels (MFCC style, on the gammatone channels), C = n."""
    def make(all_x):
        d = cepstral_matrix(all_x[0].shape[1], first + n)[:, first:]
        mu = Normaliser.fit([x @ d for x in all_x], mean_frames=k).mean
        return lambda x: causal_centre(x @ d, mu, k)
    return make


def relative_floor(depth_db: float):
    """Each frame floored at the loudest frame level heard so far minus ``depth_db`` (causal): the
    recordings' background noise (from digital silence to -80 dB) stops mattering."""
    def f(x):
        peak = np.maximum.accumulate(x.max(axis=1))
        return np.maximum(x, (peak - depth_db)[:, None])
    return f


def applied_first(g, make_pre):
    """``make_pre`` fitted on and applied to ``g(x)`` instead of ``x`` (``g`` needs no fitting)."""
    def make(all_x):
        f = make_pre([g(x) for x in all_x])
        return lambda x: f(g(x))
    return make


def floored(depth_db: float, make_pre):
    """``make_pre`` applied after :func:`relative_floor`."""
    return applied_first(relative_floor(depth_db), make_pre)


def power(p: float):
    """Power-law compression ``amplitude ** p`` instead of dB (values relative to the floor of -100 dB)."""
    return lambda x: 10.0 ** (p * (x + 100.0) / 20.0)


def power_law(p: float, k: int):
    """Power-law compression (:func:`power`), then causal mean normalisation (k)."""
    return applied_first(power(p), mean_norm(k))


def power_cepstra(p: float, n: int, k: int):
    """The first ``n`` cepstral coefficients of the power-law compressed channels (:func:`power`, PNCC
    style), then causal mean normalisation (k)."""
    return applied_first(power(p), cepstra(n, k))


def smooth_channels(width: int, make_pre):
    """``make_pre`` after a moving average over ``width`` neighbouring channels (edges repeated)."""
    def sm(x):
        pad = np.pad(x, ((0, 0), (width // 2, width - 1 - width // 2)), mode="edge")
        c = np.cumsum(np.pad(pad, ((0, 0), (1, 0))), axis=1)
        return (c[:, width:] - c[:, :-width]) / width
    return applied_first(sm, make_pre)


def with_own_deltas(make_pre):
    """The preprocessed inputs plus their change since the last frame (C doubles)."""
    def make(all_x):
        f = make_pre(all_x)

        def g(x):
            y = f(x)
            return np.concatenate([y, np.diff(y, axis=0, prepend=y[:1])], axis=1)
        return g
    return make


def whole_utterance_mean(all_x):
    return lambda x: x - x.mean(axis=0)      # not causal: uses frames not yet heard


#: Ridge lambdas from 1e-9 (the default grid starts at 1e-6).
LOW_LAMBDAS = tuple(10.0 ** k for k in range(-9, 3))

#: name -> (reservoir overrides, or "esn" / "utterance" for the ESN / an utterance-level readout;
#: preprocessing factory or None; augmentation or None). Two overrides are not the reservoir's:
#: ``masks`` (reservoirs with seeds 0, 1, ... side by side) and ``lambdas`` (the readout's grid).
VARIANTS = {
    "default": ({}, None, None),
    "vmin-3": ({"v_min": -3.0}, None, None),
    "utterance-mean": ({}, whole_utterance_mean, None),
    "mean0": ({}, mean_norm(0), None),
    "mean3": ({}, mean_norm(3), None),
    "mean10": ({}, mean_norm(10), None),
    "level+mean3": ({}, mean_norm(3, level=True), None),
    "mean10 input_scale 2": ({"input_scale": 2.0}, mean_norm(10), None),
    "mean3 alpha 0.005": ({"alpha": 0.005}, mean_norm(3), None),
    "mean3 alpha 0.02": ({"alpha": 0.02}, mean_norm(3), None),
    "mean3 ML 20": ({"n_virtual": 20}, mean_norm(3), None),
    "mean3 N 400": ({"n_devices": 400}, mean_norm(3), None),
    "mean+var3": ({}, mean_var_norm(3), None),
    "mean3 + deltas": ({}, with_deltas(mean_norm(3)), None),
    "mean3 utterance-level readout": ("utterance", mean_norm(3), None),
    "esn": ("esn", None, None),
    "esn mean10": ("esn", mean_norm(10), None),
    "level+mean3 dt 0.2 ns": ({"dt_ns": 0.2}, mean_norm(3, level=True), None),
    "utterance-mean shift +-1 channel": ({}, whole_utterance_mean,
                                         lambda x: [shift_channels(x, -1), shift_channels(x, 1)]),
    "utterance-mean stretch 0.85/1.15": ({}, whole_utterance_mean, lambda x: [stretch(x, 0.85), stretch(x, 1.15)]),
    "mean3 cepstra 13": ({}, cepstra(13, 3), None),
    "mean3 cepstra 20": ({}, cepstra(20, 3), None),
    "mean3 cepstra 1-12": ({}, cepstra(12, 3, first=1), None),
    "mean3 floor -40 dB": ({}, floored(40.0, mean_norm(3)), None),
    "mean3 floor -50 dB": ({}, floored(50.0, mean_norm(3)), None),
    "mean3 floor -60 dB": ({}, floored(60.0, mean_norm(3)), None),
    "mean3 power 0.1": ({}, power_law(0.1, 3), None),
    "mean3 power 0.2": ({}, power_law(0.2, 3), None),
    "mean3 power 0.3": ({}, power_law(0.3, 3), None),
    "mean3 smooth 3": ({}, smooth_channels(3, mean_norm(3)), None),
    "mean3 smooth 5": ({}, smooth_channels(5, mean_norm(3)), None),
    "mean3 cepstra 13 floor -50 dB": ({}, floored(50.0, cepstra(13, 3)), None),
    "mean3 cepstra 16": ({}, cepstra(16, 3), None),
    "mean3 cepstra 10": ({}, cepstra(10, 3), None),
    "mean10 cepstra 13": ({}, cepstra(13, 10), None),
    "mean3 cepstra 13 + deltas": ({}, with_own_deltas(cepstra(13, 3)), None),
    "mean3 cepstra 13 2 masks": ({"masks": 2}, cepstra(13, 3), None),
    "mean3 cepstra 13 N 400": ({"n_devices": 400}, cepstra(13, 3), None),
    "mean3 cepstra 13 ML 20": ({"n_virtual": 20}, cepstra(13, 3), None),
    "mean3 2 masks": ({"masks": 2}, mean_norm(3), None),
    "mean3 cepstra 13 floor -60 dB": ({}, floored(60.0, cepstra(13, 3)), None),
    "mean3 cepstra 13 smooth 3": ({}, smooth_channels(3, cepstra(13, 3)), None),
    "mean3 power 0.1 cepstra 13": ({}, power_cepstra(0.1, 13, 3), None),
    "mean3 power 0.2 cepstra 13": ({}, power_cepstra(0.2, 13, 3), None),
    "mean3 cepstra 13 lambdas 1e-9": ({"lambdas": LOW_LAMBDAS}, cepstra(13, 3), None),
    "mean10 cepstra 13 lambdas 1e-9": ({"lambdas": LOW_LAMBDAS}, cepstra(13, 10), None),
    "mean10 cepstra 13 N 400": ({"n_devices": 400}, cepstra(13, 10), None),
    "mean3 ML 20 + deltas": ({"n_virtual": 20}, with_deltas(mean_norm(3)), None),
    "mean3 N 400 + deltas": ({"n_devices": 400}, with_deltas(mean_norm(3)), None),
}


def run(name: str, recs, coch) -> dict:
    over, pre, aug = VARIANTS[name]
    t0 = time.perf_counter()
    esn, utterance = over == "esn", over == "utterance"
    over = {} if esn or utterance else dict(over)
    masks = over.pop("masks", 1)     # reservoirs with seeds 0, 1, ...: features side by side
    readout = {"lambdas": list(over.pop("lambdas"))} if "lambdas" in over else {}
    cfg = config_from_dict({**BASE, "reservoir": {**BASE["reservoir"], **over}, "readout": readout})
    xs = [coch[str(r.path)] for r in recs]
    if pre is not None:
        f = pre(xs)
        xs = [f(x) for x in xs]
    labels = np.array([r.digit for r in recs])
    speakers = np.array([r.speaker for r in recs])
    seqs, seq_labels, seq_speakers = list(xs), list(labels), list(speakers)
    if aug is not None:          # extra training copies: they join their speaker's sums, never a decision
        for x, lab, spk in zip(xs, labels, speakers):
            for xa in aug(x):
                seqs.append(xa), seq_labels.append(lab), seq_speakers.append(spk)
    norm = Normaliser.fit(xs)
    u = [norm.transform(x) for x in seqs]
    if esn:      # the 500-unit ESN of `memres bench` (pip install -e '.[bench]')
        net = make_esn(ESN_FSDD, u[0].shape[1])
        runs, n_features = ((i, esn_states(net, x)) for i, x in enumerate(u)), ESN_FSDD["units"]
    else:
        res = [FloatReservoir(dataclasses.replace(cfg.reservoir, seed=cfg.reservoir.seed + m), u[0].shape[1])
               for m in range(masks)]
        runs, n_features = res[0].run(u), res[0].n_features * masks
        if masks > 1:   # every reservoir yields the sequences in the same (length-sorted) order
            runs = ((i, np.concatenate([f for _, f in group], axis=1))
                    for group in zip(*(r.run(u) for r in res)) for i in [group[0][0]])
    streamed = classify.stream_features(runs, len(u), n_features, np.array(seq_labels),
                                        speech.N_CLASSES, lambda i: seq_speakers[i])
    if utterance:   # one training row per utterance (its mean features) instead of one per frame
        means = streamed.sums.sums[:, -1, :] / streamed.sums.ends[:, -1, None]
        spk, lab = np.array(seq_speakers), np.array(seq_labels)
        streamed.grams = {}
        for k in sorted(set(seq_speakers)):
            rows = np.flatnonzero(spk == k)
            streamed.grams[k] = Gram(n_features, speech.N_CLASSES)
            streamed.grams[k].add(means[rows], np.eye(speech.N_CLASSES)[lab[rows]])
    originals = np.arange(len(recs))
    inner, per, lams = [], {}, {}
    for held in sorted(set(speakers)):
        grams = {k: g for k, g in streamed.grams.items() if k != held}
        folds = {k: originals[speakers == k] for k in grams}
        choice = classify.cross_validate(classify.StreamedFeatures(streamed.sums, grams), folds,
                                         np.array(seq_labels), cfg.readout.lambdas, classify.float_readouts,
                                         classify.decide_float)
        w, b = classify.float_readouts(sum(grams.values(), Gram(n_features, speech.N_CLASSES)))(choice.lam)
        test = originals[speakers == held]
        acc = classify.accuracy(classify.decisions_float(streamed.sums.take(test), w, b), labels[test])
        per[held], lams[held] = [round(100 * float(a), 1) for a in acc], choice.lam
        inner.append(choice.val_accuracy[choice.lam])
    return {"variant": name, "inner": round(100 * float(np.mean(inner)), 2),
            "outer": round(float(np.mean([v[-1] for v in per.values()])), 2),
            "early_outer": np.mean(list(per.values()), axis=0).round(1).tolist(),
            "per_speaker": {k: v[-1] for k, v in per.items()}, "lambda": lams,
            "seconds": round(time.perf_counter() - t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--data", default=str(DEFAULT_FSDD))
    args = ap.parse_args()
    recs = list_recordings(args.data)
    coch = cochleagrams(config_from_dict(BASE), recs, False)
    for name in args.variants:
        print(json.dumps(run(name, recs, coch)), flush=True)


if __name__ == "__main__":
    main()
