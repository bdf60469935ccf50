"""``memres memory``: the linear memory capacity of a configuration."""

from __future__ import annotations

import argparse

from matplotlib.figure import Figure

from pygen.console import add_output_flags, emit, err
from sw_model import workflow
from sw_model.config import load_config
from sw_model.memory import memory_capacity
from sw_model.workflow import TASK_NAMES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="configuration file; default: the built-in one of --task")
    parser.add_argument("--task", default="fsdd", choices=TASK_NAMES, help="whose default configuration to use")
    parser.add_argument("--max-delay", type=int, default=30, help="longest delay (frames) recalled (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input (default 0)")
    parser.add_argument("--plot", metavar="PNG", help="write the memory profile as a bar plot")
    add_output_flags(parser)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config) if args.config is not None else workflow.default_config(args.task)
    mc = memory_capacity(cfg, max_delay=args.max_delay, seed=args.seed)
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
    fig.savefig(path, dpi=110)
