"""``memres verify --coverage`` and ``--stimulus corners``: coverage of the generated Verilog per block."""

import json
from pathlib import Path

import numpy as np
import pytest

from memres.pygen.verify import VerifyError, load_design, verify
from memres.testbenches.verilator_coverage import format_summary, merge, read_coverage, reachable, summarise, uncovered, \
    unreachable_reason
from memres.sw_model.fixed import FixedReservoir
from memres.testbenches.directed import APART, apart_runs, codes_differ, comedown_run
from memres.testbenches.job import Job, load_schedule
from memres.testbenches.predict import load_beats, stray_beats, writes_readout
from memres.testbenches.stimulus import CORNER_READOUTS, SATURATION_FRAMES_MAX, corner_readout, corner_reloads, \
    corner_sequences, saturating_run


TINY = Path(__file__).resolve().parents[2] / "examples" / "tiny.json"


def _point(page, line, what, hier="tb.dut", f="core.v"):
    key = "\x01".join(f"{k}\x02{v}" for k, v in (("f", f), ("l", line), ("t", page.split("/")[0][2:]),
                                                  ("page", page), ("o", what), ("h", hier)))
    return "\x01" + key


def test_coverage_file_parsed_per_block_and_kind(tmp_path):
    (tmp_path / "core.v").write_text("assign a = b ? 1 : 0;\n"
                                     "if (\\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end\n")
    dat, v = tmp_path / "coverage.dat", str(tmp_path / "core.v")
    dat.write_text("# SystemC::Coverage-3\n" + "\n".join([
        f"C '{_point('v_line/memres_top.cells', 1, 'block')}' 3",
        f"C '{_point('v_branch/memres_top.cells', 1, 'cond_then', f=v)}' 0",
        f"C '{_point('v_branch/memres_top.cells', 2, 'if', f=v)}' 0",
        f"C '{_point('v_toggle/memres_top', 1, 'x:0->1')}' 1",
        f"C '{_point('v_toggle/memres_verify_tb', 1, 'y:0->1')}' 0"]) + "\n")
    pts = read_coverage(dat)
    s = summarise(pts, exclude=("memres_verify_tb",))
    assert s["memres_top.cells"]["line"] == {"covered": 1, "total": 1}
    assert s["memres_top.cells"]["branch"] == {"covered": 0, "total": 2}
    assert s["all"]["toggle"] == {"covered": 1, "total": 1}          # the harness left out
    assert "memres_verify_tb" not in s and "memres_top.cells" in format_summary(s)
    u = uncovered(pts, "branch", exclude=("memres_verify_tb",))
    assert [r["line"] for r in u] == [1, 2]
    assert u[1]["reason"].startswith("unreachable") and not u[0]["reason"]
    assert reachable(u) == [u[0]]
    assert summarise(merge(pts, pts))["all"]["line"] == {"covered": 1, "total": 1}
    assert unreachable_reason("if (x) begin end") == ""


def test_coverage_needs_verilator(tmp_path):
    with pytest.raises(VerifyError, match="verilator"):
        verify(TINY, n_inputs=2, n_outputs=2, sim="icarus", coverage=True, out_dir=tmp_path)


def test_corner_stimulus_reaches_the_ends():
    d, _ = load_design(TINY, n_inputs=3, n_outputs=2)
    seqs = corner_sequences(d, np.random.default_rng(1), 2, 5)
    u = d.params.k.u_max
    assert any((s == u).all() and len(s) == 20 for s in seqs) and any((s == 0).all() for s in seqs)
    assert any(len(set(s[:, 0])) == 2 for s in seqs)          # alternating full scale / zero
    w, b = corner_readout(d, np.random.default_rng(1))
    wm, bm = d.params.weight_max, d.params.bias_max
    assert w.max() > wm + 1 and w.min() < -wm - 1                   # the core's clamps act
    assert {wm, wm + 1, -wm, -wm - 1} <= set(w.ravel().tolist())    # on and one beyond each bound
    assert set(np.abs(b).tolist()) <= {bm, bm + 1, int(np.abs(b).max())}


@pytest.fixture(scope="module")
def small_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cov") / "small.json"
    path.write_text(json.dumps({"reservoir": {"n_devices": 4, "n_virtual": 2, "state_features": True, "seed": 3}}))
    return path


def test_coverage_of_random_and_corner_runs(small_config, tmp_path):
    """Both runs pass; every line block is reached; the corners reach branches the random run does not
    (state clamps, load clamps) and every branch left is either named unreachable or listed."""
    common = dict(n_inputs=2, n_outputs=2, lanes=2, random_count=2, coverage=True, waves=False)
    rnd = verify(small_config, out_dir=tmp_path / "r", **common)
    cor = verify(small_config, out_dir=tmp_path / "c", stimulus="corners", seeds=2, **common)
    assert rnd["passed"] and cor["passed"], (rnd["first_mismatch"], cor["first_mismatch"])
    for r in (rnd, cor):
        assert r["coverage"]["all"]["line"]["covered"] == r["coverage"]["all"]["line"]["total"] > 0
        assert {"memres_top.cells", "memres_top.readout", "memres_top.classifier"} <= set(r["coverage"])
        assert "memres_verify_tb" not in r["coverage"]
    rb, cb = rnd["coverage"]["all"]["branch"], cor["coverage"]["all"]["branch"]
    assert rb["total"] == cb["total"] and cb["covered"] > rb["covered"]
    assert len(cor["coverage_uncovered"]) == cb["total"] - cb["covered"]
    # the saturating run drives the classifier's running sums into their clamp: no classifier branch is left
    # but Yosys' dummy triggers
    left = [u for u in reachable(cor["coverage_uncovered"]) if u["block"] == "memres_top.classifier"]
    assert not left, left


@pytest.mark.parametrize("sign", [1, -1])
def test_saturating_run_passes_the_limit(sign):
    d, _ = load_design(TINY, n_inputs=3, n_outputs=2)
    w, b, seq = saturating_run(d, sign)
    p = d.params
    feats = FixedReservoir(d.config.reservoir, d.config.fixed, 3).run_batch(seq[None])[0]
    y = sign * (feats @ np.clip(w, -p.weight_max, p.weight_max) + b)
    assert np.cumsum(y, axis=0).max() > p.seq_limit > y.max() * d.config.fixed.max_frames


def test_apart_runs_make_the_start_value_and_the_clamp_decide():
    """Every output but one in the clamp, that one on its edge: the decisions then see a sequence sum one
    LSB off (here the start value 1 instead of 0, the classifier rule's own ``start``), which they do not
    when every output saturates alike."""
    from memres.sw_model.classify import running_decisions
    d, _ = load_design(TINY, n_inputs=3, n_outputs=3)
    p = d.params
    up = saturating_run(d, 1)
    runs = apart_runs(d, up[0], SATURATION_FRAMES_MAX)
    assert len(runs) == sum(len(v) for v in APART.values())     # every landing found (each checked inside)
    res = FixedReservoir(d.config.reservoir, d.config.fixed, 3)

    def turned(w, b, seq):
        y = (res.run_batch(seq[None])[0] @ w + b)[None]
        _, dec = running_decisions(y, p.seq_limit)
        _, dec1 = running_decisions(y, p.seq_limit, start=np.ones((1, 3), dtype=np.int64))
        return bool((dec != dec1).any())

    assert not turned(*up)
    assert any(turned(*r) for r in runs)


def test_corner_reloads_put_every_bound_value_on_every_bias():
    d, _ = load_design(TINY, n_inputs=3, n_outputs=3)
    bm = d.params.bias_max
    reloads = corner_reloads(d, np.random.default_rng(2), 100)
    at = [r[0] for r in reloads]
    assert len(reloads) == CORNER_READOUTS and at == sorted(set(at)) and 0 < at[0] and at[-1] < 100
    for k in range(3):
        assert {bm, bm + 1, -bm, -bm - 1} <= {int(r[2][k]) for r in reloads}
    assert len(corner_reloads(d, np.random.default_rng(2), 3)) == 2      # a short run: fewer, still distinct


def test_stray_beats_lie_outside_the_readout_and_are_scrambled_in():
    """K = 3 of a 2-bit k field, passes = 5 of a 3-bit node field, N = 8 of a 3-bit device field (none out)."""
    d, _ = load_design(TINY, n_inputs=3, n_outputs=3)
    p = d.params
    stray = stray_beats(p, np.random.default_rng(1))
    assert stray and not any(writes_readout(p, b) for b in stray)
    assert {b["k"] for b in stray if b["k"] >= 3} == {3} and max(b["node"] for b in stray) >= p.passes
    assert all(b["device"] < 8 for b in stray)              # no device address beyond N fits the field
    rng = np.random.default_rng(3)
    w, b = rng.integers(-5, 6, size=(p.n_features, 3)), rng.integers(-5, 6, size=3)
    job = Job(d, [np.zeros((2, 3), dtype=np.int64)], seed=4, reloads=[(1, w, b)])
    plain, _ = load_schedule(job, p)
    job.scramble_loads = True
    mixed, at = load_schedule(job, p)
    assert plain == load_beats(p, w, b)
    key = lambda x: tuple(sorted(x.items()))     # noqa: E731
    inside = [x for x in mixed if writes_readout(p, x)]
    assert sorted(map(key, inside)) == sorted(map(key, plain)) and inside != plain and set(at) == {1}
    assert len(mixed) - len(inside) == len(stray_beats(p, np.random.default_rng(0)))


def test_comedown_run_turns_on_the_upper_clamp_value():
    """A sum kept at L - 1 instead of L in the clamp turns a decision of the come-down run, and of no run
    where every output saturates alike."""
    from memres.sw_model.classify import running_decisions
    d, _ = load_design(TINY, n_inputs=3, n_outputs=3)
    p, lim = d.params, d.params.seq_limit
    res = FixedReservoir(d.config.reservoir, d.config.fixed, 3)

    def decisions(y, top):
        acc, out = np.zeros(y.shape[1], dtype=np.int64), []
        for row in y:
            pre = acc + row
            acc = np.where(pre > lim, top, np.maximum(pre, -lim))
            out.append(int(np.argmax(acc)))
        return np.array(out)

    def turned(w, b, seq):
        y = res.run_batch(seq[None])[0] @ w + b
        assert (decisions(y, lim) == running_decisions(y[None], lim)[1][0]).all()
        return bool((decisions(y, lim) != decisions(y, lim - 1)).any())

    run = comedown_run(d, SATURATION_FRAMES_MAX)
    assert run is not None and turned(*run)
    assert not turned(*saturating_run(d, 1))


def test_a_clamped_pulse_code_read_one_off():
    """On tiny no state a device can reach moves differently for code 0 than for 1 (the lower clamp's value
    one off cannot show: proven by exhaustion), while the top code's neighbour does."""
    k = load_design(TINY, n_inputs=3, n_outputs=3)[0].params.k
    assert codes_differ(k, 0, 1) == 0 and codes_differ(k, k.q_max, k.q_max - 1) > 0
