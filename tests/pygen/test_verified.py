"""The checked core is the built core: one choice of the board's core options, and the records that say
which ``memres verify`` run covers a ``memres build`` (no simulator here; tests/boards/test_board_verify.py
runs them)."""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Fragment

from memres.hdl.boards import BOARDS
from memres.pygen import build as build_mod
from memres.pygen import verified
from memres.pygen import verify as verify_mod
from memres.pygen.build import make_board
from memres.pygen.cli import main
from memres.pygen.generate import board_design

TINY = Path(__file__).resolve().parents[2] / "examples/tiny.json"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Records in a folder of this test's own."""
    monkeypatch.setenv(verified.RECORDS_ENV, str(tmp_path / "records"))
    return tmp_path / "records"


def test_records_live_in_the_cache_folder_unless_told(tmp_path, monkeypatch):
    monkeypatch.delenv(verified.RECORDS_ENV, raising=False)
    monkeypatch.setenv("MEMRES_CACHE", str(tmp_path / "c"))
    assert verified.record_path("ab") == tmp_path / "c" / "verified" / "ab.json"
    monkeypatch.setenv(verified.RECORDS_ENV, str(tmp_path / "r"))
    assert verified.record_path("ab") == tmp_path / "r" / "ab.json"


def test_the_board_table_chooses_the_core_options():
    ice, ulx = BOARDS["icebreaker"], BOARDS["ulx3s"]
    assert ice.core_options().describe() == {"lanes": 1, "readout": "serial", "weight_ram": "spram"}
    assert ice.core_options(readout="parallel").weight_ram == "block"
    assert ulx.core_options().describe() == {"lanes": 1, "readout": "parallel", "weight_ram": "block"}
    assert ulx.core_options(lanes=4, readout="serial").describe() == {"lanes": 4, "readout": "serial",
                                                                      "weight_ram": "block"}


@pytest.mark.parametrize("board, lanes, readout", [("icebreaker", None, None), ("ulx3s", None, None),
                                                   ("ulx3s", 2, "serial"), ("icebreaker", None, "parallel")])
def test_verify_board_checks_the_core_build_places(board, lanes, readout, tmp_path):
    """The core `memres build` puts behind the link and the design `memres verify --board` checks have the
    same parameters and the same identity (the Verilog of the built core and its readout)."""
    made = make_board(TINY, board, lanes=lanes, readout=readout)
    Fragment.get(made.board, None)      # the board top elaborates, with this core
    built = made.board.core.params
    opts = BOARDS[board].core_options(lanes=lanes, readout=readout)
    checked, _ = verify_mod.load_design(TINY, lanes=opts.lanes, readout=opts.readout, weight_ram=opts.weight_ram)
    def options(p):
        return p.lanes, str(p.readout), p.weight_ram, p.n_inputs, p.n_outputs, p.n_features
    assert options(checked.params) == options(built) == options(made.core.params) == \
        (opts.lanes, opts.readout, opts.weight_ram, 32, 10, built.n_features)
    assert verified.core_identity(checked) == verified.core_identity(made.core)
    # and the record board_design gives (the same call both commands make)
    assert options(board_design(TINY, board, lanes=lanes, readout=readout)[0].params) == options(built)


def test_identity_changes_with_options_and_readout():
    d, _ = board_design(TINY, "icebreaker")
    base = verified.core_identity(d)
    assert base["readout_weights"] == "loaded" and base["weight_ram"] == "spram"
    other = [verified.core_identity(board_design(TINY, "icebreaker", readout="parallel")[0]),
             verified.core_identity(board_design(TINY, "icebreaker", lanes=2)[0])]
    baked = dataclasses.replace(d, baked=True, w=np.ones((d.params.n_features, d.n_outputs), dtype=np.int64),
                                b=np.zeros(d.n_outputs, dtype=np.int64))
    changed = dataclasses.replace(baked, w=baked.w * 2)
    keys = {base["key"], *(o["key"] for o in other), verified.core_identity(baked)["key"],
            verified.core_identity(changed)["key"]}
    assert len(keys) == 5


def _result(mismatches=0, **kw):
    return {"passed": mismatches == 0, "compared": 1234, "mismatches": mismatches, **kw}


def test_a_build_finds_a_passing_record_and_only_that(cache):
    core = board_design(TINY, "icebreaker")[0]
    spec = BOARDS["icebreaker"]
    ident = verified.core_identity(core)
    # not found: null and the command to run
    out = build_mod._verification(core, TINY, spec)
    assert out["verification"] is None and out["core_key"] == ident["key"]
    assert f"memres verify {TINY} --board icebreaker`" in out["verification_hint"]
    # a failing run does not count, and the hint says so
    verified.store(ident, "core", _result(3), command="memres verify x --board icebreaker", board="icebreaker")
    out = build_mod._verification(core, TINY, spec)
    assert out["verification"] is None and "found 3 mismatch(es)" in out["verification_hint"]
    # a passing one does
    path = verified.store(ident, "core", _result(), command="memres verify x --board icebreaker",
                          board="icebreaker")
    assert path.parent == cache
    v = build_mod._verification(core, TINY, spec)["verification"]
    assert v["core"]["compared"] == 1234 and v["core"]["mismatches"] == 0 and v["uart"] is None
    assert v["core_options"] == {"lanes": 1, "readout": "serial", "weight_ram": "spram"}
    assert v["config_hash"] == ident["config_hash"] and v["core"]["command"].startswith("memres verify")
    # the UART section is reported when it passed too
    verified.store(ident, "uart", _result(sequences=2), command="memres verify x --board icebreaker --uart 2")
    assert build_mod._verification(core, TINY, spec)["verification"]["uart"]["sequences"] == 2
    # another core (other options) has no record
    other = board_design(TINY, "icebreaker", readout="parallel")[0]
    assert build_mod._verification(other, TINY, spec)["verification"] is None
    assert "--readout parallel" in build_mod._verification(other, TINY, spec)["verification_hint"]


def test_a_record_goes_stale_when_the_model_changes(cache, tmp_path):
    """A retrained (here: changed) readout is another core: the old record no longer covers the build."""
    d, _ = board_design(TINY, "ulx3s")
    model_a = dataclasses.replace(d, baked=True, w=np.ones((d.params.n_features, d.n_outputs), dtype=np.int64),
                                  b=np.zeros(d.n_outputs, dtype=np.int64))
    model_b = dataclasses.replace(model_a, w=-model_a.w)
    verified.store(verified.core_identity(model_a), "core", _result(), command="memres verify a.npz")
    assert verified.coverage(verified.core_identity(model_a)) is not None
    assert verified.coverage(verified.core_identity(model_b)) is None


def _verify_cli(argv) -> int:
    return main(["verify", *argv])


@pytest.mark.parametrize("argv, message", [
    (["--board", "icebreaker", "--verilog", "x.v"], "use one of them"),
    (["--uart", "2"], "--uart needs --board"),
    (["--board", "icebreaker", "--baud", "115200"], "without --uart"),
    (["--board", "icebreaker", "--clock-mhz", "24"], "without --uart"),
])
def test_contradicting_flags_are_refused_in_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "x.v").write_text("module memres_top; endmodule\n")
    import os
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert _verify_cli([str(TINY), "-o", str(tmp_path / "out"), *argv]) == 2
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_build_summary_names_the_verification(cache):
    core = board_design(TINY, "icebreaker")[0]
    ident = verified.core_identity(core)
    r = {"verification": None, "verification_hint": "no verification ... run `memres verify t --board icebreaker`"}
    assert build_mod._verification_line(r).startswith("not verified: no verification")
    verified.store(ident, "core", _result(test_utterances=300, accuracy=0.99), command="memres verify t --board "
                   "icebreaker", board="icebreaker")
    line = build_mod._verification_line(build_mod._verification(core, TINY, BOARDS["icebreaker"]))
    assert line.startswith("verified (") and "serial readout, 1 lane(s), weights in spram RAM" in line
    assert "1,234 values compared, 0 mismatches" in line and "300 test utterances (RTL accuracy 99.00%)" in line
    json.dumps(build_mod._verification(core, TINY, BOARDS["icebreaker"]))   # the report is JSON


def test_verify_help_lists_the_board_flags():
    p = argparse.ArgumentParser()
    verify_mod.add_arguments(p)
    text = p.format_help()
    for flag in ("--board", "--uart", "--baud", "--clock-mhz"):
        assert flag in text
