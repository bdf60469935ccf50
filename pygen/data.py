"""``memres data``: download a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from memres.pygen.console import add_output_flags, emit, err
from memres.sw_model.atomic import check_output_path
from memres.sw_model.datasets import download_fsdd

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=("fsdd",), help="the dataset: fsdd (free spoken digits)")
    parser.add_argument("dir", help="folder to download into (its recordings/ subfolder is created)")
    add_output_flags(parser)


def run(args: argparse.Namespace) -> int:
    check_output_path(args.dir, directory=True)
    path = download_fsdd(args.dir, progress=not args.quiet)
    n = len(list(Path(path).glob("*.wav")))
    emit(args, {"dataset": "fsdd", "path": str(path), "files": n},
         lambda r: err.print(f"FSDD: {r['files']} recordings in {r['path']}"))
    return 0
