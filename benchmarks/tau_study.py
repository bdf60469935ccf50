"""Heterogeneous against homogeneous relaxation times, with seeds.

For each task, the task's default configuration is run with (a) its spread of
tau and (b) one tau for all devices (the geometric mean of the spread), and
likewise inside the ESO range (uniform 159-278 ns against 218 ns). Seeds
change the mask, the tau draws and (for the synthetic tasks) the series.

    python benchmarks/tau_study.py [--seeds 3] [--tasks fsdd narma10 henon] > table.md

Prints a Markdown table (mean +- std over seeds) and writes the raw numbers
as JSON to --json-out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from memres.sw_model import regression, speech, workflow
from memres.sw_model.datasets import list_recordings, standard_split
from memres.sw_model.frontend import load_fsdd_features

ESO_SPREAD = {"mode": "uniform", "low_ns": 159.0, "high_ns": 278.0}
ESO_SINGLE = math.sqrt(159.0 * 278.0)


def variants(task: str) -> dict[str, dict]:
    tau = workflow.TASK_DEFAULTS[task]["reservoir"].get("tau")
    out = {}
    if isinstance(tau, dict) and tau.get("mode") in ("log-spaced", "log-uniform", "uniform", "linear-spaced"):
        lo, hi = tau["low_ns"], tau["high_ns"]
        out[f"default spread {lo:g}-{hi:g} ns"] = tau
        out[f"one tau {math.sqrt(lo * hi):.0f} ns"] = math.sqrt(lo * hi)
    if tau != ESO_SPREAD:
        out["ESO uniform 159-278 ns"] = ESO_SPREAD
        out[f"ESO one tau {ESO_SINGLE:.0f} ns"] = ESO_SINGLE
    return out


def score(task: str, tau, seed: int, coch=None, recs=None) -> float:
    cfg = workflow.default_config(task).replace(reservoir={"tau": tau, "seed": seed})
    if task == "fsdd":
        train, test = standard_split(recs)
        return speech.train_split(cfg, train, test, coch, with_fixed=False).metrics()["float"]["accuracy"]
    data = regression.make_data(task, cfg, seed=seed)
    return regression.train_regression(cfg, data, with_fixed=False).metrics()["float"]["nrmse"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tasks", nargs="+", default=["fsdd", "narma10", "henon"])
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    coch = recs = None
    if "fsdd" in args.tasks:
        recs = list_recordings(workflow.DEFAULT_FSDD)
        feats = load_fsdd_features(recs, speech.frontend_config(workflow.default_config("fsdd")), progress=False)
        coch = {str(r.path): f for r, f in zip(recs, feats)}
    results = {}
    for task in args.tasks:
        for name, tau in variants(task).items():
            vals = []
            for seed in range(args.seeds):
                t = time.time()
                vals.append(score(task, tau, seed, coch, recs))
                print(f"{task} | {name} | seed {seed}: {vals[-1]:.4f} ({time.time() - t:.0f} s)", file=sys.stderr)
            results[(task, name)] = vals
    metric = {"fsdd": "accuracy (%)"}
    print("| task | relaxation times | metric | mean | std | per seed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (task, name), vals in results.items():
        scale = 100 if task == "fsdd" else 1
        v = np.array(vals) * scale
        fmt = "{:.1f}" if task == "fsdd" else "{:.3f}"
        print(f"| {task} | {name} | {metric.get(task, 'NRMSE')} | {fmt.format(v.mean())} | "
              f"{fmt.format(v.std())} | {', '.join(fmt.format(x) for x in v)} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({f"{t}|{n}": v for (t, n), v in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
