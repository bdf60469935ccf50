"""Where and on what a bench ran: the machine, the load and the git commit."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import numpy

from memres.pygen.bench.settings import NOT_INSTALLED

__all__ = ["machine_info", "git_info", "load_average", "REPO"]

REPO = Path(__file__).resolve().parents[2]


def machine_info() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpus": os.cpu_count(), "cpu_model": model, "system": f"{platform.system()} {platform.release()}",
            "machine": platform.machine(), "python": platform.python_version(), "numpy": numpy.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import reservoirpy  # optional dependency: its version when installed
        info["reservoirpy"] = reservoirpy.__version__
    except ImportError:
        info["reservoirpy"] = NOT_INSTALLED
    return info


def git_info() -> dict:
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "sw_model",
                                                                       "pygen", "hdl", "testbenches"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}



def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
