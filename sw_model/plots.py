"""PNG plots for ``memres evaluate --plots DIR`` (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import classify  # noqa: E402
from .model_file import TrainedModel  # noqa: E402
from .reservoir import FloatReservoir  # noqa: E402


def _save(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def device_states(path: Path, model: TrainedModel, u: np.ndarray, max_devices: int = 6,
                  max_frames: int = 60) -> str:
    """State of a few devices (shortest to longest tau) after every pulse of an input sequence."""
    u = u[:max_frames]
    res = FloatReservoir(model.config.reservoir, model.n_inputs)
    _, states = res.run_batch(u[None], record_states=True)
    g = states[0].reshape(-1, states.shape[-1])           # (T * ML, N)
    taus = res.params.tau_ns
    show = np.argsort(taus)[np.linspace(0, len(taus) - 1, min(max_devices, len(taus))).astype(int)]
    fig, ax = plt.subplots(figsize=(8, 4))
    cmap = plt.get_cmap("viridis")
    for k, n in enumerate(show):
        ax.plot(g[:, n], color=cmap(k / max(1, len(show) - 1)), lw=0.8, label=f"tau {taus[n]:.0f} ns")
    ml = model.config.reservoir.n_virtual
    ax.set_xlabel(f"pulse (ML = {ml} pulses per frame)")
    ax.set_ylabel("device state G")
    ax.set_title("Device states over one input sequence (float model)")
    ax.legend(fontsize=6, ncol=2, loc="best")
    return _save(fig, path)


def fsdd_plots(out: Path, model: TrainedModel, labels, dec_float, dec_fixed, u0: np.ndarray) -> dict:
    """Confusion matrix, early-recognition curve and device states."""
    paths = {}
    m = classify.confusion(labels, dec_fixed[:, -1], 10)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    im = ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > m.max() / 2 else "black")
    ax.set_xlabel("decided digit")
    ax.set_ylabel("spoken digit")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_title(f"Integer model, accuracy {np.trace(m) / m.sum():.1%}")
    fig.colorbar(im, ax=ax, shrink=0.8)
    paths["confusion"] = _save(fig, out / "confusion.png")

    fr = np.array(classify.EARLY_FRACTIONS) * 100
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(fr, classify.accuracy(dec_float, labels) * 100, "o-", label="float")
    ax.plot(fr, classify.accuracy(dec_fixed, labels) * 100, "s--", label="integer (hardware)")
    ax.set_xlabel("part of the utterance heard (%)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Early recognition")
    ax.grid(alpha=0.3)
    ax.legend()
    paths["early"] = _save(fig, out / "early.png")
    paths["states"] = device_states(out / "states.png", model, u0)
    return paths


def regression_plots(out: Path, model: TrainedModel, y, pred_float, pred_fixed, u_head) -> dict:
    """Target against prediction over the first test steps, and device states."""
    n = min(200, len(y))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(y[:n, 0], "k", lw=1.2, label="target")
    ax.plot(pred_float[:n, 0], lw=0.9, label="float model")
    ax.plot(pred_fixed[:n, 0], "--", lw=0.9, label="integer model")
    ax.set_xlabel("test step")
    ax.set_title(f"{model.task}: one-step prediction")
    ax.legend()
    paths = {"prediction": _save(fig, out / "prediction.png")}
    paths["states"] = device_states(out / "states.png", model, u_head)
    return paths
