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

from pygen import sweep
from pygen.cli import main
from pygen.sweep import jobs as sweep_jobs
from pygen.sweep import runner as sweep_runner
from sw_model import budget

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
    proc = subprocess.Popen([sys.executable, "-m", "pygen.cli", "sweep", str(spec), "-o", str(tmp_path / "o"),
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
