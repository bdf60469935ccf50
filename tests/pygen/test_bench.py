"""``memres bench``: real end-to-end runs with the --quick settings (no mocks of the measured parts)."""

from __future__ import annotations

import json
import sys

import pytest

from memres.pygen import bench
from memres.pygen.cli import main


def _run(capsys, *argv) -> dict:
    assert main(["bench", *argv, "--json", "-q"]) == 0
    return json.loads(capsys.readouterr().out)


def test_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench"
    r = _run(capsys, "--quick", "-o", str(out))
    for name in ("report.md", "results.json", "accuracy.png", "speed.png"):
        assert (out / name).is_file(), name
    assert set(r) >= {"command", "machine", "git", "settings", "sections", "report", "plots"}
    assert set(r["sections"]) == {"speed", "accuracy", "hardware"}
    assert r["machine"]["cpus"] >= 1 and r["machine"]["python"]
    assert r["settings"]["quick"] is True and r["settings"]["tasks"] == ["henon"]

    acc = r["sections"]["accuracy"]
    (row,) = acc["rows"]
    assert row["task"] == "henon" and row["metric"] == "nrmse"
    assert 0 < row["float"] < 0.2 and 0 < row["fixed"] < 0.2
    assert row["rtl"]["passed"] and row["rtl"]["mismatches"] == 0 and row["rtl"]["compared"] > 0
    if bench.esn_available():
        assert 0 < row["esn"] < 1
    else:
        assert row["esn"] == bench.NOT_INSTALLED

    sp = r["sections"]["speed"]
    assert sp["golden"]["float_frames_per_s"] > 0 and sp["golden"]["fixed_frames_per_s"] > 0
    assert sp["rtl"]["passed"] and sp["rtl"]["cycles_per_second"] > 0
    assert sp["generate"]["seconds"] > 0
    assert r["sections"]["hardware"]["rows"] == []

    saved = json.loads((out / "results.json").read_text())
    assert saved["sections"]["accuracy"]["rows"][0]["float"] == pytest.approx(row["float"])
    report = (out / "report.md").read_text()
    for text in ("## Accuracy", "## Speed", "## Hardware", "Henon map", "bit-exact on 1 sequence",
                 "memres bench --quick", saved["git"]["commit"] or "Commit", "2 CPU" if
                 saved["machine"]["cpus"] == 2 else "CPU(s)", "![accuracy](accuracy.png)"):
        assert text in report, text


def test_section_selection(tmp_path, capsys):
    out = tmp_path / "speed-only"
    r = _run(capsys, "--quick", "--sections", "speed", "--no-rtl", "-o", str(out))
    assert set(r["sections"]) == {"speed"}
    assert "rtl" not in r["sections"]["speed"]
    assert (out / "speed.png").is_file() and not (out / "accuracy.png").exists()
    report = (out / "report.md").read_text()
    assert "## Speed" in report and "## Accuracy" not in report and "## Hardware" not in report
    assert r["sections"]["speed"]["measured"]["command"] == r["command"]

    # Another section into the same folder keeps the speed section of the earlier run, and says so.
    r2 = _run(capsys, "--quick", "--sections", "hardware", "--boards", "none", "-o", str(out))
    assert set(r2["sections"]) == {"speed", "hardware"}
    assert r2["sections"]["speed"] == json.loads(json.dumps(r["sections"]["speed"]))
    report = (out / "report.md").read_text()
    assert "## Speed" in report and "## Hardware" in report and "by an earlier run" in report
    r3 = _run(capsys, "--quick", "--sections", "hardware", "--boards", "none", "--fresh", "-o", str(out))
    assert set(r3["sections"]) == {"hardware"}


def test_reservoirpy_missing(tmp_path, capsys, monkeypatch):
    # A None entry in sys.modules makes `import reservoirpy...` raise ImportError, as if not installed.
    for name in [m for m in sys.modules if m == "reservoirpy" or m.startswith("reservoirpy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "reservoirpy", None)
    monkeypatch.setitem(sys.modules, "reservoirpy.nodes", None)
    assert not bench.esn_available()
    out = tmp_path / "no-esn"
    r = _run(capsys, "--quick", "--sections", "accuracy,speed", "--no-rtl", "-o", str(out))
    (row,) = r["sections"]["accuracy"]["rows"]
    assert row["esn"] == bench.NOT_INSTALLED and r["sections"]["accuracy"]["esn_status"] == bench.NOT_INSTALLED
    assert isinstance(row["float"], float)
    assert r["sections"]["speed"]["golden"]["esn_frames_per_s"] == bench.NOT_INSTALLED
    assert r["machine"]["reservoirpy"] == bench.NOT_INSTALLED
    report = (out / "report.md").read_text()
    assert "not installed" in report
    assert (out / "accuracy.png").is_file()


def test_bad_arguments(tmp_path):
    assert main(["bench", "--quick", "--sections", "speed,nothing", "-o", str(tmp_path)]) == 2
    assert main(["bench", "--quick", "--tasks", "henon,nope", "-o", str(tmp_path)]) == 2


def test_fsdd_on_a_subset(tmp_path, capsys, fsdd_subset):
    """FSDD standard split, early recognition, LOSO (two speakers) and the RTL sample, on a tiny model."""
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"reservoir": {"n_devices": 8, "n_virtual": 2, "alpha": 0.01, "dt_ns": 0.5,
                                             "state_features": True}}))
    out = tmp_path / "fsdd"
    r = _run(capsys, "--quick", "--tasks", "fsdd", "--loso", "--sections", "accuracy", "--fsdd-config", str(cfg),
             "--data", str(fsdd_subset), "--rtl-sequences", "3", "-o", str(out))
    acc = r["sections"]["accuracy"]
    std, loso = acc["rows"]
    assert (std["split"], loso["split"]) == ("standard", "loso")
    assert 0.3 < std["float"] <= 1 and 0.3 < std["fixed"] <= 1
    assert std["rtl"]["passed"] and std["rtl"]["sequences"] == 3 and std["rtl"]["matches_integer_model"]
    assert [e["fraction"] for e in acc["early"]] == [0.25, 0.5, 0.75, 1.0]
    assert acc["early"][-1]["fixed"] == pytest.approx(std["fixed"])
    assert set(loso["per_speaker"]) == {"george", "jackson"}
    if bench.esn_available():
        assert 0.3 < std["esn"] <= 1 and 0 <= loso["esn"] <= 1
    assert (out / "early.png").is_file()
    assert "Early recognition" in (out / "report.md").read_text()
