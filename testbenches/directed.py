"""Directed stimulus: input sequences and readouts found by searching the integer model for values that
random stimulus almost never makes.

* :func:`tie_sequences`: every rounding of the datapath, ``(x + 2^(s-1)) >> s``, is checked at the two
  residues next to its rounding boundary, ``x mod 2^s = 2^(s-1) - 1`` and ``2^(s-1)``. Only there does a
  rounding constant one LSB off (or a ``>=`` that should be ``>``) change the result; for a small core
  that is about 1 in 32 768 of the (device, state) pairs of the decay and 1 in 200 000 of the
  (code, state) pairs of the move, which random sequences do not reach. A breadth-first search over
  every device's state, frame by frame, finds the shortest input sequence that reaches each
  (device, rounding, residue) that can be reached with the inputs it tries.
* :func:`apart_runs`: readouts and sequences after which every output but one sits in the
  classifier's clamp and the one left lands exactly on the clamp's edge (one LSB inside, on it, one
  LSB beyond). The sums' start value and clamp constants then decide a decision; with every output
  saturating alike (``stimulus.saturating_run``) they cannot.
* :func:`comedown_run`: a readout and a sequence after which one output's sum leaves the upper clamp and
  comes back down to tie exactly with another's: the value a clamped sum is kept at decides a decision
  only on the way down.

The model's own functions compute every value (``sw_model.fixed.apply_cell_update``,
``pulse_codes``, ``classify.running_decisions``); the search only watches the operands of
``fixed.rshift_round``, the one rounding function of the integer model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import numpy as np

from memres.hdl.design import Design
from memres.sw_model import fixed
from memres.sw_model.classify import running_decisions

__all__ = ["APART", "TieSearch", "tie_sequences", "apart_runs", "comedown_run", "codes_differ", "reachable_states"]

#: The roundings of one pulse of a cell, in the order :func:`sw_model.fixed.apply_cell_update` makes them.
CELL_ROUNDINGS = ("decay", "move", "current")


def _roundings(k) -> tuple[str, ...]:
    """The cell's roundings in the order the model makes them, the idle decay last where there is a gap."""
    return CELL_ROUNDINGS + (("idle",) if k.r_idle is not None else ())
#: The two residues next to the rounding boundary: ``2^(s-1) - 1`` ("below") and ``2^(s-1)`` ("on").
RESIDUES = ("below", "on")


@contextlib.contextmanager
def _watch_rounding():
    """Record ``(x, s)`` of every :func:`sw_model.fixed.rshift_round` call made inside the block."""
    calls: list[tuple[np.ndarray, int]] = []
    original = fixed.rshift_round

    def watched(x, s):
        calls.append((np.asarray(x), s))
        return original(x, s)

    fixed.rshift_round = watched
    try:
        yield calls
    finally:
        fixed.rshift_round = original


def _at_boundary(x: np.ndarray, s: int) -> dict[str, np.ndarray]:
    """Masks of ``x`` whose low ``s`` bits are ``2^(s-1) - 1`` and ``2^(s-1)``."""
    if s <= 0:
        z = np.zeros(np.shape(x), dtype=bool)
        return {"below": z, "on": z}
    low = np.asarray(x) & ((1 << s) - 1)
    return {"below": low == (1 << (s - 1)) - 1, "on": low == 1 << (s - 1)}


@dataclasses.dataclass
class TieSearch:
    """What :func:`tie_sequences` found: the sequences, and per target the frame count or why not."""

    sequences: list[np.ndarray]
    #: ``(rounding, residue, device) -> frames of the shortest sequence found``
    reached: dict
    #: targets no input of the alphabet reaches from rest within the search's limits, though some state
    #: and code would put the operand on the residue
    missed: list
    #: targets that no state and code can reach (proven by exhausting them): a change of that rounding at
    #: that residue cannot show on this core
    impossible: list
    states_visited: int
    seconds: float

    def summary(self) -> str:
        kinds = {}
        for (rnd, res, _dev) in self.reached:
            kinds[(rnd, res)] = kinds.get((rnd, res), 0) + 1
        parts = [f"{rnd} {res}: {n}" for (rnd, res), n in sorted(kinds.items())]
        return (f"{len(self.sequences)} sequences reach {len(self.reached)} rounding-tie targets "
                f"({', '.join(parts) or 'none'}); {len(self.impossible)} unreachable by any state and code; "
                f"{len(self.missed)} not reached; "
                f"{self.states_visited:,} (device, state) pairs searched in {self.seconds:.1f} s")


def _alphabet(design: Design, rng: np.random.Generator, size: int) -> np.ndarray:
    """Input frames the search tries: the corners, one input at a time at full scale, random ones, and for
    every (node, device) the frames whose pulse sum lands on a rounding boundary of the pulse code."""
    k = design.params.k
    c, u = design.n_inputs, k.u_max
    rows = [np.zeros(c), np.full(c, u), np.full(c, u - 1), np.full(c, 1)]
    for i in range(c):
        e = np.zeros(c)
        e[i] = u
        rows.append(e)
    rows += list(_pulse_tie_frames(k))
    n_random = max(0, size - len(rows))
    rows += list(rng.integers(0, u + 1, size=(n_random, c)))
    return np.unique(np.asarray(rows, dtype=np.int64), axis=0)


def _pulse_tie_frames(k) -> list[np.ndarray]:
    """For every (node, device), input frames whose pulse sum ``p`` puts ``p gain + center`` on a rounding
    boundary, where such a ``p`` is in reach: one frame per (node, device, residue)."""
    c = k.mask.shape[0]
    lo, hi = -c * k.u_max, c * k.u_max
    p = np.arange(lo, hi + 1, dtype=np.int64)
    x = p * k.gain + k.center
    hits = _at_boundary(x, k.fx.gain_bits)
    out = []
    for res in RESIDUES:
        for p_star in p[hits[res]]:
            for m in range(k.mask.shape[1]):
                for n in range(k.mask.shape[2]):
                    f = _frame_with_sum(k.mask[:, m, n], int(p_star), k.u_max)
                    if f is not None:
                        out.append(f)
    return out


def _frame_with_sum(signs: np.ndarray, p: int, u_max: int) -> np.ndarray | None:
    """Inputs ``u`` in ``[0, u_max]`` with ``sum signs * u = p``, or None."""
    u = np.zeros(len(signs), dtype=np.int64)
    want = np.flatnonzero(signs > 0) if p >= 0 else np.flatnonzero(signs < 0)
    left = abs(p)
    for i in want:
        u[i] = min(left, u_max)
        left -= u[i]
    return u if left == 0 else None


def tie_sequences(design: Design, rng: np.random.Generator, alphabet: int = 1024, max_pairs: int = 2_000_000,
                  max_depth: int = 64, max_seconds: float | None = None, prove: bool = False) -> TieSearch:
    """Shortest input sequences (from rest) that bring every device's pulses onto the rounding boundaries.

    A breadth-first search over frames: the states of every device at the start of a frame, from rest;
    for each state and each frame of an alphabet of ``alphabet`` input frames (:func:`_alphabet`), the
    model runs the frame's pulses and records whether any of its roundings lands on a boundary residue.
    Targets are ``(rounding, residue, device)``; the pulse code's roundings depend on the input alone
    and are reached by the frames :func:`_pulse_tie_frames` adds. The search stops when every target is
    reached, the frontier is empty, or at ``max_depth`` frames or ``max_pairs`` (device, state) pairs (and
    after ``max_seconds``, if given: the result then depends on the machine's speed); a target not
    reached is then listed in ``missed``. With ``prove`` the targets not
    reached are checked against every state a device can reach with any pulse codes (:func:`reachable_states`,
    exhaustive: for small cores) and moved to ``impossible`` where no such state can reach them.
    """
    t0 = time.perf_counter()
    k = design.params.k
    n, ml = k.n_devices, k.n_virtual
    frames = _alphabet(design, rng, alphabet)
    with _watch_rounding() as calls:
        q = fixed.pulse_codes(k, frames)                                   # (A, ML, N)
    pulse_hit = {res: m.any(axis=1) for res, m in _at_boundary(calls[0][0], calls[0][1]).items()}   # (A, N)
    a_q, t_q, f_q = k.a_lut[q], k.h_lut[q] * k.g_max, k.f_lut[q]
    roundings = _roundings(k)
    targets = {(rnd, res, d) for rnd in roundings for res in RESIDUES for d in range(n)}
    targets |= {("pulse", res, d) for res in RESIDUES for d in range(n)}
    found: dict = {}                 # target -> (device, frame-start state, input index) of its last frame
    # parents of every visited (device, state): the state before and the input that led there
    parent_state = {d: {k.g0: None} for d in range(n)}
    for res in RESIDUES:             # a pulse-code tie happens in the first frame from rest
        for d in range(n):
            idx = np.flatnonzero(pulse_hit[res][:, d])
            if idx.size:
                found[("pulse", res, d)] = (d, k.g0, int(idx[0]))
    frontier_dev = np.arange(n)
    frontier_g = np.full(n, k.g0, dtype=np.int64)
    visited, depth = n, 0
    chunk = max(1, 4_000_000 // len(frames))
    while frontier_dev.size and len(found) < len(targets) and depth < max_depth and visited < max_pairs \
            and (max_seconds is None or time.perf_counter() - t0 < max_seconds):
        depth += 1
        new_dev, new_g = [], []
        for lo in range(0, frontier_dev.size, chunk):
            dev, g0 = frontier_dev[lo:lo + chunk], frontier_g[lo:lo + chunk]
            kd = dataclasses.replace(k, r=k.r[dev], r_idle=None if k.r_idle is None else k.r_idle[dev])
            g = np.broadcast_to(g0, (len(frames), dev.size)).copy()
            hits = {(rnd, res): np.zeros(g.shape, dtype=bool) for rnd in roundings for res in RESIDUES}
            for m in range(ml):
                with _watch_rounding() as calls:
                    g, _ = fixed.apply_cell_update(kd, g, a_q[:, m, dev], t_q[:, m, dev], f_q[:, m, dev])
                for rnd, (x, s) in zip(CELL_ROUNDINGS, calls):
                    for res, mask in _at_boundary(x, s).items():
                        hits[(rnd, res)] |= mask
            if k.r_idle is not None:
                with _watch_rounding() as calls:
                    g = fixed.idle_update(kd, g)
                for res, mask in _at_boundary(*calls[0]).items():
                    hits[("idle", res)] |= mask
            for (rnd, res), mask in hits.items():
                for d in np.unique(dev[mask.any(axis=0)]):
                    if (rnd, res, int(d)) not in found:
                        cols = np.flatnonzero(mask.any(axis=0) & (dev == d))
                        a = int(np.flatnonzero(mask[:, cols[0]])[0])
                        found[(rnd, res, int(d))] = (int(d), int(g0[cols[0]]), a)
            # next frontier: states not visited before (first parent wins: shortest paths)
            for j in range(dev.size):
                d, seen = int(dev[j]), parent_state[int(dev[j])]
                col, first = np.unique(g[:, j], return_index=True)
                for s, a in zip(col.tolist(), first.tolist()):
                    if s not in seen:
                        seen[s] = (int(g0[j]), a)
                        new_dev.append(d)
                        new_g.append(s)
        visited += len(new_dev)
        frontier_dev, frontier_g = np.asarray(new_dev, dtype=np.int64), np.asarray(new_g, dtype=np.int64)

    def path(d: int, s: int) -> list[int]:
        out = []
        while parent_state[d][s] is not None:
            s, a = parent_state[d][s]
            out.append(a)
        return out[::-1]

    missed = sorted(targets - set(found))
    # the alphabet holds a frame for every reachable pulse sum on a boundary: a pulse target it lacks has none
    impossible = [t for t in missed if t[0] == "pulse"] + (_impossible(k, missed, reachable_states(k, missed))
                                                           if prove else [])
    reached, seqs, keys = {}, [], set()
    for tgt, (d, s, a) in sorted(found.items()):
        p = tuple(path(d, s) + [a])
        reached[tgt] = len(p)
        if p not in keys:
            keys.add(p)
            seqs.append(frames[list(p)])
    # a sequence that is the start of another adds nothing: keep the longer one
    seqs = [x for x in seqs if not any(len(y) > len(x) and np.array_equal(y[:len(x)], x) for y in seqs)]
    return TieSearch(seqs, reached, [t for t in missed if t not in impossible], impossible, visited,
                     time.perf_counter() - t0)


def reachable_states(k, targets: list) -> dict[int, np.ndarray]:
    """For each device of the cell targets, every state some sequence of pulses *with any codes* (and idle
    gaps) reaches from rest: a superset of what inputs can reach, as the codes of one frame are not free."""
    out = {}
    q = np.arange(k.q_max + 1)[:, None]
    for d in sorted({d for rnd, _, d in targets if rnd != "pulse"}):
        kd = dataclasses.replace(k, r=k.r[d:d + 1], r_idle=None if k.r_idle is None else k.r_idle[d:d + 1])
        seen = np.zeros(k.g_max + 1, dtype=bool)
        seen[k.g0] = True
        frontier = np.array([k.g0])
        while frontier.size:
            g, _ = fixed.apply_cell_update(kd, frontier[None, :], k.a_lut[q], k.h_lut[q] * k.g_max, k.f_lut[q])
            nxt = [g.ravel()] + ([fixed.idle_update(kd, frontier)] if k.r_idle is not None else [])
            nxt = np.unique(np.concatenate(nxt))
            frontier = nxt[~seen[nxt]]
            seen[frontier] = True
        out[d] = np.flatnonzero(seen)
    return out


def codes_differ(k, qa: int, qb: int, reachable: dict[int, np.ndarray] | None = None) -> int:
    """How many (device, state) pairs, over every state each device can reach with any pulse codes
    (:func:`reachable_states`, exhaustive), give a different new state or current for code ``qa`` than for code
    ``qb``. 0 proves that a pulse code read as ``qb`` where it is ``qa`` cannot show on this core (e.g. the
    pulse code's lower clamp value ``0`` changed to ``1``). ``reachable``: :func:`reachable_states` of every
    device, when already computed."""
    if reachable is None:
        reachable = reachable_states(k, [("decay", "on", d) for d in range(k.n_devices)])
    count = 0
    for d, g in reachable.items():
        kd = dataclasses.replace(k, r=k.r[d:d + 1], r_idle=None if k.r_idle is None else k.r_idle[d:d + 1])
        out = [fixed.apply_cell_update(kd, g[:, None], k.a_lut[[q]], k.h_lut[[q]] * k.g_max, k.f_lut[[q]])
               for q in (qa, qb)]
        count += int(((out[0][0] != out[1][0]) | (out[0][1] != out[1][1])).sum())
    return count


def _impossible(k, targets: list, reachable: dict[int, np.ndarray]) -> list:
    """The cell targets that cannot be reached: no state of ``reachable`` (and, for the move and the
    current, no code) puts that rounding's operand on that residue. Proven by exhausting the states
    (a superset of those reachable, :func:`reachable_states`) and the codes."""
    out = []
    devices = sorted({d for rnd, _, d in targets if rnd != "pulse"})
    if not devices:
        return out
    g = np.arange(k.g_max + 1, dtype=np.int64)[:, None, None]           # (G, 1, 1)
    q = np.arange(k.q_max + 1)[None, :, None]                           # (1, Q, 1)
    dev = np.asarray(devices)
    kd = dataclasses.replace(k, r=k.r[dev], r_idle=None if k.r_idle is None else k.r_idle[dev])
    seen = {}
    for lo in range(0, k.g_max + 1, 256):                               # (256, Q, D) at a time
        with _watch_rounding() as calls:
            g_new, _ = fixed.apply_cell_update(kd, g[lo:lo + 256], k.a_lut[q], k.h_lut[q] * k.g_max, k.f_lut[q])
            if k.r_idle is not None:
                fixed.idle_update(kd, g[lo:lo + 256, 0])
        # the state a rounding sees: the pulse's start state (decay, move, idle), its end state (current)
        start = g[lo:lo + 256, 0, 0]
        for rnd, (x, s_) in zip(_roundings(k), calls):
            x = np.broadcast_to(x, x.shape[:-1] + (dev.size,)) if x.ndim == 3 else x     # (G', [Q,] D)
            for res, m in _at_boundary(x, s_).items():
                for j, d in enumerate(devices):
                    ok = np.isin(start, reachable[d])
                    mj = m[..., j]
                    if rnd == "current":       # operand g' f[q]: g' must be reachable, any code
                        hit = bool(mj[np.isin(g_new[..., j], reachable[d])].any())
                    else:
                        hit = bool(mj[ok].any())
                    seen[(rnd, res, d)] = seen.get((rnd, res, d), False) or hit
    for rnd, res, d in targets:
        if rnd != "pulse" and not seen[(rnd, res, d)]:
            out.append((rnd, res, d))
    return out


#: The landings of :func:`apart_runs` per clamp: ``(v - L, output)`` for the upper clamp, ``(-v - L, output)``
#: for the lower one, the output first or last. A decision shows a sum one LSB off only where it breaks or
#: makes a tie, and ties go to the lowest output: the landing output is placed so that each landing turns
#: the decision under the change it is there for. Upper: at ``L - 1`` first (the start value one up, the
#: clamp value one down: a tie it wins), at ``L`` last (the clamp value one down: it wins), one beyond
#: first. Lower: at ``-L - 1`` first (a clamp that lets it through: it loses the tie), at ``-L`` last (the
#: clamp value one down: it wins), ``-L + 1`` last. At ``L`` first it must keep the decision against
#: the others' sums beyond the clamp. The third field: a partner output (the next one) that lands on
#: ``-(L + d)`` at the same frame: a sum one beyond ``-L`` that the clamp lets through loses the tie
#: only against a sum not beyond it (the decision compares a sum before its clamp with the best one).
APART = {1: ((-1, "first", None), (0, "last", None), (0, "first", None), (1, "first", None)),
         -1: ((1, "first", 0), (0, "last", None), (-1, "last", None))}


def apart_runs(design: Design, saturating_w: np.ndarray, frames_max: int, tries: int = 64,
               seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Readouts and sequences that put one output exactly on the edge of the sequence sums' clamp while
    every other output sits in it: ``[(w, b, sequence)]``, one per edge value found.

    For the upper clamp (limit ``L = seq_limit``) one output lands, at some frame, on ``L - 1``, ``L`` and
    ``L + 1`` (the last one before the clamp), with the others clamped at ``L`` by then
    (``saturating_w``, the upper readout of :func:`stimulus.saturating_run`, at ``bias_max``); for the
    lower clamp on ``-L + 1``, ``-L``, ``-L - 1`` with the others at ``-L`` (:data:`APART`). The
    decision at that frame then turns on the start value, the clamp constants and comparisons of the
    sums. The landing output's weights are random multiples of the saturating ones, its bias solves
    ``sum_{s<=t} x_s . w + (t + 1) b = v`` for a frame ``t``, which needs ``t + 1`` to divide
    ``v - sum x_s . w`` with ``|b| <= bias_max``: ``tries`` random weights are tried per value. Every run
    returned is checked with :func:`sw_model.classify.running_decisions`, the classifier's rule.
    """
    p = design.params
    kk, lim = p.n_outputs, p.seq_limit
    if kk < 2:
        return []
    res = fixed.FixedReservoir(design.config.reservoir, design.config.fixed, design.n_inputs)
    u = np.full((1, frames_max, design.n_inputs), p.k.u_max, dtype=np.int64)
    x = np.asarray(res.run_batch(u)[0], dtype=np.int64)             # (T, F) features of full scale
    rng = np.random.default_rng(seed)
    out = []
    for sign in (1, -1):
        w_sat = sign * saturating_w[:, :1]
        y_sat = np.cumsum(x @ w_sat[:, 0] + sign * p.bias_max)
        clamped = np.flatnonzero(sign * y_sat > lim)
        if not clamped.size:
            continue
        t_sat = int(clamped[0])                 # from this frame on the other outputs sit at sign * L
        for d, pos, partner in APART[sign]:
            v, e = sign * (lim + d), 0 if pos == "first" else kk - 1
            run = _land(x, w_sat[:, 0], v, lim, t_sat, p.bias_max, p.weight_max, rng, tries)
            if run is None:
                continue
            w_e, b_e, t = run
            w = np.repeat(w_sat, kk, axis=1)
            b = np.full(kk, sign * p.bias_max, dtype=np.int64)
            w[:, e], b[e] = w_e, b_e
            landing = {e: v}
            if partner is not None and e + 1 < kk:
                mate = _land_at(x, w_sat[:, 0], sign * (lim + partner), lim, t, p.bias_max, p.weight_max, rng)
                if mate is None:
                    continue
                w[:, e + 1], b[e + 1] = mate
                landing[e + 1] = sign * (lim + partner)
            seq = u[0, :t + 1]
            y = x[:t + 1] @ w + b
            sums, _ = running_decisions(y[None], lim)
            pre = (sums[0, t - 1] if t else 0) + y[t]
            others = np.delete(sums[0, t], list(landing))
            assert all(pre[o] == want for o, want in landing.items()) and np.all(others == sign * lim), \
                "apart_runs: the landing missed"
            out.append((w, b, seq))
    return out


def comedown_run(design: Design, frames_max: int, tries: int = 16,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A readout and a sequence after which output 0's sum has sat in the upper clamp and comes back down
    to tie exactly with output 1's: ``(w, b, sequence)``, or None when that takes more than ``frames_max``
    frames.

    Output 0's weights are ``+-weight_max`` with the sign of each feature's change from rest to full scale,
    its bias makes ``y`` slightly negative at rest: full-scale input then drives its sum into the clamp
    ``L`` (the sequence is as long as that takes), and zero input brings it back down within a few
    frames, as the features fall back to rest. Output 1 lands exactly on output 0's sum at a frame of the
    way down (:func:`_land_at`); the others sit at ``-L``. At that frame the tie goes to output 0, and a sum
    kept at ``L - 1`` instead of ``L`` turns the decision: in the clamp, a sum is indistinguishable from
    its neighbours in the clamp. Checked with :func:`sw_model.classify.running_decisions`.
    """
    p = design.params
    kk, lim, c = p.n_outputs, p.seq_limit, design.n_inputs
    if kk < 2:
        return None
    res = fixed.FixedReservoir(design.config.reservoir, design.config.fixed, c)
    settle = 64                                     # frames after which the features have settled
    u = np.zeros((1, 2 * settle, c), dtype=np.int64)
    u[0, :settle] = p.k.u_max
    x = np.asarray(res.run_batch(u)[0], dtype=np.int64)
    full, rest = x[settle - 1], x[-1]
    w_full = np.where(full >= rest, p.weight_max, -p.weight_max).astype(np.int64)
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        w0 = np.clip(w_full + rng.integers(-3, 1, size=len(w_full)) * np.sign(w_full), -p.weight_max, p.weight_max)
        span = int((full - rest) @ w0)              # y at full scale minus y at rest
        b0 = -int(rest @ w0) - int(span * rng.uniform(1 / 32, 1 / 8))
        y_up = int(full @ w0) + b0
        if span <= 0 or abs(b0) > p.bias_max or y_up <= 0:
            continue
        up = -(-lim // y_up) + settle               # frames of full scale: the clamp, with a margin
        if up + settle > frames_max:
            return None
        u = np.zeros((1, up + settle, c), dtype=np.int64)
        u[0, :up] = p.k.u_max
        x = np.asarray(res.run_batch(u)[0], dtype=np.int64)
        s0 = running_decisions((x @ w0 + b0)[None, :, None], lim)[0][0, :, 0]
        top = np.flatnonzero(s0 == lim)
        if not top.size:
            continue
        for t in np.flatnonzero(np.arange(len(s0)) > top[-1] + 2)[:8]:       # frames on the way down
            mate = _land_at(x, w_full, int(s0[t]), lim, int(t), p.bias_max, p.weight_max, rng)
            if mate is None:
                continue
            w = np.repeat(-w_full[:, None], kk, axis=1)
            b = np.full(kk, -p.bias_max, dtype=np.int64)
            w[:, 0], b[0] = w0, b0
            w[:, 1], b[1] = mate
            sums, dec = running_decisions((x[:t + 1] @ w + b)[None], lim)
            assert sums[0, t, 0] == sums[0, t, 1] == sums[0, t].max() and dec[0, t] == 0 and \
                np.all(sums[0, t, 2:] == -lim), "comedown_run: the landing missed"
            return w, b, u[0, :t + 1]
    return None


def _land_at(x, w_sat, v, lim, t, bias_max, weight_max, rng, batch=4096, rounds=16):
    """(w, b): an output whose running sum reaches ``v`` at frame ``t`` exactly, within ``+-lim`` before:
    weights near the saturating ones (random multiples, then random steps of a few LSB) and the bias that
    makes the sum exact, where ``t + 1`` divides what is left."""
    xs = x[:t + 1].sum(axis=0)
    for _ in range(rounds):
        scale = rng.uniform(0.3, 1.0, size=(batch, 1))
        w = np.clip(np.round(w_sat[None, :] * scale) + rng.integers(-3, 4, size=(batch, len(w_sat))),
                    -weight_max, weight_max).astype(np.int64)
        num = v - w @ xs
        for i in np.flatnonzero(num % (t + 1) == 0):
            b = int(num[i] // (t + 1))
            if abs(b) <= bias_max and np.all(np.abs(np.cumsum(x[:t] @ w[i] + b)) <= lim):
                return w[i], b
    return None


def _land(x, w_sat, v, lim, t_sat, bias_max, weight_max, rng, tries):
    """(w, b, t): an output whose running sum reaches ``v`` at frame ``t >= t_sat``, within ``+-lim`` before."""
    for _ in range(tries):
        scale = rng.uniform(0.3, 1.0)
        w = np.clip(np.round(w_sat * scale), -weight_max, weight_max).astype(np.int64)
        a = np.cumsum(x @ w)                     # sum_{s<=t} x_s . w
        t = np.arange(len(a), dtype=np.int64)
        num = v - a
        ok = (t >= t_sat) & (num % (t + 1) == 0)
        for tt in np.flatnonzero(ok):
            b = int(num[tt] // (tt + 1))
            if abs(b) > bias_max:
                continue
            s = np.cumsum(x[:tt + 1] @ w + b)
            if np.all(np.abs(s[:-1]) <= lim):
                return w, b, int(tt)
    return None
