"""The Pareto plots of a sweep: integer score against LUTs, DSPs and BRAMs, the device's capacity marked."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from memres.pygen.sweep.analysis import COSTS, best_fitting, ok_records, pareto_front
from memres.sw_model.atomic import atomic_output

__all__ = ["plot_pareto"]


def plot_pareto(records: list[dict], family: str, path: Path, title: str) -> Path:
    rs = ok_records(records, family)
    metric = rs[0]["metric"] if rs else "accuracy"
    maximize = metric == "accuracy"
    fig = Figure(figsize=(5.2 * len(COSTS), 4.2))
    axes = fig.subplots(1, len(COSTS), squeeze=False)
    best = best_fitting(rs, family)
    for ax, (cost, label) in zip(axes[0], COSTS):
        x = [r["synth"][family][cost] for r in rs]
        y = [r["score"] * (100 if maximize else 1) for r in rs]
        fit = [r["synth"][family]["fits_device"] for r in rs]
        device = rs[0]["synth"][family]["device"] if rs else family
        ax.scatter([a for a, f in zip(x, fit) if not f], [b for b, f in zip(y, fit) if not f], s=14, c="0.65",
                   marker="x", label=f"does not fit {device}")
        ax.scatter([a for a, f in zip(x, fit) if f], [b for b, f in zip(y, fit) if f], s=16, c="tab:blue",
                   alpha=0.7, label=f"fits {device}")
        front = pareto_front(x, y, maximize)
        ax.step([x[i] for i in front], [y[i] for i in front], where="post", c="tab:red", lw=1.2)
        ax.scatter([x[i] for i in front], [y[i] for i in front], s=40, facecolors="none", edgecolors="tab:red",
                   label="Pareto front")
        if best is not None:
            ax.scatter([best["synth"][family][cost]], [best["score"] * (100 if maximize else 1)], s=160,
                       marker="*", c="gold", edgecolors="k", zorder=5, label=f"best that fits {device}")
        cap = rs[0]["synth"][family]["capacity"].get(cost) if rs else None
        if cap is not None and x and max(x) >= 0.5 * cap:
            ax.axvline(cap, c="tab:green", ls="--", lw=1)
            ax.text(cap, ax.get_ylim()[0], f" {device} {label}", color="tab:green", fontsize=8, rotation=90,
                    va="bottom", ha="right")
        ax.set_xlabel(f"{label} ({family})")
        ax.set_ylabel("integer test accuracy (%)" if maximize else "integer test NRMSE")
        if cost == "luts" and x and max(x) > 20 * max(1, min(x)):
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right" if maximize else "upper right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_output(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return path

