"""``memres build``: bitstreams for both boards, and the report parsed from the real tool output.

The default run builds a tiny configuration (N=8, ML=2, 8 inputs, 4 outputs)
for the iCEBreaker at its 12 MHz oscillator and for the ULX3S through its PLL
at 30 MHz (about a minute each once YoWASP is warm). The FSDD models and the
"does not fit" / "misses the clock" builds take minutes: ``-m slow``.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import warnings
from pathlib import Path

import pytest
from amaranth.hdl import Fragment, Module, UnusedElaboratable

from memres.pygen import build as build_mod
from memres.pygen.build import BuildError, build, make_design, parse_nextpnr_log, parse_yosys_report


def _build_or_skip(*args, **kw) -> dict:
    from memres.testbenches.toolchain import ToolchainError
    try:
        return build(*args, **kw)
    except ToolchainError as e:   # pragma: no cover - YoWASP missing
        pytest.skip(f"YoWASP tools unavailable: {e}")


@pytest.fixture(scope="module")
def ice40(tiny_config, tmp_path_factory) -> dict:
    return _build_or_skip(tiny_config, "icebreaker", tmp_path_factory.mktemp("ice40"), n_inputs=8, n_outputs=4)


@pytest.fixture(scope="module")
def ecp5(tiny_config, tmp_path_factory) -> dict:
    return _build_or_skip(tiny_config, "ulx3s", tmp_path_factory.mktemp("ecp5"), n_inputs=8, n_outputs=4,
                          clock_mhz=30, seeds=2)


def _check_report(r: dict, ext: str) -> None:
    bit = Path(r["bitstream"])
    assert bit.suffix == ext and bit.stat().st_size > 50_000
    for key in ("bitstream", "fmax_mhz", "utilisation", "frames_per_s", "realtime_factor"):
        assert key in r
    assert r["meets_clock"] and r["fmax_mhz"] >= r["clock_mhz"]
    for clock in r["clocks"].values():    # nextpnr judged timing at the clock the board runs at
        assert clock["target_mhz"] == pytest.approx(r["clock_mhz"], rel=1e-3)
    p = r["parameters"]
    assert r["frames_per_s"] == pytest.approx(r["clock_mhz"] * 1e6 / r["cycles_per_frame"])
    assert r["realtime_factor"] == pytest.approx(r["frames_per_s"] * p["n_virtual"] * p["dt_ns"] * 1e-9)
    # realtime_factor is device time emulated per second; audio real time is the other figure
    assert r["device_time_factor"] == r["realtime_factor"]
    assert p["audio_frames_per_s"] == 100      # the front-end's default frame rate
    assert r["audio_realtime_factor"] == pytest.approx(r["frames_per_s"] / 100)
    assert "x audio real time" in build_mod.summary(r) and "device-time factor" in build_mod.summary(r)
    assert json.loads((Path(r["out_dir"]) / "report.json").read_text())["bitstream"] == r["bitstream"]


def test_icebreaker_bitstream_of_a_small_configuration(ice40):
    _check_report(ice40, ".bin")
    assert ice40["pll"] is None and ice40["clock_mhz"] == 12
    lcs = ice40["utilisation"]["lcs"]
    assert 0 < lcs["used"] <= lcs["available"] == 5280
    assert ice40["utilisation"]["luts"]["used"] > 0 and ice40["utilisation"]["ffs"]["used"] > 0


def test_ulx3s_bitstream_through_the_pll(ecp5):
    _check_report(ecp5, ".bit")
    assert ecp5["clock_mhz"] == pytest.approx(30) and ecp5["pll"]["CLKOP_DIV"] >= 1
    assert ecp5["utilisation"]["plls"]["used"] == 1
    assert ecp5["utilisation"]["luts"]["available"] == 83640


def test_seeds_are_all_placed_and_the_best_is_kept(ecp5):
    """--seeds 2: nextpnr ran with each seed on one netlist; the report and the kept bitstream are the best's."""
    build_dir = Path(ecp5["out_dir"]) / "build"
    seeds = ecp5["seeds"]
    assert [s["seed"] for s in seeds] == [1, 2]
    for s in seeds:   # each seed's figure is its own log's
        tim = (build_dir / f"seed-{s['seed']}" / "top.tim").read_text()
        assert min(c["fmax_mhz"] for c in parse_nextpnr_log(tim)["clocks"].values()) == s["fmax_mhz"]
    best = max(seeds, key=lambda s: s["fmax_mhz"])
    assert ecp5["seed"] == best["seed"] and ecp5["fmax_mhz"] == best["fmax_mhz"]
    assert ecp5["fmax_spread_mhz"] == pytest.approx(abs(seeds[0]["fmax_mhz"] - seeds[1]["fmax_mhz"]), abs=0.01)
    assert "--seed 2 " in (build_dir / "seed-2" / "pnr.sh").read_text()
    assert (build_dir / "top.tim").read_text() == (build_dir / f"seed-{best['seed']}" / "top.tim").read_text()
    kept = (build_dir / f"seed-{best['seed']}" / "top.bit").read_bytes()
    assert Path(ecp5["bitstream"]).read_bytes() == kept


def test_seeds_below_one_are_refused(tiny_config, tmp_path):
    with pytest.raises(BuildError, match="--seeds"):
        build(tiny_config, "ulx3s", tmp_path, seeds=0)


@pytest.mark.parametrize("which", ["ice40", "ecp5"])
def test_report_equals_what_the_tools_wrote(which, request):
    """Fmax is the last 'Max frequency' line of nextpnr's log; utilisation rows are copied from it."""
    r = request.getfixturevalue(which)
    build_dir = Path(r["out_dir"]) / "build"
    tim = (build_dir / "top.tim").read_text()
    lines = [ln for ln in tim.splitlines() if "Max frequency for clock" in ln]
    assert len(lines) >= 2                        # once after placement, once after routing
    assert r["fmax_mhz"] == float(re.search(r": ([0-9.]+) MHz", lines[-1]).group(1))
    for row in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", tim.split("Device utilisation:")[1].split("\n\n")[0]):
        assert r["nextpnr_cells"][row[0]] == {"used": int(row[1]), "available": int(row[2])}
    stat = (build_dir / "top.rpt").read_text()
    lut = "SB_LUT4" if which == "ice40" else "LUT4"
    counts = re.findall(rf"^\s+(\d+)\s+(?:cells\s+)?{lut}\s*$", stat, re.M)
    assert r["yosys_cells"][lut] == int(counts[-1])


def test_an_unchanged_build_is_not_run_again(ice40, tiny_config):
    again = build(tiny_config, "icebreaker", ice40["out_dir"], n_inputs=8, n_outputs=4)
    assert again["reused"] and again["fmax_mhz"] == ice40["fmax_mhz"] and again["seconds"] < 30


def test_a_build_reports_the_verification_that_covers_it(ice40, tiny_config, tmp_path, monkeypatch):
    """Not found: null and the command to run; after `memres verify --board` of the same core: that run."""
    from memres.pygen.verified import RECORDS_ENV
    from memres.pygen.verify import verify
    with monkeypatch.context() as m:
        m.setenv(RECORDS_ENV, str(tmp_path / "no-records"))     # no record there
        r = build(tiny_config, "icebreaker", ice40["out_dir"], n_inputs=8, n_outputs=4)
        assert r["reused"] and r["verification"] is None
        assert f"memres verify {tiny_config} --board icebreaker" in r["verification_hint"]
        assert "not verified" in build_mod.summary(r)
    try:
        v = verify(tiny_config, board="icebreaker", n_inputs=8, n_outputs=4, random_count=2,
                   out_dir=tmp_path / "v", command="memres verify tiny.json --board icebreaker")
    except Exception as e:  # noqa: BLE001
        if "ToolchainError" in type(e).__name__:
            pytest.skip(f"Verilator unavailable: {e}")
        raise
    assert v["passed"] and v["weight_ram"] == "spram"
    r = build(tiny_config, "icebreaker", ice40["out_dir"], n_inputs=8, n_outputs=4)
    assert r["reused"] and r["core_key"] == v["core_key"]
    cov = r["verification"]
    assert cov["core"]["compared"] == v["compared"] and cov["core"]["mismatches"] == 0
    assert cov["core_options"] == {"lanes": 1, "readout": "serial", "weight_ram": "spram"}
    assert cov["core"]["command"] == "memres verify tiny.json --board icebreaker"
    assert json.loads((Path(r["out_dir"]) / "report.json").read_text())["verification"] == cov
    assert "verified (" in build_mod.summary(r)


def test_readout_default_per_board(tiny_config):
    """Serial on the iCEBreaker (the UP5K's logic cells), parallel on the ULX3S; --readout overrides both."""
    from memres.pygen.build import DEFAULT_READOUT
    assert DEFAULT_READOUT == {"icebreaker": "serial", "ulx3s": "parallel"}
    for board, readout, want in (("icebreaker", None, "serial"), ("ulx3s", None, "parallel"),
                                 ("icebreaker", "parallel", "parallel"), ("ulx3s", "serial", "serial")):
        design, *_ = make_design(tiny_config, board, n_inputs=8, n_outputs=4, readout=readout)
        p = design.core.params
        assert p.readout == want, (board, readout)
        assert design.core.cycles_per_frame == (p.rows * 4 if want == "serial" else max(p.rows, 4))
        Fragment.get(design, None)     # elaborated, as a build would: nothing is left unused


def test_the_icebreaker_pll_is_instantiated_for_a_faster_clock(tiny_config):
    """SB_PLL40_PAD on the clock pin with icepll's dividers, and the clock constraint for nextpnr."""
    from memres.hdl.board import BoardTop
    design, _, pll, spec = make_design(tiny_config, "icebreaker", clock_mhz=24, n_inputs=8, n_outputs=4)
    plan = spec.platform().prepare(BoardTop(spec, design, pll), name="top")
    il, pcf = plan.files["top.il"], plan.files["top.pcf"]
    assert "SB_PLL40_PAD" in il and re.search(r"parameter \\DIVF 63\b", il)
    assert "set_frequency clk12_0__io 12.0" in pcf     # nextpnr derives the PLL output's 24 MHz from it
    assert design.clk_freq == 24e6 and design.link.divisor == round(24e6 / 115200)


# --- parsing, on excerpts of real nextpnr-ice40 output --------------------------------------

NEXTPNR_EXCERPT = """\
Info: Device utilisation:
Info: \t         ICESTORM_LC:   8215/   5280   155%
Info: \t        ICESTORM_RAM:     14/     30    46%
Info: \t               SB_IO:      8/     39    20%
Info: \t        ICESTORM_DSP:      8/      8   100%

Info: Placed 11 cells based on constraints.
Info: Max frequency for clock 'cd_sync.clk': 14.90 MHz (PASS at 12.00 MHz)
Info: Routing..
Warning: Max frequency for clock 'cd_sync.clk': 11.72 MHz (FAIL at 12.00 MHz)
"""


def test_the_last_max_frequency_line_is_the_final_one():
    parsed = parse_nextpnr_log(NEXTPNR_EXCERPT)
    assert parsed["clocks"] == {"cd_sync.clk": {"fmax_mhz": 11.72, "target_mhz": 12.0, "pass": False}}
    assert parsed["cells"]["ICESTORM_LC"] == {"used": 8215, "available": 5280}
    assert build_mod._over_capacity(parsed["cells"]) == ["ICESTORM_LC 8215/5280 (156 %)"]


def test_yosys_statistics_of_the_top_module():
    text = "=== top ===\n\n   Number of cells:   10\n     3   SB_CARRY\n     7   SB_LUT4\n\n=== other ===\n  5 SB_LUT4\n"
    assert parse_yosys_report(text) == {"SB_CARRY": 3, "SB_LUT4": 7}


def test_build_cli_says_plainly_when_the_design_does_not_fit(monkeypatch, capsys, tiny_config):
    def fails(*a, **kw):
        raise BuildError("the design does not fit the iCE40UP5K-SG48: needs ICESTORM_LC 8215/5280 (156 %)",
                         {"board": "icebreaker"})
    monkeypatch.setattr(build_mod, "build", fails)
    parser = argparse.ArgumentParser()
    build_mod.add_arguments(parser)
    assert build_mod.run(parser.parse_args([str(tiny_config), "--board", "icebreaker", "--json"])) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["ok"] is False and "does not fit" in json.loads(out)["error"]
    assert "does not fit the iCE40UP5K" in err


def test_unknown_board_and_unreachable_clock_are_refused(tiny_config):
    with pytest.raises(BuildError, match="unknown board"):
        make_design(tiny_config, "de10")
    with pytest.raises(BuildError, match="16 to 275 MHz"):
        make_design(tiny_config, "icebreaker", clock_mhz=14)


def test_a_baud_rate_the_clock_cannot_make_is_refused_before_any_hardware_exists(tiny_config):
    """No core is built for a board whose link would be refused, so none is left unused (no warning)."""
    Fragment.get(Module(), None)    # Amaranth's "created but never used" warning is live from the first elaboration
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BuildError, match="2.5e\\+06 baud at 12 MHz"):
            make_design(tiny_config, "icebreaker", baud=2.5e6, n_inputs=8, n_outputs=4)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, UnusedElaboratable)] == []


# --- slow: real failures and the FSDD models ---------------------------------------------------

@pytest.mark.slow
def test_a_design_too_large_for_the_up5k_fails_saying_so(small_model, tmp_path):
    """The small FSDD model (32 inputs, 10 classes) with the parallel readout needs more logic cells than the UP5K has.

    (With the iCEBreaker's default, the serial readout, it fits: so does the 40 x 10 published-alpha model.)
    """
    with pytest.raises(BuildError, match="does not fit the iCE40UP5K") as e:
        build(small_model, "icebreaker", tmp_path, readout="parallel")
    assert e.value.report["board"] == "icebreaker"


@pytest.mark.slow
def test_a_clock_above_fmax_fails_saying_so(tiny_config, tmp_path):
    with pytest.raises(BuildError, match="misses the board clock") as e:
        build(tiny_config, "icebreaker", tmp_path, n_inputs=8, n_outputs=4, clock_mhz=48)
    assert e.value.report["fmax_mhz"] < 48 and Path(e.value.report["bitstream"]).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("board", ["ulx3s", "icebreaker"])
def test_fsdd_default_model_build(board, fsdd_root, tmp_path_factory):
    """The default FSDD model: ULX3S builds; the iCEBreaker either builds or says it does not fit."""
    from memres.sw_model import workflow
    path = tmp_path_factory.getbasetemp() / "fsdd-default.npz"
    if not path.is_file():
        workflow.train("fsdd", data_dir=fsdd_root).save(path)
    try:
        r = build(path, board, tmp_path_factory.mktemp(board))
    except BuildError as e:
        assert board == "icebreaker" and "does not fit" in str(e), str(e)
        return
    assert Path(r["bitstream"]).is_file() and r["frames_per_s"] > 0


@pytest.mark.slow
def test_fsdd_up5k_model_fits_the_icebreaker(fsdd_root, tmp_path):
    """examples/fsdd_up5k.toml: at least 98.5 % integer accuracy, fits the UP5K, meets 24 MHz, >= 1000 frames/s."""
    from memres.sw_model import workflow
    from memres.sw_model.config import load_config
    example = Path(__file__).resolve().parents[2] / "examples/fsdd_up5k.toml"
    model = workflow.train("fsdd", load_config(example), data_dir=fsdd_root)
    assert model.metrics["fixed"]["accuracy"] >= 0.985, model.metrics["fixed"]
    path = tmp_path / "up5k.npz"
    model.save(path)
    r = build(path, "icebreaker", tmp_path / "build", clock_mhz=24)
    used = {name: r["utilisation"][name]["used"] for name in ("lcs", "brams", "dsps", "spram")}
    assert used["lcs"] <= 5280 and used["brams"] <= 30 and used["dsps"] <= 8 and used["spram"] <= 4, used
    assert r["meets_clock"] and r["fmax_mhz"] >= 24
    assert r["parameters"]["readout"] == "serial" and r["frames_per_s"] >= 1000


def test_abc_failure_switches_the_build_script_to_classic_abc(tmp_path):
    """A Yosys run that stopped in an ABC pass on the ECP5 gets the classic-abc fallback in place of synth_ecp5."""
    (tmp_path / "top.ys").write_text("read_rtlil top.il\n# (script_after_read placeholder)\n"
                                     "    synth_ecp5  -top top\nwrite_json top.json\n")
    (tmp_path / "top.rpt").write_text("2.46.27.7. Executing ABC_OPS_REINTEGRATE pass (reintegrate).\n"
                                      "ERROR: Assert `GetSize(conn.first) == GetSize(conn.second)' failed\n")
    assert build_mod._abc_failed(tmp_path, "ecp5")
    ys = (tmp_path / "top.ys").read_text()
    assert "synth_ecp5  -top top" not in ys and "abc -dress -lut 4:7" in ys
    assert "synth_ecp5 -top top -run :map_luts" in ys and ys.endswith("write_json top.json\n")
    assert not build_mod._abc_failed(tmp_path, "ecp5")          # already switched: no second fallback
    (tmp_path / "top.rpt").write_text("2.3. Executing HIERARCHY pass.\nERROR: Module `x' not found\n")
    (tmp_path / "top.ys").write_text("    synth_ice40 -dsp -top top\n")
    assert not build_mod._abc_failed(tmp_path, "ice40")
