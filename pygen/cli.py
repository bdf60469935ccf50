"""The ``memres`` command line.

Every command takes ``--json`` and then prints exactly one JSON object with
its results on stdout; progress and messages go to stderr. Errors a user can
fix (a bad configuration, a missing file, a corrupt model) end with exit
status 2 and one line naming the problem, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sw_model import __version__
from sw_model.errors import MemresError

err = Console(stderr=True)


class UserError(MemresError):
    """A problem the user can fix; printed without a traceback."""


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Yield a factory ``(description, total) -> advance(n)`` drawing rich bars on stderr."""
    if not enabled:
        yield lambda description, total: (lambda n: None)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as bars:
        def factory(description: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(description, total=total)
            return lambda n: bars.advance(task, n)
        yield factory


def add_output_flags(parser: argparse.ArgumentParser, json_help: str, quiet_help: str) -> None:
    """``--json`` and ``-q/--quiet`` for a command, unless the parser already has them."""
    dests = {a.dest for a in parser._actions}
    if "json" not in dests:
        parser.add_argument("--json", action="store_true", help=json_help)
    if "quiet" not in dests:
        parser.add_argument("-q", "--quiet", action="store_true", help=quiet_help)


def emit(args: argparse.Namespace, result: dict, human: Callable[[dict], None]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, indent=None, sort_keys=False, default=float))
    else:
        human(result)


# --- train / evaluate -----------------------------------------------------------

def _load_config(path):
    from sw_model.config import load_config
    return None if path is None else load_config(path)


def cmd_train(args) -> int:
    from sw_model import workflow
    cfg = _load_config(args.config) or workflow.default_config(args.task)
    if args.read_noise is not None:
        cfg = cfg.replace(reservoir={"read_noise": args.read_noise})
    for note in cfg.reservoir.notes():
        err.print(f"[yellow]note:[/] {note}")
    with progress_bars(not args.quiet) as bars:
        model = workflow.train(args.task, cfg, data_dir=args.data, split=args.split, seed=args.seed,
                               noise=args.noise, progress=bars, show_frontend_progress=not args.quiet)
    path = model.save(args.output)
    result = {"model": str(path), "config_hash": cfg.hash(), **model.metrics}
    emit(args, result, _print_metrics)
    return 0


def cmd_evaluate(args) -> int:
    from sw_model import workflow
    from sw_model.model_file import load_model
    model = load_model(args.model)
    with progress_bars(not args.quiet) as bars:
        result = workflow.evaluate(model, data_dir=args.data, plots_dir=args.plots, progress=bars)
    result = {"model": str(args.model), **result}
    emit(args, result, _print_metrics)
    return 0


def _print_metrics(m: dict) -> None:
    task = m.get("task", "")
    if "accuracy" in m.get("float", {}):
        err.print(f"[bold]{task}[/]: test accuracy float {m['float']['accuracy']:.2%}, "
                  f"integer {m['fixed']['accuracy']:.2%} ({m.get('n_test', '?')} utterances)")
        early = ", ".join(f"{e['fraction']:.0%}: {e['fixed']:.1%}" for e in m.get("early", []))
        if early:
            err.print(f"  early recognition (integer): {early}")
        if "loso" in m:
            err.print(f"  leave-one-speaker-out: float {m['loso']['accuracy']:.2%}, "
                      f"integer {m['loso']['fixed_accuracy']:.2%}")
    else:
        err.print(f"[bold]{task}[/]: test NRMSE float {m['float']['nrmse']:.4f}, integer {m['fixed']['nrmse']:.4f}")
    for key in ("model", "plots"):
        if key in m:
            err.print(f"  {key}: {m[key]}")


# --- memory capacity ------------------------------------------------------------

def cmd_memory(args) -> int:
    from sw_model import workflow
    from sw_model.memory import memory_capacity
    cfg = _load_config(args.config) or workflow.default_config(args.task)
    mc = memory_capacity(cfg, max_delay=args.max_delay, seed=args.seed)
    result = {"config_hash": cfg.hash(), "memory_capacity": mc.to_dict(), "notes": cfg.reservoir.notes()}
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.bar(mc.delays, mc.profile)
        ax.set_xlabel("delay (frames)")
        ax.set_ylabel("recall r^2")
        ax.set_title(f"Memory capacity {mc.total:.2f}")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        result["plot"] = args.plot
    emit(args, result, lambda r: err.print(
        f"memory capacity {mc.total:.2f} (sum over delays 1..{args.max_delay}); "
        f"first delays: {', '.join(f'{v:.2f}' for v in mc.profile[:10])}"))
    return 0


# --- data ------------------------------------------------------------------------

def cmd_data(args) -> int:
    from sw_model.datasets import download_fsdd
    path = download_fsdd(args.dir, progress=not args.quiet)
    n = len(list(Path(path).glob("*.wav")))
    emit(args, {"dataset": "fsdd", "path": str(path), "files": n},
         lambda r: err.print(f"FSDD: {r['files']} recordings in {r['path']}"))
    return 0


# --- demo ------------------------------------------------------------------------

def cmd_demo(args) -> int:
    """Train, evaluate, generate Verilog, verify it against the integer model, build a bitstream."""
    from sw_model import workflow
    out = Path(args.output)
    task = "fsdd" if args.data else "henon"
    err.print(f"[bold]memres demo[/]: task {task}, outputs in {out}/")
    cfg = workflow.default_config(task)
    with progress_bars(not args.quiet) as bars:
        model = workflow.train(task, cfg, data_dir=args.data, progress=bars)
        model_path = model.save(out / "model.npz")
        evaluation = workflow.evaluate(model, data_dir=args.data, plots_dir=out / "plots", progress=bars)
    result = {"task": task, "model": str(model_path), "train": model.metrics, "evaluate": evaluation}
    steps = _demo_hardware_steps()
    for name, step in steps:
        err.print(f"[bold]{name}[/] ...")
        result[name] = step(model_path, out, args)
    emit(args, result, lambda r: (_print_metrics({**r["evaluate"], "model": r["model"],
                                                  "plots": out / "plots"}),
                                  err.print(f"done: {', '.join(['train', 'evaluate'] + [n for n, _ in steps])}")))
    return 0


def _demo_hardware_steps() -> list:
    """The hardware stages of the demo: generate, verify in RTL simulation, build a bitstream."""

    def generate(model_path, out, args):
        from pygen.generate import generate as gen
        manifest = gen(model_path, out / "verilog", lanes=1)
        err.print(f"  Verilog in {out / 'verilog'}: {manifest['cycles_per_frame']} cycles per frame, "
                  f"latency {manifest['latency']} cycles")
        return {"dir": str(out / "verilog"), "cycles_per_frame": manifest["cycles_per_frame"],
                "latency": manifest["latency"]}

    def verify(model_path, out, args):
        from pygen.verify import verify as check
        # A sample of the test data keeps the demo short; `memres verify MODEL` checks it all.
        r = check(model_path, out_dir=out / "verify", sequences=4, random_count=2, data_dir=args.data)
        err.print(f"  RTL on Verilator: {r['cycles']} cycles, {r['compared']} values compared, "
                  f"{r['mismatches']} mismatches")
        if r["mismatches"]:
            raise UserError(f"the RTL disagrees with the integer model: {r['first_mismatch']}")
        return {k: r[k] for k in ("cycles", "compared", "mismatches", "passed")}

    def build(model_path, out, args):
        from pygen.build import BuildError, build as make
        try:
            r = make(model_path, "icebreaker", out / "build-icebreaker")
        except BuildError as e:
            # A model too big for the board is a finding, not a crash: report it and finish.
            err.print(f"  [yellow]no iCEBreaker bitstream:[/] {e}")
            return {"ok": False, "error": str(e)}
        err.print(f"  iCEBreaker bitstream {r['bitstream']}: Fmax {r['fmax_mhz']:.1f} MHz, "
                  f"{r['frames_per_s']:.0f} frames/s")
        return {"ok": True, **{k: r[k] for k in ("bitstream", "fmax_mhz", "frames_per_s", "realtime_factor",
                                                   "utilisation")}}

    return [("generate", generate), ("verify", verify), ("build", build)]


# --- parser ---

HARDWARE_COMMANDS = (
    ("generate", "pygen.generate", "write Verilog and a manifest for a model or configuration"),
    ("verify", "pygen.verify", "simulate the RTL and check it cycle by cycle against the integer model"),
    ("build", "pygen.build", "build a bitstream for a dev board and report Fmax and utilisation"),
    ("program", "pygen.program", "flash a bitstream onto a dev board"),
    ("run", "pygen.runtime", "stream WAV files to a board (or its simulation) and print decisions"),
    ("bench", "pygen.bench", "measure accuracy, speed and hardware beside an echo state network; write a report"),
    ("sweep", "pygen.sweep", "design-space sweep: integer accuracy against synthesis cost, Pareto plots"),
)


def build_parser() -> argparse.ArgumentParser:
    from sw_model.workflow import TASK_NAMES
    p = argparse.ArgumentParser(prog="memres", description="Memristive reservoir computing: model to verified FPGA hardware.")
    p.add_argument("--version", action="version", version=f"memres {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    sp = sub.add_parser("train", help="train a model on a task and save it")
    sp.add_argument("--task", required=True, choices=TASK_NAMES)
    sp.add_argument("--data", help="FSDD folder (default: ../shared/data/fsdd beside the checkout)")
    sp.add_argument("--config", help="configuration file (.json or .toml); default: the task's built-in one")
    sp.add_argument("--split", choices=("standard", "loso"), default="standard",
                    help="fsdd: also run leave-one-speaker-out with 'loso'")
    sp.add_argument("--seed", type=int, default=0, help="seed of the synthetic series")
    sp.add_argument("--noise", type=float, default=0.0, help="henon: input noise as a fraction of its std (0.001 = 0.1 %%)")
    sp.add_argument("--read-noise", type=float, default=None,
                    help="override reservoir.read_noise: relative cycle-to-cycle noise on every read current "
                         "(float model; 0.001 = 0.1 %%)")
    sp.add_argument("-o", "--output", required=True, help="model file to write")
    common(sp)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="recompute the test metrics of a saved model")
    sp.add_argument("model")
    sp.add_argument("--data", help="FSDD folder (default: the one used for training)")
    sp.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR")
    common(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("demo", help="run the whole flow on a built-in default (or on FSDD with --data)")
    sp.add_argument("--data", help="FSDD folder: run the spoken-digit task instead of the synthetic default")
    sp.add_argument("-o", "--output", default="memres-demo", help="output folder (default: memres-demo)")
    common(sp)
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("memory", help="linear memory capacity of a configuration")
    sp.add_argument("--config", help="configuration file; default: the built-in one of --task")
    sp.add_argument("--task", default="fsdd", choices=TASK_NAMES, help="whose default configuration to use")
    sp.add_argument("--max-delay", type=int, default=30)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--plot", metavar="PNG", help="write the memory profile as a bar plot")
    common(sp)
    sp.set_defaults(func=cmd_memory)

    sp = sub.add_parser("data", help="download a dataset")
    sp.add_argument("dataset", choices=("fsdd",))
    sp.add_argument("dir")
    common(sp)
    sp.set_defaults(func=cmd_data)

    # The hardware commands live in their own modules, each with add_arguments(parser) and run(args).
    for name, module, help_text in HARDWARE_COMMANDS:
        mod = importlib.import_module(module)
        sp = sub.add_parser(name, help=help_text)
        mod.add_arguments(sp)
        sp.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    from sw_model.config import ConfigError
    from sw_model.datasets import DatasetError
    from sw_model.model_file import ModelFileError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, ConfigError, DatasetError, ModelFileError, FileNotFoundError, ValueError) as e:
        err.print(f"[red]memres {args.command}: error:[/] {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
