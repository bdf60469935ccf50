"""memres sweep: spec parsing, point generation, caching keys, resume, failures, Pareto, report, Dask path."""

import json
from pathlib import Path

import pytest

from memres.pygen import sweep
from memres.pygen.sweep import points as sweep_points
from memres.pygen.sweep import runner as sweep_runner
from memres.pygen.sweep import summary as sweep_summary
from memres.pygen.cli import main
from memres.sw_model.config import load_config

#: Henon prediction with two devices and one virtual node: a point trains in well under a second.
TINY_BASE = {"reservoir": {"n_devices": 2, "n_virtual": 1}}


def _spec(**over):
    data = {"task": "henon", "synth": [], "base": TINY_BASE,
            "axes": {"n_devices": [2, 3], "tau": [200.0, {"mode": "log-spaced", "low_ns": 20.0, "high_ns": 900.0}]}}
    data.update(over)
    return sweep.parse_spec(data)


# --- specification --------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    ({"tasks": "henon"}, "unknown key 'tasks'"),
    ({"task": "digits"}, "task = 'digits' is not known"),
    ({"mode": "latin"}, "mode = 'latin'"),
    ({"mode": "random"}, "needs n_points"),
    ({"synth": ["gowin"]}, "synth = ['gowin']"),
    ({"synth_share": "all"}, "synth_share = 'all'"),
    ({"axes": {"n_device": [1]}}, "'n_device' is not a configuration field"),
    ({"axes": {"reservoir.state_bits": [8]}}, "reservoir has no field 'state_bits'"),
    ({"axes": {"hardware.lanes": [1]}}, "unknown section 'hardware'"),
    ({"axes": {"n_devices": []}}, "has no values"),
    ({"axes": {"n_devices": {"low": 4, "high": 8}}}, "a grid needs a list, or a range with step or num"),
    ({"axes": {"dt_ns": {"low": 2.0, "high": 1.0, "num": 3}}}, "high (1.0) is below low (2.0)"),
    ({"axes": {"dt_ns": {"low": 0.0, "high": 1.0, "num": 3, "log": True}}}, "a log range needs low > 0"),
    ({"axes": {"n_devices": [4], "reservoir.n_devices": [8]}}, "axis 'reservoir.n_devices' is given twice"),
    ({"base": {"reservoir": {"alpha": -1.0}}}, "base configuration: config field 'reservoir.alpha'"),
    ({"axes": {"n_devices": 4}}, "expected a list of values or a range table"),
])
def test_spec_errors_name_the_problem(data, message):
    with pytest.raises(sweep.SweepError, match=None) as e:
        sweep.parse_spec({"task": "henon", **data})
    assert message in str(e.value)


def test_toml_spec_with_nested_sections_and_cli_error(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('task = "henon"\nsynth = []\n[axes.reservoir]\nn_devices = [2, 4]\n'
                    '[axes.fixed]\nstate_bits = {low = 12, high = 16, step = 4}\n')
    spec = sweep.load_spec(path)
    assert [a.name for a in spec.axes] == ["reservoir.n_devices", "fixed.state_bits"]
    assert spec.axes[1].grid() == [12, 16]
    (tmp_path / "bad.toml").write_text("task = [\n")
    assert main(["sweep", str(tmp_path / "bad.toml"), "-o", str(tmp_path / "o")]) == 2
    assert "is not valid TOML" in " ".join(capsys.readouterr().err.split())


def test_grid_and_random_points_are_deterministic():
    spec = _spec(axes={"n_devices": [2, 3], "lanes": [1, 2], "dt_ns": {"low": 1.0, "high": 100.0, "num": 3,
                                                                       "log": True}})
    pts = sweep.make_points(spec)
    assert len(pts) == 12
    assert [p.values for p in pts[:2]] == [{"reservoir.n_devices": 2, "lanes": 1, "reservoir.dt_ns": 1.0},
                                           {"reservoir.n_devices": 2, "lanes": 1, "reservoir.dt_ns": 10.0}]
    assert [p.id for p in pts] == [p.id for p in sweep.make_points(spec)]
    assert len({p.id for p in pts}) == 12
    # lanes do not change the model: pairs of points share a training
    assert len({p.model_key for p in pts}) == 6
    rnd = _spec(mode="random", n_points=5, seed=3,
                axes={"n_devices": {"low": 2, "high": 40}, "dt_ns": {"low": 0.5, "high": 50.0, "log": True}})
    a, b = sweep.make_points(rnd), sweep.make_points(rnd)
    assert [p.id for p in a] == [p.id for p in b] and len(a) == 5
    assert all(isinstance(p.values["reservoir.n_devices"], int) and 2 <= p.values["reservoir.n_devices"] <= 40
               for p in a)
    assert all(0.5 <= p.values["reservoir.dt_ns"] <= 50.0 for p in a)
    other = sweep.make_points(_spec(mode="random", n_points=5, seed=4, axes=rnd_axes(rnd)))
    assert [p.id for p in other] != [p.id for p in a]


def rnd_axes(spec):
    return {a.name: {"low": a.low, "high": a.high, **({"log": True} if a.log else {})} for a in spec.axes}


def test_hardware_key_shares_only_content_fields():
    pts = {tuple(sorted((k, json.dumps(v)) for k, v in p.values.items())): p for p in sweep.make_points(_spec(
        axes={"tau": [200.0, 500.0], "dt_ns": [5.0, 20.0], "state_bits": [12, 16], "idle_ns": [0.0, 50.0, 80.0],
              "lanes": [1, 2]}))}
    keys = {p.hw_key("ice40", "structure") for p in pts.values()}
    # tau, dt and the idle length change memory contents only: state_bits x lanes x idle present
    assert len(keys) == 2 * 2 * 2
    assert len({p.hw_key("ice40", "none") for p in pts.values()}) == len(pts)
    p = next(iter(pts.values()))
    assert p.hw_key("ice40", "structure") != p.hw_key("ecp5", "structure")


# --- Pareto ----------------------------------------------------------------------

def test_pareto_front_on_hand_made_points():
    costs = [100, 200, 150, 300, 150, 400, 50]
    acc = [0.50, 0.70, 0.60, 0.65, 0.60, 0.90, 0.40]
    # 300 -> 0.65 is dominated by 200 -> 0.70; the duplicate (150, 0.60) is kept once
    assert sweep.pareto_front(costs, acc) == [6, 0, 2, 1, 5]
    nrmse = [0.5, 0.3, 0.4, 0.2, 0.4]
    assert sweep.pareto_front([1, 2, 2, 3, 4], nrmse, maximize=False) == [0, 1, 3]
    assert sweep.pareto_front([], []) == []


def _fake_record(i, n, luts, acc, fits, lanes=1):
    cfg = load_config_dict({"reservoir": {"n_devices": n, "n_virtual": 4}})
    return {"id": f"p{i}", "status": "ok", "task": "fsdd", "values": {"reservoir.n_devices": n}, "lanes": lanes,
            "config": cfg, "model_key": f"m{i}", "metric": "accuracy", "score": acc, "float_score": acc + 0.01,
            "synth": {"ice40": {"luts": luts, "ffs": luts // 2, "dsps": 8, "brams": n, "fits_device": fits,
                                "device": "iCE40UP5K", "cycles_per_frame": 40,
                                "capacity": {"luts": 5280, "ffs": 5280, "dsps": 8, "brams": 30}, "key": f"h{n}"}}}


def load_config_dict(d):
    from memres.sw_model.config import config_from_dict
    return config_from_dict(d).to_dict()


def test_report_plots_summary_and_best_config(tmp_path, monkeypatch):
    recs = [_fake_record(0, 8, 2000, 0.60, True), _fake_record(1, 16, 4000, 0.80, True),
            _fake_record(2, 24, 6000, 0.85, False), _fake_record(3, 12, 4500, 0.70, True),
            {"id": "p4", "status": "failed", "values": {"lanes": 3}, "error": "lanes must be a power of two"}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    spec = sweep.parse_spec({"task": "fsdd", "synth": ["ice40"]})
    monkeypatch.setattr(sweep_summary, "make_points", lambda s: [type("P", (), {"id": r["id"]}) for r in recs])
    rep = sweep.report(tmp_path, spec)
    assert rep["finished"] == 5 and rep["ok"] == 4 and rep["failed"] == 1
    assert rep["best"]["ice40"]["score"] == 0.80 and rep["best"]["ice40"]["luts"] == 4000
    assert (tmp_path / "pareto_ice40.png").stat().st_size > 10_000
    text = (tmp_path / "summary.md").read_text()
    assert "Best configuration that fits the iCE40UP5K" in text and "lanes must be a power of two" in text
    front = [line for line in text.splitlines() if line.startswith("| ") and "%" in line]
    assert [line.split("|")[1].strip() for line in front] == ["60.0 %", "80.0 %", "85.0 %"]  # 70 % is dominated
    best = load_config(tmp_path / "best_ice40.json")
    assert best.reservoir.n_devices == 16


# --- running ------------------------------------------------------------------------

def test_sweep_resume_skips_finished_points_and_reuses_caches(tmp_path):
    spec = _spec(axes={"n_devices": [2, 3], "lanes": [1, 2]})
    c = sweep.run_sweep(spec, tmp_path, workers=2)
    assert c["new_ok"] == 4 and c["trainings_run"] == 2 and c["skipped"] == 0
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4
    first = {json.loads(x)["id"]: json.loads(x) for x in lines}
    # simulate an interruption: one finished point, then a line cut in the middle; one training lost
    (tmp_path / "results.jsonl").write_text(lines[0] + "\n" + lines[1][:25])
    models = (tmp_path / "cache/models.jsonl").read_text().splitlines()
    (tmp_path / "cache/models.jsonl").write_text(models[0] + "\n")
    c = sweep.run_sweep(spec, tmp_path, workers=2)
    assert c["skipped"] == 1 and c["new_ok"] == 3 and c["trainings_run"] == 1
    again = sweep.load_results(tmp_path)
    assert set(again) == set(first)
    assert all(again[k]["score"] == first[k]["score"] for k in first)
    c = sweep.run_sweep(spec, tmp_path, workers=2)
    assert c["skipped"] == 4 and c["to_run"] == 0 and c["trainings_run"] == 0


def test_failed_points_are_recorded_not_raised(tmp_path):
    # three values for two devices: an invalid configuration; a device spread of alpha: the integer model refuses
    spec = _spec(axes={"tau": [[100.0, 200.0, 300.0], 200.0], "alpha_spread": [0.0, 0.1]})
    c = sweep.run_sweep(spec, tmp_path, workers=1)
    recs = list(sweep.load_results(tmp_path).values())
    assert c["new_ok"] == 1 and c["new_failed"] == 3 and len(recs) == 4
    errors = sorted(r["error"] for r in recs if r["status"] == "failed")
    assert any("one value per device" in e for e in errors)      # invalid configuration
    assert any("training failed" in e and "alpha_spread" in e for e in errors)
    # failed points count as finished unless asked to retry
    assert sweep.run_sweep(spec, tmp_path, workers=1)["to_run"] == 0
    assert sweep.run_sweep(spec, tmp_path, workers=1, retry_failed=True)["to_run"] == 3


def test_cli_sweep_with_synthesis_shares_one_yosys_run(tmp_path, capsys):
    """Two relaxation-time choices x lanes 1/4: tau shares the synthesis; 4 lanes exceed 2 devices (failed)."""
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"task": "henon", "synth": ["ice40"], "base": TINY_BASE,
                                "axes": {"tau": [200.0, 900.0], "lanes": [1, 4]}}))
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--workers", "2", "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] == 2 and out["failed"] == 2
    assert out["run"]["syntheses_run"] == {"ice40": 2} and out["distinct_syntheses"] == {"ice40": 1}
    recs = [r for r in sweep.load_results(tmp_path / "o").values() if r["status"] == "ok"]
    assert recs[0]["synth"]["ice40"] == recs[1]["synth"]["ice40"]
    assert recs[0]["synth"]["ice40"]["luts"] > 0 and recs[0]["synth"]["ice40"]["fits_device"]
    assert recs[0]["synth"]["ice40"]["lcs"] >= recs[0]["synth"]["ice40"]["luts"]    # packed logic cells kept
    assert recs[0]["score"] != recs[1]["score"]
    assert "exceeds the 2 devices" in next(r for r in sweep.load_results(tmp_path / "o").values()
                                           if r["status"] == "failed")["error"]
    assert out["best"]["ice40"]["lanes"] == 1 and (tmp_path / "o" / "pareto_ice40.png").is_file()


def test_dask_cluster_gives_the_same_results_as_the_local_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = _spec()
    sweep.run_sweep(spec, tmp_path / "local", workers=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        c = sweep.run_sweep(spec, tmp_path / "dask", cluster=cluster.scheduler_address)
    assert c["new_ok"] == 4 and c["trainings_run"] == 4
    local, remote = sweep.load_results(tmp_path / "local"), sweep.load_results(tmp_path / "dask")
    assert set(local) == set(remote)
    for k in local:
        assert remote[k]["score"] == local[k]["score"] and remote[k]["float_score"] == local[k]["float_score"]


def test_cluster_address_that_does_not_answer(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep_runner, "CONNECT_TIMEOUT", "2s")
    with pytest.raises(sweep.SweepError, match="cannot reach the Dask scheduler"):
        sweep.run_sweep(_spec(), tmp_path, cluster="tcp://127.0.0.1:9")


def test_wall_time_counts_interrupted_runs_up_to_their_last_point():
    runs = [{"event": "start", "t": 0.0}, {"event": "end", "t": 100.0},
            {"event": "start", "t": 200.0},                      # killed: its last point finished at 260
            {"event": "start", "t": 300.0}, {"event": "end", "t": 310.0}]
    records = [{"t": 50.0}, {"t": 230.0}, {"t": 260.0}, {"t": 305.0}]
    assert sweep.wall_time(runs, records) == 100.0 + 60.0 + 10.0


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "examples" / "sweeps").glob("*.toml")),
                         ids=lambda p: p.name)
def test_example_sweep_specs_load(path):
    spec = sweep.load_spec(path)
    points = sweep.make_points(spec)
    assert points and not any(p.error for p in points)


def test_synthesis_key_follows_the_hardware_sources(monkeypatch):
    p = sweep.make_points(_spec())[0]
    key = p.hw_key("ice40", "structure")
    monkeypatch.setattr(sweep_points, "hardware_version", lambda: "another-core")
    assert p.hw_key("ice40", "structure") != key
