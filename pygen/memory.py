"""``memres memory``: the linear memory capacity of a configuration."""

from __future__ import annotations

import argparse

from matplotlib.figure import Figure

from memres.pygen.console import add_output_flags, emit, err
from memres.sw_model import workflow
from memres.sw_model.atomic import atomic_output, check_output_path
from memres.sw_model.budget import ensure_training_fits
from memres.sw_model.config import load_config
from memres.sw_model.memory import memory_capacity
from memres.sw_model.reservoir import n_features
from memres.sw_model.workflow import TASK_NAMES

__all__ = ["add_arguments", "run", "N_TRAIN", "N_TEST", "WASHOUT"]

#: The steps of random input :func:`sw_model.memory.memory_capacity` runs (its defaults).
N_TRAIN, N_TEST, WASHOUT = 2000, 1000, 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="configuration file; default: the built-in one of --task")
    parser.add_argument("--task", default="fsdd", choices=TASK_NAMES, help="whose default configuration to use")
    parser.add_argument("--max-delay", type=int, default=30, help="longest delay (frames) recalled (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input (default 0)")
    parser.add_argument("--plot", metavar="PNG",
                        help="write the memory profile as a bar plot to this PNG file (written as named; "
                             "an existing folder is refused)")
    add_output_flags(parser)


def run(args: argparse.Namespace) -> int:
    if args.plot:
        check_output_path(args.plot)
    cfg = load_config(args.config) if args.config is not None else workflow.default_config(args.task)
    # the float reservoir's features of the whole random series (float only: training_bytes counts frames
    # twice, for a float and an integer model), then one ridge fit with max_delay outputs
    ensure_training_fits(n_features(cfg.reservoir), args.max_delay, frames=(WASHOUT + N_TRAIN + N_TEST) // 2,
                         what="the memory capacity run")
    mc = memory_capacity(cfg, max_delay=args.max_delay, seed=args.seed, n_train=N_TRAIN, n_test=N_TEST,
                         washout=WASHOUT)
    result = {"config_hash": cfg.hash(), "memory_capacity": mc.to_dict(), "notes": cfg.reservoir.notes()}
    if args.plot:
        _plot(mc, args.plot)
        result["plot"] = args.plot
    emit(args, result, lambda r: err.print(
        f"memory capacity {mc.total:.2f} (sum over delays 1..{args.max_delay}); "
        f"first delays: {', '.join(f'{v:.2f}' for v in mc.profile[:10])}"))
    return 0


def _plot(mc, path) -> None:
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.bar(mc.delays, mc.profile)
    ax.set_xlabel("delay (frames)")
    ax.set_ylabel("recall r^2")
    ax.set_title(f"Memory capacity {mc.total:.2f}")
    fig.tight_layout()
    with atomic_output(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
