"""Reference side of the hardware tests: the integer model (sw_model.fixed) cut into beats.

Everything numeric comes from ``sw_model`` (``pulse_codes``, ``cell_update``,
``state_feature``, ``idle_update``, ``IntReadout``); this module only
arranges it in the order the hardware produces it (rows of ``lanes``
devices) and adds the per-sequence sums and decisions of the contract's
"Readout" section.
"""

from __future__ import annotations

import numpy as np

from memres.hdl.params import CoreParams
from memres.sw_model.classify import running_decisions
from memres.sw_model.config import config_from_dict
from memres.sw_model.fixed import build_constants, cell_update, idle_update, pulse_codes, state_feature
from memres.sw_model.readout import IntReadout


def make_params(n_devices=6, n_virtual=3, n_inputs=4, n_outputs=3, lanes=1, *, state_features=True,
                idle_ns=0.0, seed=0, fixed=None, reservoir=None) -> CoreParams:
    """A small configuration built the way the generator builds it."""
    res = {"n_devices": n_devices, "n_virtual": n_virtual, "state_features": state_features,
           "idle_ns": idle_ns, "seed": seed, **(reservoir or {})}
    cfg = config_from_dict({"reservoir": res, "fixed": fixed or {}})
    return CoreParams(build_constants(cfg.reservoir, cfg.fixed, n_inputs), n_outputs, lanes)


def random_readout(p: CoreParams, rng: np.random.Generator, extreme: bool = False) -> IntReadout:
    """Integer weights and biases anywhere in the contract's ranges (at the limits with ``extreme``)."""
    shape = (p.n_features, p.n_outputs)
    if extreme:
        w = rng.choice([-p.weight_max, p.weight_max], size=shape)
        b = rng.choice([-p.bias_max, p.bias_max], size=p.n_outputs)
    else:
        w = rng.integers(-p.weight_max, p.weight_max + 1, size=shape)
        b = rng.integers(-p.bias_max, p.bias_max + 1, size=p.n_outputs)
    return IntReadout(w=w.astype(np.int64), b=b.astype(np.int64), scale=1.0)


def random_sequences(p: CoreParams, rng: np.random.Generator, count: int, max_len: int,
                     kind: str = "random") -> list[np.ndarray]:
    """Input code sequences (T, C): random, full-scale, zero, or random with saturating runs."""
    u_max = p.k.u_max
    seqs = []
    for _ in range(count):
        t = int(rng.integers(1, max_len + 1))
        if kind == "full":
            seqs.append(np.full((t, p.n_inputs), u_max, dtype=np.int64))
        elif kind == "zero":
            seqs.append(np.zeros((t, p.n_inputs), dtype=np.int64))
        elif kind == "extremes":
            seqs.append(rng.choice([0, u_max], size=(t, p.n_inputs)).astype(np.int64))
        else:
            seqs.append(rng.integers(0, u_max + 1, size=(t, p.n_inputs)))
    return seqs


def frames_of(seqs: list[np.ndarray]) -> list[dict]:
    """Input stream beats: one frame per beat with the sequence flags."""
    out = []
    for s in seqs:
        for t, u in enumerate(s):
            out.append({"u": [int(v) for v in u], "first": int(t == 0), "last": int(t == len(s) - 1)})
    return out


def run_sequence(p: CoreParams, u_seq: np.ndarray):
    """Integer model over one sequence: pulse codes (T, ML, N), features (T, F), states (T, ML, N), idle states."""
    qs = np.array([pulse_codes(p.k, np.asarray(u, dtype=np.int64)) for u in u_seq])
    return run_codes(p, qs)


def run_codes(p: CoreParams, qs: np.ndarray):
    """Integer model over one sequence of pulse codes (T, ML, N); returns like :func:`run_sequence`."""
    k = p.k
    n, ml = k.n_devices, k.n_virtual
    g = np.full(n, k.g0, dtype=np.int64)
    feats, states, idles = [], [], []
    for q in qs:
        x = np.zeros(k.n_features, dtype=np.int64)
        st = np.zeros((ml, n), dtype=np.int64)
        for m in range(ml):
            g, i = cell_update(k, g, q[m])
            x[m * n:(m + 1) * n] = i
            st[m] = g
        if k.state_features:
            x[ml * n:] = state_feature(k, g)
        if k.r_idle is not None:
            g = idle_update(k, g)
        idles.append(g.copy())
        feats.append(x)
        states.append(st)
    return np.array(qs), np.array(feats), np.array(states), np.array(idles)


def beat_index(p: CoreParams):
    """(row, node, slot) of every beat of a frame."""
    return [(row, *divmod(row, p.slots)) for row in range(p.rows)]


def pulse_beats(p: CoreParams, seqs, codes: bool = False) -> list[dict]:
    """What the projection must emit: q per lane (None = don't care: padding or end pass).

    ``seqs`` hold input codes (T, C), or pulse codes (T, ML, N) with ``codes``.
    """
    out = []
    for s in seqs:
        qs = s if codes else run_sequence(p, s)[0]
        for t, q in enumerate(qs):
            for row, node, slot in beat_index(p):
                lanes = []
                for lane in range(p.lanes):
                    n = p.device_of(slot, lane)
                    # the end pass: code 0 where it writes the idle-relaxed state, else never used
                    end = node >= p.n_virtual
                    lanes.append(None if n is None or (end and not p.has_idle) else (0 if end else int(q[node, n])))
                out.append(_beat(p, row, node, slot, t, len(s), q=lanes))
    return out


def feature_beats(p: CoreParams, seqs, codes: bool = False) -> list[dict]:
    """What the cell array must emit: x per lane (0 for padding and non-features)."""
    out = []
    for s in seqs:
        _, feats, *_ = run_codes(p, s) if codes else run_sequence(p, s)
        for t, x in enumerate(feats):
            for row, node, slot in beat_index(p):
                lanes = []
                for lane in range(p.lanes):
                    n = p.device_of(slot, lane)
                    j = None if n is None else p.feature_index(node, n)
                    lanes.append(0 if j is None else int(x[j]))
                out.append(_beat(p, row, node, slot, t, len(s), x=lanes))
    return out


def _beat(p, row, node, slot, t, length, **fields) -> dict:
    return {**fields, "row": row, "node": node, "slot": slot,
            "frame_start": int(row == 0), "frame_end": int(row == p.rows - 1),
            "seq_first": int(t == 0), "seq_last": int(t == length - 1)}


def frame_sums(p: CoreParams, ro: IntReadout, seqs) -> list[np.ndarray]:
    """Per sequence, y (T, K) = b + x @ W for every frame."""
    return [ro(run_sequence(p, s)[1]) for s in seqs]


def sequence_decisions(p: CoreParams, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Saturating per-sequence sums Y after each frame and the running decision (lowest index on ties):
    the rule of sw_model.classify.running_decisions."""
    return running_decisions(np.asarray(ys).reshape(-1, p.n_outputs), p.seq_limit)
