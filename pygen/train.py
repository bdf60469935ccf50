"""``memres train``: train a model on a task and save it (and :func:`print_metrics`, its summary)."""

from __future__ import annotations

import argparse

from memres.pygen.console import add_output_flags, emit, err, progress_bars, say
from memres.sw_model import regression, speech, workflow
from memres.sw_model.atomic import check_output_path
from memres.sw_model.budget import ensure_training_fits
from memres.sw_model.config import ModelConfig, load_config
from memres.sw_model.reservoir import n_features
from memres.sw_model.workflow import TASK_NAMES

__all__ = ["add_arguments", "run", "print_metrics", "check_training_memory", "FSDD_BATCH_FRAMES",
           "FSDD_RECORDINGS"]

#: Frames of FSDD features held at once: a batch of 256 recordings padded to 2.5 s at 100 frames/s
#: (sw_model.reservoir.FloatReservoir.run), plus two 8192-frame blocks buffered for the Gram sums.
FSDD_BATCH_FRAMES = 256 * 250 + 2 * 8192
#: Recordings of FSDD whose early-recognition prefix sums are kept.
FSDD_RECORDINGS = 3000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASK_NAMES, help="task to train on")
    parser.add_argument("--data", help="FSDD folder (default: ../shared/data/fsdd beside the checkout)")
    parser.add_argument("--config", help="configuration file (.json or .toml); default: the task's built-in one")
    parser.add_argument("--split", choices=("standard", "loso"), default="standard",
                        help="fsdd: also run leave-one-speaker-out with 'loso'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic series")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="henon: input noise as a fraction of its std (0.001 = 0.1 %%)")
    parser.add_argument("--read-noise", type=float, default=None,
                        help="override reservoir.read_noise: relative cycle-to-cycle noise on every read current "
                             "(float model; 0.001 = 0.1 %%)")
    parser.add_argument("-o", "--output", "--out", dest="output", required=True, metavar="FILE",
                        help="model file to write (.npz; checked before training starts)")
    add_output_flags(parser)


def check_training_memory(task: str, cfg: ModelConfig, what: str | None = None) -> int:
    """Refuse (:class:`sw_model.budget.MemoryBudgetError`) a training of ``task`` on ``cfg`` that would not
    fit in the available memory; returns the estimate in bytes (:func:`sw_model.budget.training_bytes`)."""
    f = n_features(cfg.reservoir)
    what = what or f"training {task}"
    if task == "fsdd":
        return ensure_training_fits(f, speech.N_CLASSES, frames=FSDD_BATCH_FRAMES, grams=2,
                                    sequences=FSDD_RECORDINGS, what=what)
    frames = cfg.readout.washout + regression.N_TRAIN + regression.N_TEST
    return ensure_training_fits(f, 1, frames=frames, grams=2, what=what)


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    cfg = load_config(args.config) if args.config is not None else workflow.default_config(args.task)
    if args.read_noise is not None:
        cfg = cfg.replace(reservoir={"read_noise": args.read_noise})
    check_training_memory(args.task, cfg)
    for note in cfg.reservoir.notes():
        say(args, f"[yellow]note:[/] {note}")
    with progress_bars(not args.quiet) as bars:
        model = workflow.train(args.task, cfg, data_dir=args.data, split=args.split, seed=args.seed,
                               noise=args.noise, progress=bars, show_frontend_progress=not args.quiet)
    path = model.save(args.output)
    result = {"model": str(path), "config_hash": cfg.hash(), **model.metrics}
    emit(args, result, print_metrics)
    return 0


def print_metrics(m: dict) -> None:
    """The test figures of a trained or evaluated model, for people (stderr)."""
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
