"""Random stimulus for the checker: input sequences of a design (saturating and constant ones among them)."""

from __future__ import annotations

import numpy as np

from amaranth.lib import data

from memres.hdl.design import Design
from memres.hdl.top import core_timing
from memres.testbenches.directed import apart_runs, comedown_run, tie_sequences

__all__ = ["random_sequences", "corner_sequences", "corner_readout", "corner_reloads", "saturating_run",
           "saturation_runs", "corner_reset", "STIMULI", "CORNER_HANDSHAKES", "SATURATION_FRAMES_MAX"]

#: Longest sequence :func:`saturating_run` makes (frames); beyond it the sums' clamp is left unreached.
SATURATION_FRAMES_MAX = 100_000

#: (device, state) pairs the rounding-tie search of :func:`corner_sequences` may visit (a core of a few
#: devices needs some thousands; a larger one keeps what it found by then).
TIE_SEARCH_PAIRS = 20_000

#: Stimulus modes of ``memres verify --stimulus``.
STIMULI = ("random", "corners")
#: ``(p_valid, p_ready)`` of the corner runs, run ``i`` takes entry ``i % 4``: back-pressure on every
#: stage (inputs always valid, results almost never taken: every skid buffer and stall path fills),
#: full speed, starved inputs, and both at once.
CORNER_HANDSHAKES = ((1.0, 0.03), (1.0, 1.0), (0.15, 1.0), (0.5, 0.2))


def random_sequences(design: Design, rng: np.random.Generator, count: int, max_len: int = 10) -> list[np.ndarray]:
    """Random input sequences: uniform codes mostly, some of only 0 / full scale (saturation), some constant."""
    k = design.params.k
    out = []
    for _ in range(count):
        t = int(rng.integers(1, max_len + 1))
        kind = rng.choice(["random", "random", "random", "extremes", "full", "zero"])
        shape = (t, design.n_inputs)
        if kind == "extremes":
            s = rng.choice([0, k.u_max], size=shape)
        elif kind == "full":
            s = np.full(shape, k.u_max)
        elif kind == "zero":
            s = np.zeros(shape)
        else:
            s = rng.integers(0, k.u_max + 1, size=shape)
        out.append(np.asarray(s, dtype=np.int64))
    return out


def corner_sequences(design: Design, rng: np.random.Generator, count: int, max_len: int = 10) -> list[np.ndarray]:
    """Sequences that drive the corners of the arithmetic, then ``count`` random ones.

    Every input at full scale and at zero, for one frame and for long runs (states saturate at the
    top and decay to rest; the classifier's running sums saturate, ``seq_limit``); inputs alternating
    between full scale and zero frame by frame and input by input (largest steps of the state);
    one input at full scale, the others zero (one mask sign at a time); ``u_max - 1`` and 1 (the
    codes next to the ends); the shortest sequences that put the roundings of the pulse code, decay,
    move and current on their rounding boundaries (:func:`testbenches.directed.tie_sequences`).
    """
    p, c = design.params, design.n_inputs
    u = p.k.u_max
    long_ = 4 * max_len
    out = [np.full((1, c), u), np.zeros((1, c)), np.full((long_, c), u), np.zeros((max_len, c)),
           np.full((long_, c), u), np.fromfunction(lambda t, i: ((t + i) % 2) * u, (max_len, c)),
           np.fromfunction(lambda t, i: (t % 2) * u, (max_len, c)), np.full((max_len, c), u - 1),
           np.full((max_len, c), 1)]
    for i in range(min(c, 4)):
        s = np.zeros((3, c))
        s[:, i] = u
        out.append(s)
    out += tie_sequences(design, rng, max_pairs=TIE_SEARCH_PAIRS).sequences
    out = [np.asarray(s, dtype=np.int64) for s in out]
    return out + random_sequences(design, rng, count, max_len)


def _corner_values(design: Design, limit: int) -> np.ndarray:
    """The ``load`` value field's ends, and the values on and one beyond the core's clamp ``+-limit`` (a
    clamp bound one off shows only there)."""
    bits = data.Layout.cast(design.params.load_layout)["value"].shape.width
    hi, lo = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    return np.clip([hi, lo, limit, limit + 1, -limit, -limit - 1], lo, hi).astype(np.int64)


def corner_readout(design: Design, rng: np.random.Generator, turn: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A readout at the ends of the ``load`` value field and at the core's clamps: every weight and bias is
    the field's largest or smallest value (beyond ``weight_max``/``bias_max`` where the field is wider: the
    core's clamps act) or a value on or one beyond a clamp bound (``+-weight_max``, ``+-(weight_max + 1)``,
    the same for the biases), at random; with ``turn`` the bias of output ``k`` is value ``(turn + k) % 6``
    of them, so that :data:`CORNER_READOUTS` readouts in turn put every value on every output's bias.
    Written while frames flow, it drives the sums towards saturation."""
    p = design.params
    wv, bv = _corner_values(design, p.weight_max), _corner_values(design, p.bias_max)
    w = wv[rng.integers(0, len(wv), size=(p.n_features, p.n_outputs))]
    b = bv[rng.integers(0, len(bv), size=p.n_outputs) if turn is None else (turn + np.arange(p.n_outputs)) % len(bv)]
    return w, b


#: Corner readouts of a corner run (:func:`corner_reloads`): one per value of :func:`_corner_values`.
CORNER_READOUTS = 6


def corner_reloads(design: Design, rng: np.random.Generator, n_frames: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """:data:`CORNER_READOUTS` corner readouts (:func:`corner_readout`, biases in turn) written while the
    ``n_frames`` frames of a run flow, before distinct frames in ``1 .. n_frames - 1`` (fewer when the run is
    shorter), as ``Job.reloads``: ``(before_frame, w, b)``."""
    count = min(CORNER_READOUTS, n_frames - 1)
    if count < 1:
        return []
    at = np.sort(rng.choice(np.arange(1, n_frames), size=count, replace=False))
    return [(int(a), *corner_readout(design, rng, turn=i)) for i, a in enumerate(at)]


def saturating_run(design: Design, sign: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A readout and a sequence that drive the classifier's running sums into their clamp (``sign`` +1: the
    upper one, -1: the lower one).

    Every input at full scale; every weight at ``weight_max`` with the sign of its feature (from the
    integer model on that input) times ``sign``, every bias at ``sign * bias_max``: ``|y[k]|`` is then
    as large as this core makes it, and the sequence is long enough for ``y`` summed over its frames to
    pass the sums' limit ``seq_limit`` (which ``fixed.max_frames`` frames of the largest ``y`` never
    reach). Returns ``(w, b, sequence)``, or None when that would take more than
    :data:`SATURATION_FRAMES_MAX` frames.
    """
    from memres.sw_model.fixed import FixedReservoir     # the integer model sizes the sequence
    p = design.params
    res = FixedReservoir(design.config.reservoir, design.config.fixed, design.n_inputs)
    probe = np.full((1, 64, design.n_inputs), p.k.u_max, dtype=np.int64)
    feats = np.asarray(res.run_batch(probe)[0], dtype=np.int64)
    signs = sign * np.where(feats[-16:].sum(axis=0) >= 0, 1, -1)
    w = np.repeat((signs * p.weight_max)[:, None], p.n_outputs, axis=1).astype(np.int64)
    b = np.full(p.n_outputs, sign * p.bias_max, dtype=np.int64)
    y = int((sign * (feats[-16:] @ w[:, 0])).min()) + p.bias_max       # |y| of the settled frames
    if y <= 0:
        return None
    frames = -(-p.seq_limit // y) + 64          # the transient of the first frames: a margin
    if frames > SATURATION_FRAMES_MAX:
        return None
    return w, b, np.full((frames, design.n_inputs), p.k.u_max, dtype=np.int64)


def saturation_runs(design: Design) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every run of the corner stimulus that drives the sequence sums into their clamps, ``[(w, b, sequence)]``,
    each with the readout to write before it: :func:`saturating_run` both ways (every output in the
    clamp), then :func:`testbenches.directed.apart_runs` (every output but one in the clamp, that one on
    its edge) and :func:`testbenches.directed.comedown_run` (a sum leaves the upper clamp and ties with
    another on its way down)."""
    up, down = saturating_run(design, 1), saturating_run(design, -1)
    runs = [r for r in (up, down) if r is not None]
    runs += apart_runs(design, up[0], SATURATION_FRAMES_MAX) if up is not None else []
    runs += [r for r in [comedown_run(design, SATURATION_FRAMES_MAX)] if r is not None]
    # The next run's readout is written once its frames are due, while the last frames of this one may
    # still be in the pipeline: a few more frames of the same input keep its last frames on its readout.
    t = core_timing(design.params)
    tail = -(-t.latency // t.cycles_per_frame) + 4
    return [(w, b, np.concatenate([q, np.repeat(q[-1:], tail, axis=0)])) for w, b, q in runs]


def corner_reset(design: Design, seqs: list[np.ndarray], rng: np.random.Generator) -> tuple[int, int] | None:
    """A reset in the middle of a sequence: ``(frame, delay)`` for ``Job.resets``.

    After a frame of a sequence of at least two frames (not the first sequence, not its last frame), at a
    random delay of up to ``latency + cycles_per_frame`` clocks, so that a frame is in the pipeline or
    its result waits to be taken when ``rst`` rises. None when no sequence is long enough.
    """
    starts = np.concatenate([[0], np.cumsum([len(q) for q in seqs])])
    long_ = [i for i in range(1, len(seqs)) if len(seqs[i]) >= 2]
    if not long_:
        return None
    i = int(rng.choice(long_))
    t = core_timing(design.params)
    return int(starts[i] + rng.integers(0, len(seqs[i]) - 1)), int(rng.integers(0, t.latency + t.cycles_per_frame + 1))
