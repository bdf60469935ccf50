"""The jobs of a sweep, run in worker processes or on cluster workers: a training, a synthesis.

A job that fails returns ``{"ok": False, "error": ..., "failure": KIND}``: ``"real"`` when the point
itself cannot be trained or built (a :class:`~sw_model.errors.MemresError`, a configuration the integer
model refuses: running it again gives the same answer), ``"transient"`` when the machine failed it (out of
memory, a tool killed by a signal, a timeout, an interrupted or killed worker): a plain resume runs those
again (:func:`failure_kind`).

Workers of the local pool run :func:`die_with_parent` first, so that a sweep killed with SIGKILL leaves no
worker behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from memres.pygen.generate import generate
from memres.pygen.train import check_training_memory
from memres.sw_model import workflow
from memres.sw_model.config import config_from_dict

__all__ = ["train_job", "synth_job", "failure_kind", "die_with_parent", "TRANSIENT", "REAL", "PARENT_POLL_S"]

TRANSIENT, REAL = "transient", "real"
#: Seconds between two checks of a worker that its parent is still alive (where prctl is missing).
PARENT_POLL_S = 1.0
#: Errors of the operating system that say the machine ran short, not that the point is wrong.
_TRANSIENT_ERRNOS = {errno.ENOMEM, errno.ENOSPC, errno.EAGAIN, errno.EMFILE, errno.ENFILE, errno.EDQUOT}
#: A tool's exit status that means it was killed: a negative status (signal) or 128 + SIGKILL/SIGTERM.
_KILLED_EXIT = re.compile(r"\(exit (-\d+|137|143)\)")
_PR_SET_PDEATHSIG = 1


def failure_kind(e: BaseException) -> str:
    """``"transient"`` for resource exhaustion, killed workers or tools, timeouts and interruptions; else
    ``"real"``."""
    if isinstance(e, (MemoryError, TimeoutError, subprocess.TimeoutExpired, cf.CancelledError,
                      cf.process.BrokenProcessPool, KeyboardInterrupt)):
        return TRANSIENT
    if isinstance(e, subprocess.CalledProcessError) and (e.returncode < 0 or e.returncode in (137, 143)):
        return TRANSIENT
    if isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNOS:
        return TRANSIENT
    # pygen.generate reports a Yosys run that died as "... failed (exit -9)": the tool was killed
    if _KILLED_EXIT.search(str(e)):
        return TRANSIENT
    return REAL


def _failed(what: str, e: BaseException, t0: float) -> dict:
    return {"ok": False, "error": f"{what} failed: {type(e).__name__}: {e}", "failure": failure_kind(e),
            "seconds": round(time.perf_counter() - t0, 3)}


def die_with_parent(parent: int) -> None:
    """Initializer of a pool worker: end it (SIGKILL) when the sweep process that made it dies.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel do it; everywhere a daemon thread also
    checks every :data:`PARENT_POLL_S` that the worker has not been handed to another parent and that
    ``parent`` (the sweep's process id) still runs.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    first = os.getppid()

    def orphaned() -> bool:
        if os.getppid() != first:
            return True
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    if orphaned():                 # the parent died before prctl took hold
        os.kill(os.getpid(), signal.SIGKILL)

    def watch() -> None:
        while not orphaned():
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="memres-sweep-parent-watch", daemon=True).start()


def train_job(task: str, config: dict, data_dir: str | None, seed: int) -> dict:
    """Train a configuration and return its integer (and float) score."""
    t0 = time.perf_counter()
    try:
        cfg = config_from_dict(config)
        # a point too big for this machine is refused at once (a real failure), not retried after MemoryError
        check_training_memory(task, cfg)
        model = workflow.train(task, cfg, data_dir=data_dir, seed=seed)
    except Exception as e:  # noqa: BLE001 - a failed point is a result, not a crash
        return _failed("training", e, t0)
    m = model.metrics
    metric = "accuracy" if "accuracy" in m["fixed"] else "nrmse"
    return {"ok": True, "metric": metric, "fixed": float(m["fixed"][metric]), "float": float(m["float"][metric]),
            "n_features": int(model.readout_int.w.shape[0]), "seconds": round(time.perf_counter() - t0, 3)}


def synth_job(config: dict, io: tuple[int, int], lanes: int, family: str) -> dict:
    """``memres generate CONFIG --synth FAMILY`` on the configuration; the cell counts and timing."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memres-sweep-") as tmp:
        src = Path(tmp) / "config.json"
        src.write_text(json.dumps(config))
        try:
            m = generate(src, Path(tmp) / "out", lanes=lanes, synth=family, n_inputs=io[0], n_outputs=io[1])
        except Exception as e:  # noqa: BLE001
            return _failed(f"{family} generation/synthesis", e, t0)
    s = m["synthesis"]
    keep = ("luts", "lcs", "ffs", "dsps", "brams", "carries", "spram", "lutram", "device", "fits_device", "capacity",
            "readout_multipliers_in_logic")
    return {"ok": True, **{k: s[k] for k in keep if k in s}, "cycles_per_frame": m["cycles_per_frame"],
            "latency": m["latency"], "seconds": round(time.perf_counter() - t0, 3)}
