"""``memres verify --coverage`` and ``--stimulus corners``: coverage of the generated Verilog per block."""

import json
from pathlib import Path

import numpy as np
import pytest

from memres.pygen.verify import VerifyError, load_design, verify
from memres.testbenches.verilator_coverage import format_summary, merge, read_coverage, reachable, summarise, uncovered, \
    unreachable_reason
from memres.sw_model.fixed import FixedReservoir
from memres.testbenches.directed import APART, apart_runs
from memres.testbenches.stimulus import SATURATION_FRAMES_MAX, corner_readout, corner_sequences, saturating_run


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
