"""Classifier against the contract: saturating per-sequence sums, argmax with ties to the lowest index."""

import numpy as np
import pytest

from memres.hdl import Classifier
from hdl_reference import make_params, sequence_decisions
from hdl_sim import StreamChecker, StreamDriver, simulate


def check_classifier(p, ys_per_seq, rng, gap=0.3, stall=0.3):
    dut = Classifier(p)
    beats, expected = [], []
    for ys in ys_per_seq:
        _, dec = sequence_decisions(p, ys)
        for t, y in enumerate(ys):
            beats.append({"y": [int(v) for v in y], "first": int(t == 0), "last": int(t == len(ys) - 1)})
            expected.append((list(map(int, y)), int(dec[t]), int(t == len(ys) - 1)))
    drv = StreamDriver(dut.i, beats, rng, gap)
    chk = StreamChecker(dut.o, len(beats), rng, stall)
    simulate(dut, [drv], [chk])
    for t, ((y, dec, last), got) in enumerate(zip(expected, chk.beats)):
        assert [got.y[k] for k in range(p.n_outputs)] == y, f"frame {t}: y"
        assert got.decision == dec, f"frame {t}: decision {got.decision}, model {dec}"
        assert got.last == last


def frame_bound(p):
    return (1 << (p.widths.frame_acc - 1)) - 1


@pytest.mark.parametrize("n_outputs", [1, 2, 3, 4, 5, 10])
def test_classifier_random(n_outputs):
    """K < 3 selects the operands in the step; K >= 3 a step ahead (Classifier.PREFETCH_OUTPUTS)."""
    rng = np.random.default_rng(n_outputs)
    p = make_params(4, 2, 3, n_outputs=n_outputs)
    lim = frame_bound(p)
    seqs = [rng.integers(-lim, lim + 1, size=(int(rng.integers(1, 6)), n_outputs)) for _ in range(5)]
    check_classifier(p, seqs, rng)
    check_classifier(p, seqs, rng, gap=0.0, stall=0.0)       # steps back to back


def test_classifier_prefetch_with_two_outputs_is_caught(monkeypatch):
    """With K = 2 the prefetched Y[k + 1] is the one stage B is writing: the prefetch would read it stale."""
    monkeypatch.setattr(Classifier, "PREFETCH_OUTPUTS", 2)
    rng = np.random.default_rng(3)
    p = make_params(4, 2, 3, n_outputs=2)
    seqs = [np.array([[5, 7], [1, 2], [3, -4], [6, 6]])]
    with pytest.raises(AssertionError, match="decision|y"):
        check_classifier(p, seqs, rng, gap=0.0, stall=0.0)


def test_classifier_ties_go_to_lowest_index():
    rng = np.random.default_rng(1)
    p = make_params(4, 2, 3, n_outputs=5)
    seqs = [np.array([[0, 0, 0, 0, 0]]), np.array([[1, 3, 3, 2, 3], [0, 0, 0, 0, 0]]),
            np.array([[-5, -5, -7, -5, -9]]), np.array([[2, 1, 1, 1, 2], [-2, 1, 1, 1, -2]])]
    check_classifier(p, seqs, rng)


def test_classifier_saturates_long_sequences():
    """With max_frames = 2 the sums saturate after a few full-scale frames, and stay saturated."""
    rng = np.random.default_rng(2)
    p = make_params(4, 2, 3, n_outputs=3, fixed={"max_frames": 2})
    lim = frame_bound(p)
    seq = np.array([[lim, -lim, lim]] * 6 + [[-lim, lim, 0]] * 3 + [[-lim, lim, -lim]] * 8)
    sums, _ = sequence_decisions(p, seq)
    assert abs(sums).max() == p.seq_limit
    check_classifier(p, [seq, seq[:3]], rng)


def test_classifier_rule_saturates_after_every_addition():
    """memres.sw_model.classify.running_decisions, the rule the RTL and the checker share: the running sum
    saturates after each frame (not a clamp of the exact total), ties go to the lowest index."""
    from memres.sw_model.classify import running_decisions
    y = np.array([[9, 0], [9, 1], [-5, 1]])
    sums, dec = running_decisions(y, 10)
    assert sums.tolist() == [[9, 0], [10, 1], [5, 2]]      # exact totals would be 18 and 13
    assert dec.tolist() == [0, 0, 0]
    sums, dec = running_decisions(np.array([[3, 3, 1], [0, 1, 2]]), 100)
    assert dec.tolist() == [0, 1]
    big = (1 << 63) - 1                                       # 64-bit sums: no int64 overflow
    sums, dec = running_decisions(np.array([[big, -big], [big, big]], dtype=object), big)
    assert sums.tolist() == [[big, -big], [big, 0]] and dec.tolist() == [0, 0]
    batch = np.random.default_rng(1).integers(-50, 50, size=(4, 7, 3))
    s_b, d_b = running_decisions(batch, 60)
    for i in range(4):
        s_i, d_i = running_decisions(batch[i], 60)
        assert (s_b[i] == s_i).all() and (d_b[i] == d_i).all()
