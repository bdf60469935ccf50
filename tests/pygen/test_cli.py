"""The memres command line: JSON contracts, saved models, clear errors."""

import argparse
import io
import json
import logging
import subprocess
import sys

import pytest
from rich.console import Console

from memres.pygen import cli
from memres.pygen.build import DEFAULT_CLOCK_MHZ, DEFAULT_READOUT
from memres.pygen.cli import COMMANDS, build_parser, main
from memres.pygen.console import setup_logging
from memres.pygen.options import HardwareOptions, board_clock_mhz
from memres.pygen.source import load_source
from memres.sw_model import progress
from memres.sw_model.errors import MemresError


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def henon_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "henon.npz"
    assert main(["train", "--task", "henon", "-o", str(path), "--json", "-q"]) == 0
    return path


def test_train_regression_json_keys(henon_model, capsys):
    capsys.readouterr()
    m = _json(capsys, ["evaluate", str(henon_model), "--json", "-q"])
    assert set(m["float"]) >= {"nrmse"} and set(m["fixed"]) >= {"nrmse"}
    assert 0 < m["float"]["nrmse"] < 0.2 and 0 < m["fixed"]["nrmse"] < 0.2


def test_evaluate_reproduces_training_figures(henon_model, capsys, tmp_path):
    capsys.readouterr()
    t = _json(capsys, ["train", "--task", "henon", "-o", str(tmp_path / "again.npz"), "--json", "-q"])
    e = _json(capsys, ["evaluate", str(henon_model), "--json", "-q", "--plots", str(tmp_path / "p")])
    assert e["float"]["nrmse"] == pytest.approx(t["float"]["nrmse"], rel=1e-9)
    assert e["fixed"]["nrmse"] == pytest.approx(t["fixed"]["nrmse"], rel=1e-9)
    assert (tmp_path / "p" / "prediction.png").stat().st_size > 1000
    assert (tmp_path / "p" / "states.png").exists()


def test_bad_config_is_refused_naming_the_field(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"reservoir": {"tau": -1}}))
    assert main(["train", "--task", "henon", "--config", str(cfg), "-o", str(tmp_path / "m.npz"), "-q"]) == 2
    assert "reservoir.tau" in capsys.readouterr().err


def test_corrupt_model_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    assert main(["evaluate", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "bad.npz" in captured.err and len(captured.err.strip().splitlines()) == 1
    # with --json, stdout holds exactly one JSON object naming the error
    assert main(["evaluate", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    e = json.loads(captured.out)
    assert set(e) == {"error", "type"} and e["type"] == "ModelFileError" and "bad.npz" in e["error"]


def test_console_script_prints_only_json_on_stdout(tmp_path):
    out = subprocess.run([sys.executable, "-m", "memres.pygen.cli", "train", "--task", "second-order",
                          "-o", str(tmp_path / "m.npz"), "--json"], capture_output=True, text=True, check=True)
    m = json.loads(out.stdout)
    assert m["task"] == "second-order" and "nrmse" in m["fixed"]


def test_memory_capacity_shows_multi_timescale_memory(tmp_path, capsys):
    """A log-spaced spread of tau remembers far longer than one short tau (same everything else)."""
    base = {"n_devices": 30, "n_virtual": 4, "alpha": 0.001, "v_min": -3.0, "idle_ns": 1000.0,
            "state_features": True}
    spread, single = tmp_path / "spread.json", tmp_path / "single.json"
    spread.write_text(json.dumps({"reservoir": {**base, "tau": {"mode": "log-spaced", "low_ns": 200.0,
                                                                 "high_ns": 5000.0}}}))
    single.write_text(json.dumps({"reservoir": {**base, "tau": 1000.0}}))
    a = _json(capsys, ["memory", "--config", str(spread), "--json", "--max-delay", "10"])["memory_capacity"]
    b = _json(capsys, ["memory", "--config", str(single), "--json", "--max-delay", "10"])["memory_capacity"]
    assert a["total"] > 2 * b["total"]
    assert len(a["profile"]) == 10


# --- the dispatcher's contracts ---------------------------------------------------------------------

def _subparsers(parser):
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


#: Arguments still without help text, in modules outside the command-line layer's scope (pygen/program.py).
NO_HELP_YET = {("program", "--board")}


def test_every_argument_has_help_text():
    missing = {(name, (action.option_strings or [action.dest])[-1])
               for name, sp in _subparsers(build_parser()).items() for action in sp._actions if not action.help}
    assert missing <= NO_HELP_YET, f"arguments without help text: {sorted(missing - NO_HELP_YET)}"


def test_output_and_out_are_both_accepted():
    parser = build_parser()
    with_output = [name for name, sp in _subparsers(parser).items()
                   if any("--output" in a.option_strings for a in sp._actions)]
    assert set(with_output) >= {"train", "demo", "generate", "verify", "build", "bench", "sweep"}
    for name, sp in _subparsers(parser).items():
        flags = {f for a in sp._actions for f in a.option_strings}
        if "-o" in flags:
            assert {"--output", "--out"} <= flags, name
    for argv in (["generate", "m.npz"], ["build", "m.npz", "--board", "ulx3s"], ["bench"], ["sweep", "s.toml"]):
        a = parser.parse_args([*argv, "--out", "X"])
        b = parser.parse_args([*argv, "--output", "X"])
        assert vars(a) == vars(b)


def test_help_lists_the_typical_order_and_loads_no_command(tmp_path):
    code = ("import sys\nfrom pygen.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('memres.pygen.verify', 'memres.pygen.bench', 'memres.pygen.generate', 'memres.sw_model.workflow') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    help_text, loaded = out.rsplit("\n", 2)[0], out.strip().splitlines()[-1]
    assert loaded == "[]"
    order = [help_text.index(f"memres {c}", help_text.index("typical order"))
             for c in ("train", "evaluate", "generate", "verify", "build", "program")]
    assert order == sorted(order) and "memres run" in help_text


def test_only_memres_errors_are_user_errors(monkeypatch, capsys):
    def bug(args):
        raise ValueError("a numpy bug, not the user's mistake")

    def mistake(args):
        raise MemresError("a mistake the user can fix")

    monkeypatch.setattr("memres.pygen.memory.run", bug)
    with pytest.raises(ValueError, match="numpy bug"):
        main(["memory", "--json"])
    monkeypatch.setattr("memres.pygen.memory.run", mistake)
    assert main(["memory", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": "a mistake the user can fix", "type": "MemresError"}
    assert "memres memory: error: a mistake the user can fix" in captured.err


def test_missing_fsdd_folder_is_a_user_error(tmp_path):
    """Outside a terminal a long error stays on one line (no wrapping at 80 columns)."""
    missing = tmp_path / ("a-rather-long-folder-name-" * 4) / "fsdd"
    r = subprocess.run([sys.executable, "-m", "memres.pygen.cli", "train", "--task", "fsdd", "--data", str(missing),
                        "-o", str(tmp_path / "m.npz"), "--json"], capture_output=True, text=True)
    assert r.returncode == 2
    assert json.loads(r.stdout)["type"] == "FsddNotFoundError"
    (line,) = r.stderr.strip().splitlines()
    assert str(missing) in line and len(line) > 160


def test_progress_outside_a_terminal_is_a_line_every_tenth():
    buf = io.StringIO()
    setup_logging(console=Console(file=buf, force_terminal=False))
    try:
        with progress.task("steps", 1000) as advance:
            for _ in range(1000):
                advance(1)
        factory_tick = progress.factory("more", 4)
        for _ in range(4):
            factory_tick(1)
    finally:
        setup_logging(quiet=True)
    lines = buf.getvalue().splitlines()
    steps = [x for x in lines if x.startswith("steps:")]
    assert steps[0] == "steps: 0/1,000" and steps[-1].startswith("steps: 1,000/1,000 done in")
    assert 10 <= len(steps) <= 12 and "steps: 500/1,000 (50 %)" in "\n".join(steps)
    assert [x for x in lines if x.startswith("more:")][-1].startswith("more: 4/4 done")


def test_quiet_reports_no_progress(capsys):
    setup_logging(quiet=True)
    with progress.task("silent", 10) as advance:
        advance(10)
    assert "silent" not in capsys.readouterr().err


# --- one options object for the hardware commands ---------------------------------------------------

def test_hardware_options_defaults_per_command(henon_model):
    parser = build_parser(["generate", "verify", "build"])
    gen = HardwareOptions.from_args(parser.parse_args(["generate", str(henon_model), "-o", "x"])).resolved()
    assert (gen.lanes, gen.readout, gen.board) == (1, "parallel", None)
    ver = HardwareOptions.from_args(parser.parse_args(["verify", str(henon_model)]))
    assert (ver.lanes, ver.readout) == (None, None)          # verify: from --verilog, else 1 / parallel
    for board, readout, mhz in (("icebreaker", "serial", 12.0), ("ulx3s", "parallel", 25.0)):
        opts = HardwareOptions.from_args(parser.parse_args(["build", str(henon_model), "--board", board]))
        assert opts.resolved(DEFAULT_READOUT) == HardwareOptions(1, readout, board, mhz, None, None)
    opts = HardwareOptions.from_args(parser.parse_args(["build", str(henon_model), "--board", "ulx3s", "--lanes",
                                                        "2", "--readout", "serial", "--clock-mhz", "40"]))
    assert opts.resolved(DEFAULT_READOUT) == HardwareOptions(2, "serial", "ulx3s", 40.0, None, None)
    design = opts.design(load_source(henon_model), DEFAULT_READOUT)
    assert (design.lanes, design.readout_mode, design.baked) == (2, "serial", True)
    assert design.params.n_outputs == design.n_outputs == 1
    # the board table's oscillators are the clocks `memres build` uses by default
    assert {b: board_clock_mhz(b) for b in DEFAULT_CLOCK_MHZ} == DEFAULT_CLOCK_MHZ


def test_command_table_matches_the_parser():
    assert list(_subparsers(build_parser([]))) == list(COMMANDS)
    assert cli.__all__[0] == "COMMANDS"


def test_usage_errors_exit_2_and_are_json_with_json(capsys):
    assert main(["build", "model.npz", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": "memres build: the following arguments are required: --board",
                                        "type": "UsageError"}
    assert "usage: memres build" in captured.err
    assert main(["train", "--task", "nope", "-o", "x.npz"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "invalid choice: 'nope'" in captured.err


def test_library_logging_outside_and_on_a_terminal():
    long = "Fmax " + "x" * 150 + " 31.4 MHz"
    plain = io.StringIO()
    setup_logging(console=Console(file=plain, force_terminal=False))
    try:
        logging.getLogger("memres.pygen.build").info(long)
        logging.getLogger("memres.sw_model.anything").warning("careful")
        logging.getLogger("somebody.else").info("not ours")
    finally:
        setup_logging(quiet=True)
    assert plain.getvalue().splitlines() == [long, "warning: careful"]

    tty = io.StringIO()
    setup_logging(console=Console(file=tty, force_terminal=True, width=100))
    try:
        logging.getLogger("memres.pygen.build").info("building the bitstream")
        with progress.task("cochleagrams", 3) as advance:
            for _ in range(3):
                advance(1)
    finally:
        setup_logging(quiet=True)
    text = tty.getvalue()
    assert "building the bitstream" in text and "cochleagrams" in text and "3/3" in text
