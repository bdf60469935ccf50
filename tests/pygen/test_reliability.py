"""Reliability of the command layer: sweeps that die or run short, outputs checked before the work,
memory estimated before training."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memres.pygen import sweep
from memres.pygen.cli import main
from memres.pygen.sweep import jobs as sweep_jobs
from memres.sw_model import budget

ROOT = Path(__file__).resolve().parents[2]
TINY_BASE = {"reservoir": {"n_devices": 2, "n_virtual": 1}}


def _spec(**over):
    data = {"task": "henon", "synth": [], "base": TINY_BASE, "axes": {"n_devices": [2, 3]}}
    data.update(over)
    return sweep.parse_spec(data)


# --- a sweep killed with SIGKILL leaves no worker --------------------------------------------

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _descendants(pid: int) -> set[int]:
    kids, out, todo = _children(), set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc (Linux)")
def test_sigkilled_sweep_leaves_no_worker(tmp_path):
    # points that each train for a moment, so that the workers are busy when the sweep is killed
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"task": "henon", "synth": [], "base": {"reservoir": {"n_virtual": 4}},
                                "axes": {"n_devices": list(range(30, 50))}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "memres.pygen.cli", "sweep", str(spec), "-o", str(tmp_path / "o"),
                             "--workers", "2", "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            workers = _descendants(proc.pid)
        assert len(workers) >= 2, f"no workers seen; sweep stderr: {proc.stderr.read().decode()[-2000:]}"
        time.sleep(0.5)                         # let them start on their jobs
        workers = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [p for p in workers if _alive(p)]
        assert not survivors, f"workers {survivors} outlived their SIGKILLed sweep"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in workers:                       # the workers of the sweep started here, if the test failed
            if _alive(p):
                os.kill(p, signal.SIGKILL)


# --- transient and real failures --------------------------------------------------------------

@pytest.mark.parametrize("error, kind", [
    (MemoryError(), "transient"),
    (TimeoutError("no answer"), "transient"),
    (subprocess.TimeoutExpired("yosys", 60), "transient"),
    (subprocess.CalledProcessError(-9, "yosys"), "transient"),
    (OSError(28, "No space left on device"), "transient"),
    (sweep_jobs.cf.process.BrokenProcessPool("a worker died"), "transient"),
    (RuntimeError("Yosys ice40 synthesis failed (exit -9):\n..."), "transient"),
    (ValueError("reservoir.alpha_spread must be 0"), "real"),
    (subprocess.CalledProcessError(1, "yosys"), "real"),
    (FileNotFoundError(2, "No such file"), "real"),
])
def test_failure_kinds(error, kind):
    assert sweep_jobs.failure_kind(error) == kind


def test_legacy_records_are_told_by_their_error():
    from memres.pygen.sweep.store import record_failure
    assert record_failure({"error": "training failed: MemoryError: "}) == "transient"
    assert record_failure({"error": "training failed: ValueError: alpha_spread"}) == "real"
    assert record_failure({"error": "x", "failure": "transient"}) == "transient"


def _train_failing_for(monkeypatch, n_devices: int, how):
    real = sweep_jobs.workflow.train

    def train(task, cfg, **kw):
        if cfg.reservoir.n_devices == n_devices and not cfg.reservoir.alpha_spread:
            how()
        return real(task, cfg, **kw)
    # the local pool forks: its workers see the patched function
    monkeypatch.setattr(sweep_jobs.workflow, "train", train)


def _out_of_memory():
    raise MemoryError("cannot allocate 24 GiB")


def test_out_of_memory_is_transient_and_retried_on_a_plain_resume(tmp_path, monkeypatch):
    spec = _spec(axes={"n_devices": [2, 3], "alpha_spread": [0.0, 0.1]})
    with monkeypatch.context() as m:
        _train_failing_for(m, 3, _out_of_memory)
        c = sweep.run_sweep(spec, tmp_path, workers=1)
    recs = sweep.load_results(tmp_path)
    # n_devices 3 without spread: out of memory (transient); alpha_spread 0.1: the integer model refuses (real)
    assert c["new_ok"] == 1 and c["new_transient"] == 1 and c["new_failed"] == 2
    kinds = sorted(r.get("failure", "ok") for r in recs.values())
    assert kinds == ["ok", "real", "real", "transient"]
    transient = next(r for r in recs.values() if r.get("failure") == "transient")
    assert "MemoryError" in transient["error"] and transient["values"] == {"reservoir.n_devices": 3, "reservoir.alpha_spread": 0.0}
    # a plain resume runs the transient point again (the memory is there now), not the real failures
    c = sweep.run_sweep(spec, tmp_path, workers=1)
    assert c["to_run"] == 1 and c["new_ok"] == 1 and c["trainings_run"] == 1
    assert sweep.load_results(tmp_path)[transient["id"]]["status"] == "ok"
    assert sweep.run_sweep(spec, tmp_path, workers=1)["to_run"] == 0
    assert sweep.run_sweep(spec, tmp_path, workers=1, retry_failed=True)["to_run"] == 2


def test_a_killed_worker_fails_its_points_transiently(tmp_path, monkeypatch):
    spec = _spec(axes={"n_devices": [2, 3, 4]})
    with monkeypatch.context() as m:
        _train_failing_for(m, 3, lambda: os.kill(os.getpid(), signal.SIGKILL))   # as the OOM killer does
        c = sweep.run_sweep(spec, tmp_path, workers=1)
    recs = sweep.load_results(tmp_path)
    assert c["crashed"] >= 1 and c["new_transient"] == c["crashed"] and c["new_failed"] == 0
    assert all(r["status"] == "ok" or r["failure"] == "transient" for r in recs.values())
    assert any("BrokenProcessPool" in r.get("error", "") for r in recs.values())
    c = sweep.run_sweep(spec, tmp_path, workers=1)
    assert c["to_run"] == c["new_ok"] == len([r for r in recs.values() if r["status"] != "ok"])
    assert all(r["status"] == "ok" for r in sweep.load_results(tmp_path).values())


def test_sweep_summary_counts_transient_failures(tmp_path, monkeypatch, capsys):
    spec_file = tmp_path / "s.json"
    spec_file.write_text(json.dumps({"task": "henon", "synth": [], "base": TINY_BASE,
                                     "axes": {"n_devices": [2, 3]}}))
    with monkeypatch.context() as m:
        _train_failing_for(m, 3, _out_of_memory)
        assert main(["sweep", str(spec_file), "-o", str(tmp_path / "o"), "--workers", "1", "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] == 1 and out["transient"] == 1
    assert "for want of resources" in (tmp_path / "o" / "summary.md").read_text()
    assert main(["sweep", str(spec_file), "-o", str(tmp_path / "o"), "--workers", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] == 2 and out["transient"] == 0 and out["run"]["to_run"] == 1
    assert not list((tmp_path / "o").glob(".*.tmp"))     # atomic writes leave no temporary file


# --- output paths are checked before the work -----------------------------------------------

@pytest.fixture
def paths(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    return tmp_path


def _refused(argv, capsys, *needles):
    t = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - t < 5           # refused at once, not after the work
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


def test_train_refuses_bad_outputs_before_training(paths, capsys):
    _refused(["train", "--task", "henon", "-o", str(paths / "folder")], capsys, "is an existing folder")
    _refused(["train", "--task", "henon", "-o", str(paths / "file" / "m.npz")], capsys, "is a file, not a folder")


def test_read_only_folder_is_refused(read_only_folder):
    """Refused at once with one line, before training: also as root (a read-only mount, see conftest)."""
    ro = read_only_folder.path
    for argv in (["train", "--task", "henon", "-o", str(ro / "m.npz")], ["demo", "-o", str(ro / "demo")]):
        t = time.monotonic()
        r = read_only_folder.run(["python", "-m", "memres.pygen.cli", *argv])
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "not writable" in r.stderr, r.stderr
        assert time.monotonic() - t < 30          # refused before the work (an interpreter start, no training)
    assert list(ro.iterdir()) == []


def test_commands_refuse_a_file_where_a_folder_goes(paths, capsys):
    f = str(paths / "file")
    spec = paths / "s.json"
    spec.write_text(json.dumps({"task": "henon", "synth": [], "base": TINY_BASE, "axes": {"n_devices": [2]}}))
    _refused(["evaluate", str(paths / "missing.npz"), "--plots", f], capsys, "is not a folder")
    _refused(["demo", "-o", f], capsys, "is not a folder")
    _refused(["bench", "--quick", "-o", f], capsys, "is not a folder")
    _refused(["sweep", str(spec), "-o", f], capsys, "is not a folder")
    _refused(["sweep", str(spec), "-o", str(paths / "o"), "--img-dir", f], capsys, "is not a folder")
    _refused(["data", "fsdd", f], capsys, "is not a folder")
    assert not (paths / "o").exists()


def test_memory_plot_goes_to_the_named_file_and_refuses_a_folder(paths, capsys):
    _refused(["memory", "--task", "henon", "--plot", str(paths / "folder")], capsys, "is an existing folder")
    assert not (paths / "folder.png").exists()
    png = paths / "profile"                  # written as named, no suffix added
    assert main(["memory", "--task", "henon", "--max-delay", "5", "--plot", str(png), "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- memory is estimated before training ------------------------------------------------------

def test_training_estimate_grows_with_the_gram_matrix():
    small = budget.training_bytes(100, 1, frames=3100)
    f = 4096 * 256
    huge = budget.training_bytes(f, 10, frames=1000)
    assert huge > 8 * (f + 1) ** 2 > 2 ** 43            # the Gram matrix alone is 8 TiB
    assert small < 2 ** 26
    with pytest.raises(budget.MemoryBudgetError, match=r"needs about .* GiB, but only 1.0 GiB .* n_devices"):
        budget.ensure_training_fits(f, 10, frames=1000, available=2 ** 30)
    assert budget.ensure_training_fits(100, 1, frames=3100, available=2 ** 30) == small


@pytest.fixture
def huge_config(tmp_path):
    p = tmp_path / "huge.json"
    p.write_text(json.dumps({"reservoir": {"n_devices": 4096, "n_virtual": 256}}))
    return p


def test_commands_refuse_a_training_that_cannot_fit(huge_config, tmp_path, capsys):
    _refused(["train", "--task", "henon", "--config", str(huge_config), "-o", str(tmp_path / "m.npz")], capsys,
             "GiB", "n_devices", "n_virtual")
    assert not (tmp_path / "m.npz").exists()
    _refused(["memory", "--config", str(huge_config)], capsys, "GiB", "n_devices")
    _refused(["bench", "--sections", "accuracy", "--tasks", "fsdd", "--no-loso", "--fsdd-config", str(huge_config),
              "-o", str(tmp_path / "b")], capsys, "GiB", "n_devices")
    assert not (tmp_path / "b").exists()
    assert main(["train", "--task", "henon", "--config", str(huge_config), "-o", str(tmp_path / "m.npz"),
                 "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["type"] == "MemoryBudgetError"


# --- the same words everywhere ------------------------------------------------------------------

def _sub(name):
    from memres.pygen.cli import build_parser
    p = build_parser([name])
    return next(a for a in p._actions if a.dest == "command").choices[name]


def test_quiet_means_the_same_in_every_command():
    from memres.pygen.cli import COMMANDS
    from memres.pygen.console import QUIET_HELP
    for name in COMMANDS:
        q = next(a for a in _sub(name)._actions if a.dest == "quiet")
        assert q.option_strings == ["-q", "--quiet"] and q.help == QUIET_HELP, name


def _model_argument(name):
    return next(a for a in _sub(name)._actions if not a.option_strings and a.dest not in ("help",))


@pytest.mark.parametrize("name", ["evaluate", "generate", "verify", "build", "run"])
def test_model_argument_is_called_model(name):
    from memres.pygen.console import MODEL_METAVAR
    assert _model_argument(name).metavar == MODEL_METAVAR, name


def test_the_hardware_commands_describe_model_and_quiet_alike():
    """generate, build and verify take a model or a configuration, run a trained model only: the same words."""
    from memres.pygen.console import MODEL_HELP, TRAINED_MODEL_HELP
    helps = {name: _model_argument(name).help for name in ("generate", "build", "verify", "run")}
    assert helps["generate"] == helps["build"] == helps["verify"] == MODEL_HELP
    assert helps["run"].startswith(TRAINED_MODEL_HELP) and MODEL_HELP.startswith(TRAINED_MODEL_HELP)
    quiet = {name: next(a for a in _sub(name)._actions if a.dest == "quiet").help
             for name in ("generate", "build", "verify", "run")}
    assert len(set(quiet.values())) == 1, quiet


def test_quiet_keeps_the_result(tmp_path, capsys):
    """-q silences progress and messages, never the result: generate -q still prints its summary."""
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY_BASE))
    assert main(["generate", str(cfg), "-o", str(tmp_path / "v"), "-q"]) == 0
    assert "manifest:" in capsys.readouterr().err


def test_a_sweep_point_too_big_for_memory_fails_for_good(tmp_path):
    # a million features: an 8 TB Gram matrix
    spec = _spec(axes={"n_devices": [4096]}, base={"reservoir": {"n_virtual": 256}})
    c = sweep.run_sweep(spec, tmp_path, workers=1)
    assert c["new_failed"] == 1 and c["new_transient"] == 0
    big = next(r for r in sweep.load_results(tmp_path).values() if r["status"] == "failed")
    assert big["failure"] == "real" and "MemoryBudgetError" in big["error"] and "n_devices" in big["error"]
    assert sweep.run_sweep(spec, tmp_path, workers=1)["to_run"] == 0
