"""The memres command line: JSON contracts, saved models, clear errors."""

import json
import subprocess
import sys

import pytest

from pygen.cli import main


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
    assert main(["evaluate", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "bad.npz" in captured.err


def test_console_script_prints_only_json_on_stdout(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pygen.cli", "train", "--task", "second-order",
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
