"""``memres verify --board``: the core the board build places (SPRAM on the iCEBreaker, on Yosys' own cell
model), and the board top itself over the bit-level UART simulation; the record ``memres build`` reads.

The fast tests use the small FSDD model of the board tests (N=8, ML=2, C=32, K=10); the slow one the
iCEBreaker model of ``examples/fsdd_up5k.toml``.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from memres.pygen import verified
from memres.pygen.boardcheck import check_uart
from memres.pygen.cli import main
from memres.pygen.generate import board_design
from memres.pygen.verify import model_test_data
from memres.sw_model.model_file import load_model


def _skip_without_simulator(e: Exception):
    from memres.testbenches.toolchain import ToolchainError
    if isinstance(e, ToolchainError) or "ToolchainError" in str(e):
        pytest.skip(f"Verilator/cocotb unavailable: {e}")


def _verify(argv: list[str], capsys) -> tuple[int, dict]:
    try:
        code = main(["verify", *argv, "--json", "-q"])
    except Exception as e:  # noqa: BLE001
        _skip_without_simulator(e)
        raise
    return code, json.loads(capsys.readouterr().out)


def test_verify_board_checks_the_icebreaker_core_and_its_board_top_over_the_uart(small_model, tmp_path, capsys):
    """The serial readout with its weights in SPRAM (Yosys' SB_SPRAM256KA model, native engine), then two test
    utterances through the board top at 3 Mbaud: every RESULT on the wire equals the integer model's; both
    checks are recorded under the core's identity, which is the one the build computes."""
    code, r = _verify([str(small_model), "--board", "icebreaker", "--sequences", "4", "--random", "2",
                       "--uart", "2", "-o", str(tmp_path / "v")], capsys)
    assert code == 0 and r["passed"] and r["mismatches"] == 0
    assert (r["board"], r["readout"], r["lanes"], r["weight_ram"], r["engine"]) == \
        ("icebreaker", "serial", 1, "spram", "native")
    assert (Path(r["runs"][0]["run_dir"]) / "SB_SPRAM256KA.v").is_file()   # Yosys' own model of the cell
    assert "SB_SPRAM256KA" in (tmp_path / "v" / "memres_top.v").read_text()
    assert r["matches_integer_model"] and r["test_utterances"] == 4
    u = r["uart"]
    k = load_model(small_model).n_outputs
    assert u["passed"] and u["mismatches"] == 0 and u["sequences"] == 2 and u["baud"] == 3_000_000
    assert u["compared"] == u["frames"] * (k + 1) > 0          # y[K] and the running decision of every frame
    assert u["weight_writes"] > 0 and u["counters"]["results"] == u["frames"] and u["counters"]["bad_crc"] == 0
    assert "accuracy" in u
    ident = verified.core_identity(board_design(small_model, "icebreaker")[0])
    assert r["core_key"] == ident["key"]
    cov = verified.coverage(ident)
    assert cov["core"]["compared"] == r["compared"] and cov["core"]["board"] == "icebreaker"
    assert "--board icebreaker" in cov["core"]["command"] and cov["uart"]["compared"] == u["compared"]


def test_the_uart_check_finds_a_readout_that_differs(small_model, tmp_path):
    """The same board top, compared with another readout's integer model: every y differs and is reported."""
    design, _ = board_design(small_model, "icebreaker")
    other = dataclasses.replace(design, w=-design.w, b=-design.b)
    model = load_model(small_model)
    test = model_test_data(model, limit=1)
    try:
        r = check_uart(small_model, "icebreaker", 1, design=design, test=test, lanes=1, readout="serial",
                       work_dir=tmp_path / "uart", expect=other)
    except Exception as e:  # noqa: BLE001
        _skip_without_simulator(e)
        raise
    assert not r["passed"] and r["mismatches"] > 0
    assert r["first_mismatch"]["what"] == "y" and r["first_mismatch"]["sequence"] == 0


@pytest.mark.slow
def test_verify_board_with_cocotb_on_the_spram_core(small_model, tmp_path, capsys):
    """The cocotb engine takes the same SPRAM cell model."""
    code, r = _verify([str(small_model), "--board", "icebreaker", "--engine", "cocotb", "--sequences", "2",
                       "--random", "1", "-o", str(tmp_path / "v")], capsys)
    assert code == 0 and r["passed"] and r["engine"] == "cocotb" and r["weight_ram"] == "spram"


@pytest.mark.slow
def test_fsdd_up5k_model_verified_on_its_board_core_and_board_top(fsdd_root, tmp_path, capsys):
    """examples/fsdd_up5k.toml: its iCEBreaker core (serial, SPRAM) on 30 test utterances, decisions equal to
    the integer model's, and 3 of them through the board top over the UART."""
    from memres.sw_model import workflow
    from memres.sw_model.config import load_config
    example = Path(__file__).resolve().parents[2] / "examples/fsdd_up5k.toml"
    path = tmp_path / "up5k.npz"
    workflow.train("fsdd", load_config(example), data_dir=fsdd_root).save(path)
    code, r = _verify([str(path), "--board", "icebreaker", "--sequences", "30", "--random", "1", "--uart", "3",
                       "--data", str(fsdd_root), "-o", str(tmp_path / "v")], capsys)
    assert code == 0 and r["passed"] and r["weight_ram"] == "spram" and r["matches_integer_model"]
    assert r["uart"]["passed"] and r["uart"]["sequences"] == 3
    assert np.isfinite(r["uart"]["accuracy"])
