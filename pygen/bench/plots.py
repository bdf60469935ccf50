"""The PNG plots of a bench run: accuracy, early recognition, speed, hardware."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from memres.sw_model.atomic import atomic_output

__all__ = ["plots"]


def _subplots(*grid, figsize, **kw):
    """A figure (no pyplot, so no global backend) and its axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kw)


def plots(out: Path, results: dict) -> list[Path]:
    """Draw the plots of the sections in ``results`` into ``out``; returns the files written."""
    made = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        made.append(out / name)
        with atomic_output(made[-1], "wb") as f:
            fig.savefig(f, format="png", dpi=110)

    sec = results["sections"]
    colours = {"float": "tab:blue", "integer": "tab:orange", "ESN": "tab:green"}

    def val(v):
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan

    acc = sec.get("accuracy")
    if acc and acc["rows"]:
        cls = [r for r in acc["rows"] if r["metric"] == "accuracy"]
        reg = [r for r in acc["rows"] if r["metric"] == "nrmse"]
        fig, axes = _subplots(1, int(bool(cls)) + int(bool(reg)), figsize=(5 + 4 * bool(cls and reg), 3.8),
                                 squeeze=False)
        panels = [(cls, "accuracy (%)", 100.0, lambda r: f"FSDD {r['split']}"),
                  (reg, "test NRMSE (lower is better)", 1.0, lambda r: r["task"])]
        k = 0
        for rows, ylabel, scale, name in panels:
            if not rows:
                continue
            ax = axes[0][k]
            k += 1
            x = np.arange(len(rows))
            for j, (key, lab) in enumerate((("float", "float"), ("fixed", "integer"), ("esn", "ESN"))):
                ax.bar(x + (j - 1) * 0.27, [scale * val(r[key]) for r in rows], 0.27, label=lab,
                       color=colours[lab])
            ax.set_xticks(x, [name(r) for r in rows], rotation=20, ha="right")
            ax.set_ylabel(ylabel)
            if scale == 1.0:
                ax.set_yscale("log")
                ax.legend(fontsize=8)
            else:       # headroom above 100 % for the legend, clear of the bars
                ax.set_ylim(0, 118)
                ax.set_yticks(range(0, 101, 20))
                ax.legend(fontsize=8, ncol=3, loc="upper center")
        fig.suptitle("Accuracy: memristive reservoir (float, integer = RTL) vs ESN", fontsize=10)
        save(fig, "accuracy.png")
    if acc and acc.get("early"):
        fig, ax = _subplots(figsize=(5, 3.5))
        fr = [100 * e["fraction"] for e in acc["early"]]
        for key, lab in (("float", "float"), ("fixed", "integer"), ("esn", "ESN")):
            ax.plot(fr, [100 * val(e[key]) for e in acc["early"]], "o-", label=lab, color=colours[lab])
        ax.set_xlabel("part of each utterance heard (%)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title("FSDD early recognition (standard split)")
        ax.legend()
        save(fig, "early.png")
    sp = sec.get("speed")
    if sp:
        g = sp["golden"]
        names = ["float", "integer", f"ESN {g['esn_units']}"]
        vals = [val(g["float_frames_per_s"]), val(g["fixed_frames_per_s"]), val(g["esn_frames_per_s"])]
        fig, ax = _subplots(figsize=(5, 3.5))
        ax.bar(names, vals, color=[colours["float"], colours["integer"], colours["ESN"]])
        ax.set_ylabel("frames per second")
        ax.set_title(f"Golden model speed (N={g['devices']}, ML={g['virtual_nodes']})")
        save(fig, "speed.png")
    hw = sec.get("hardware")
    if hw and any("fmax_mhz" in r for r in hw["rows"]):
        fig, (a1, a2) = _subplots(1, 2, figsize=(9, 3.5))
        for board in sorted({r["board"] for r in hw["rows"]}):
            rows = [r for r in hw["rows"] if r["board"] == board and "fmax_mhz" in r]
            a1.plot([r["lanes"] for r in rows], [r["fmax_mhz"] for r in rows], "o-", label=board)
            a2.plot([r["lanes"] for r in rows], [r.get("frames_per_s_at_fmax", np.nan) for r in rows], "o-",
                    label=board)
        a1.set_xlabel("lanes")
        a1.set_ylabel("Fmax (MHz)")
        a2.set_xlabel("lanes")
        a2.set_ylabel("frames/s at Fmax")
        a2.set_yscale("log")
        a1.legend()
        save(fig, "hardware.png")
    return made

