"""``memres evaluate``: recompute the test metrics of a saved model."""

from __future__ import annotations

import argparse

from memres.pygen.console import MODEL_METAVAR, TRAINED_MODEL_HELP, add_output_flags, emit, progress_bars
from memres.pygen.train import print_metrics
from memres.sw_model import workflow
from memres.sw_model.atomic import check_output_path
from memres.sw_model.model_file import load_model

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar=MODEL_METAVAR, help=f"{TRAINED_MODEL_HELP} (written by memres train)")
    parser.add_argument("--data", help="FSDD folder (default: the one used for training)")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots into the folder DIR (created if missing)")
    add_output_flags(parser)


def run(args: argparse.Namespace) -> int:
    if args.plots:
        check_output_path(args.plots, directory=True)
    model = load_model(args.model)
    with progress_bars(not args.quiet) as bars:
        result = workflow.evaluate(model, data_dir=args.data, plots_dir=args.plots, progress=bars)
    result = {"model": str(args.model), **result}
    emit(args, result, print_metrics)
    return 0
