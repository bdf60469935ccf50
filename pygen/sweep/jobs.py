"""The jobs of a sweep, run in worker processes or on cluster workers: a training, a synthesis."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from pygen.generate import generate
from sw_model import workflow
from sw_model.config import config_from_dict

__all__ = ["train_job", "synth_job"]


def train_job(task: str, config: dict, data_dir: str | None, seed: int) -> dict:
    """Train a configuration and return its integer (and float) score."""
    t0 = time.perf_counter()
    try:
        model = workflow.train(task, config_from_dict(config), data_dir=data_dir, seed=seed)
    except Exception as e:  # noqa: BLE001 - a failed point is a result, not a crash
        return {"ok": False, "error": f"training failed: {type(e).__name__}: {e}",
                "seconds": round(time.perf_counter() - t0, 3)}
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
            return {"ok": False, "error": f"{family} generation/synthesis failed: {type(e).__name__}: {e}",
                    "seconds": round(time.perf_counter() - t0, 3)}
    s = m["synthesis"]
    keep = ("luts", "lcs", "ffs", "dsps", "brams", "carries", "spram", "lutram", "device", "fits_device", "capacity",
            "readout_multipliers_in_logic")
    return {"ok": True, **{k: s[k] for k in keep if k in s}, "cycles_per_frame": m["cycles_per_frame"],
            "latency": m["latency"], "seconds": round(time.perf_counter() - t0, 3)}

