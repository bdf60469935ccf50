"""``memres evaluate``: recompute the test metrics of a saved model."""

from __future__ import annotations

import argparse

from pygen.console import add_output_flags, emit, progress_bars
from pygen.train import print_metrics
from sw_model import workflow
from sw_model.model_file import load_model

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the model file (.npz) written by memres train")
    parser.add_argument("--data", help="FSDD folder (default: the one used for training)")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR")
    add_output_flags(parser)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    with progress_bars(not args.quiet) as bars:
        result = workflow.evaluate(model, data_dir=args.data, plots_dir=args.plots, progress=bars)
    result = {"model": str(args.model), **result}
    emit(args, result, print_metrics)
    return 0
