"""InputProjection against sw_model.fixed.pulse_codes, beat by beat, with gaps and back-pressure."""

import numpy as np
import pytest

from memres.hdl import InputProjection
from hdl_reference import frames_of, make_params, pulse_beats, random_sequences
from hdl_sim import StreamChecker, StreamDriver, simulate


def check_projection(p, seqs, rng, gap=0.3, stall=0.3):
    dut = InputProjection(p)
    expected = pulse_beats(p, seqs)
    drv = StreamDriver(dut.i, frames_of(seqs), rng, gap)
    chk = StreamChecker(dut.o, len(expected), rng, stall)
    simulate(dut, [drv], [chk])
    for idx, (exp, got) in enumerate(zip(expected, chk.beats)):
        for name in ("row", "node", "slot", "frame_start", "frame_end", "seq_first", "seq_last"):
            assert getattr(got, name) == exp[name], f"beat {idx}: {name} {getattr(got, name)} != {exp[name]}"
        for lane, q in enumerate(exp["q"]):
            if q is not None:
                assert got.q[lane] == q, (f"beat {idx} (row {exp['row']}, node {exp['node']}, slot {exp['slot']}) "
                                          f"lane {lane}: q = {got.q[lane]}, model {q}")


# (1, 6, 2, 4) and (4, 8, 2, 5): a mask ROM shorter than the frame (params.mask_depth), whose end pass reads
# rows of the first pass (the row's low bits)
@pytest.mark.parametrize("lanes, n, ml, c", [(1, 5, 2, 3), (2, 6, 3, 8), (4, 8, 2, 5), (4, 4, 3, 4), (2, 4, 2, 1),
                                             (1, 6, 2, 4)])
def test_projection_matches_model_random(lanes, n, ml, c):
    rng = np.random.default_rng(lanes * 100 + n)
    p = make_params(n, ml, c, lanes=lanes, seed=lanes)
    check_projection(p, random_sequences(p, rng, 3, 4), rng)


@pytest.mark.parametrize("kind", ["full", "zero", "extremes"])
def test_projection_matches_model_extremes(kind):
    rng = np.random.default_rng(7)
    # A large input_scale drives many codes into both clamps.
    p = make_params(6, 3, 7, lanes=2, reservoir={"input_scale": 4.0})
    check_projection(p, random_sequences(p, rng, 2, 3, kind), rng)


def test_projection_back_to_back_without_stalls():
    rng = np.random.default_rng(3)
    p = make_params(6, 2, 3, lanes=2)
    seqs = random_sequences(p, rng, 2, 3)
    dut = InputProjection(p)
    expected = pulse_beats(p, seqs)
    drv = StreamDriver(dut.i, frames_of(seqs), rng, gap=0)
    chk = StreamChecker(dut.o, len(expected), rng, stall=0)
    simulate(dut, [drv], [chk])
    assert np.all(np.diff(chk.cycles) == 1), "beats must follow each other every clock across frames"
    assert chk.cycles[0] - drv.cycles[0] == dut.latency


@pytest.mark.parametrize("n, ml, state_features, depth, rows", [
    (200, 10, True, 2048, 2200),   # the FSDD default: the end pass's rows are not stored
    (6, 2, True, 16, 18),          # 12 pulse rows -> 16 (rows 16, 17 read rows 0, 1)
    (5, 2, True, 15, 15),          # 10 pulse rows, 16 > 15 rows: all rows
    (40, 10, True, 440, 440),      # published alpha: 400 -> 512 > 440
    (6, 2, False, 12, 12),         # no end pass: all rows
])
def test_mask_rom_depth(n, ml, state_features, depth, rows):
    p = make_params(n, ml, 3, state_features=state_features)
    assert (p.mask_depth, p.rows) == (depth, rows)
    rom, full = p.mask_rom_rows(), p.mask_rows()
    assert len(rom) == depth and rom == full[:depth]
    assert all(word == 0 for word in full[depth:]), "a row left out of the ROM must be an end-pass row"
    assert depth == rows or (depth & (depth - 1)) == 0, "a shorter ROM is addressed by the row's low bits"
