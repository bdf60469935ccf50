"""``summary.md``, the Pareto plots and ``best_<family>.json`` of a sweep folder."""

from __future__ import annotations

import json
from pathlib import Path

from memres.pygen.sweep.analysis import best_fitting, ok_records, pareto_front
from memres.pygen.sweep.plots import plot_pareto
from memres.pygen.sweep.points import make_points
from memres.pygen.sweep.runner import wall_time
from memres.pygen.sweep.spec import Spec
from memres.pygen.sweep.store import (MODEL_CACHE, RESULTS_FILE, RUNS_FILE, SYNTH_CACHE, load_results, read_jsonl,
                               record_failure)
from memres.sw_model.atomic import atomic_write_text

__all__ = ["report", "describe", "fmt_score", "SUMMARY_FILE"]

SUMMARY_FILE = "summary.md"


def fmt_score(r: dict) -> str:
    return f"{100 * r['score']:.1f} %" if r["metric"] == "accuracy" else f"{r['score']:.4f}"


def describe(r: dict) -> str:
    res, fx = r["config"]["reservoir"], r["config"]["fixed"]
    tau = res["tau"]
    tau_s = (f"{tau['mode']} {tau['low_ns']:g}-{tau['high_ns']:g}" if tau["mode"] not in ("single", "list",
             "compositions") else f"{tau['mode']} {','.join(f'{v:g}' for v in tau['values_ns'][:4])}")
    return (f"N={res['n_devices']} ML={res['n_virtual']} tau={tau_s} ns dt={res['dt_ns']:g} ns "
            f"idle={res['idle_ns']:g} ns state/pulse/weight bits={fx['state_bits']}/{fx['pulse_bits']}/"
            f"{fx['weight_bits']} lanes={r['lanes']}")


def report(out_dir: str | Path, spec: Spec, *, img_dir: str | Path | None = None, prefix: str = "pareto") -> dict:
    """Pareto plots, ``summary.md`` and ``best_<device>.json`` of a sweep folder; returns what was written."""
    out = Path(out_dir)
    records = list(load_results(out).values())
    ids = {p.id for p in make_points(spec)}
    records = [r for r in records if r["id"] in ids]
    ok = ok_records(records)
    runs = read_jsonl(out / RUNS_FILE)
    starts = [r for r in runs if r.get("event") == "start"]
    synth_cache = read_jsonl(out / SYNTH_CACHE)
    model_cache = read_jsonl(out / MODEL_CACHE)
    result: dict = {"out": str(out), "points": len(ids), "finished": len(records), "ok": len(ok),
                    "failed": len(records) - len(ok),
                    "transient": sum(1 for r in records if r.get("status") != "ok" and record_failure(r) == "transient"),
                    "distinct_trainings": len({r["model_key"] for r in ok}),
                    "distinct_syntheses": {f: len({r["synth"][f]["key"] for r in ok_records(records, f)})
                                           for f in spec.synth},
                    "trainings_run": len(model_cache), "syntheses_run": len(synth_cache),
                    "wall_s": wall_time(runs, records),
                    "plots": [], "best": {}}
    lines = [f"# Sweep {out.name}", "",
             f"task {spec.task}, mode {spec.mode}, {len(ids)} points: {len(records)} finished "
             f"({len(ok)} ok, {len(records) - len(ok)} failed); "
             f"{result['distinct_trainings']} distinct trainings, distinct syntheses "
             + ", ".join(f"{f}: {n}" for f, n in result["distinct_syntheses"].items())
             + f"; wall time {result['wall_s'] / 60:.1f} min over {len(starts)} run(s).", ""]
    if starts:
        lines += [f"machine: {starts[-1].get('machine', '?')}; "
                  + (f"Dask cluster {starts[-1]['cluster']}" if starts[-1].get("cluster")
                     else f"{starts[-1].get('workers')} worker process(es)"), ""]
    for family in spec.synth:
        rs = ok_records(records, family)
        if not rs:
            continue
        png = (Path(img_dir) if img_dir else out) / f"{prefix}_{family}.png"
        device = rs[0]["synth"][family]["device"]
        plot_pareto(records, family, png, f"{spec.task}: integer score vs {family} cost "
                                          f"({len(rs)} configurations, {device} fits marked)")
        result["plots"].append(str(png))
        maximize = rs[0]["metric"] == "accuracy"
        x = [r["synth"][family]["luts"] for r in rs]
        front = pareto_front(x, [r["score"] for r in rs], maximize)
        lines += [f"## {family} ({device})", "", f"![Pareto {family}]({png.name if not img_dir else png})", "",
                  f"{sum(r['synth'][family]['fits_device'] for r in rs)} of {len(rs)} configurations fit the "
                  f"{device}.", "", "Pareto front, score against LUTs:", "",
                  "| score | LUTs | FFs | DSPs | BRAMs | fits | clocks/frame | configuration |",
                  "|---:|---:|---:|---:|---:|:-:|---:|---|"]
        for i in front:
            r, s = rs[i], rs[i]["synth"][family]
            lines.append(f"| {fmt_score(r)} | {s['luts']} | {s['ffs']} | {s['dsps']} | {s['brams']} | "
                         f"{'yes' if s['fits_device'] else 'no'} | {s['cycles_per_frame']} | {describe(r)} |")
        best = best_fitting(rs, family)
        if best is not None:
            name = f"best_{family}.json"
            atomic_write_text(out / name, json.dumps(best["config"], indent=2) + "\n")
            s = best["synth"][family]
            result["best"][family] = {"id": best["id"], "score": best["score"], "metric": best["metric"],
                                      "float_score": best["float_score"], "lanes": best["lanes"],
                                      "luts": s["luts"], "ffs": s["ffs"], "dsps": s["dsps"], "brams": s["brams"],
                                      "device": device, "config_file": str(out / name),
                                      "describe": describe(best)}
            lines += ["", f"**Best configuration that fits the {device}**: {fmt_score(best)} "
                          f"(float {best['float_score'] * (100 if maximize else 1):.{1 if maximize else 4}f}"
                          f"{' %' if maximize else ''}), {s['luts']} LUTs, {s['ffs']} FFs, {s['dsps']} DSPs, "
                          f"{s['brams']} BRAMs; {describe(best)}. Configuration: `{name}` "
                          f"(`memres train --task {spec.task} --config {name}`, then "
                          f"`memres generate MODEL --lanes {best['lanes']} --synth {family}`)."]
        lines.append("")
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["## Failed points", ""]
        if result["transient"]:
            lines += [f"{result['transient']} failed for want of resources (out of memory, a killed worker or "
                      "tool, a timeout): the same command runs them again.", ""]
        lines += [f"- `{r['id']}` {r.get('values')} ({record_failure(r)}): {r.get('error')}" for r in failed[:20]]
        if len(failed) > 20:
            lines.append(f"- ... and {len(failed) - 20} more (see {RESULTS_FILE})")
        lines.append("")
    atomic_write_text(out / SUMMARY_FILE, "\n".join(lines))
    result["summary"] = str(out / SUMMARY_FILE)
    return result

