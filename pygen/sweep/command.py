"""``memres sweep SPEC -o DIR``: its arguments and the command."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from memres.pygen.console import add_output_flags, err, progress_bars
from memres.pygen.sweep.runner import run_sweep
from memres.pygen.sweep.spec import SweepError, load_spec
from memres.pygen.sweep.store import RESULTS_FILE, load_results
from memres.pygen.sweep.summary import report
from memres.sw_model.atomic import check_output_path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``memres sweep SPEC -o DIR [--workers N | --cluster ADDRESS] ...``."""
    parser.add_argument("spec", metavar="SPEC", help="sweep specification (.toml or .json; see docs/sweep.md)")
    parser.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="DIR",
                        help="output folder: results.jsonl, caches, plots, summary.md (resumed if it exists)")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"local worker processes (default: all {os.cpu_count()} cores)")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run on a Dask cluster (scheduler address, e.g. tcp://host:8786) instead")
    parser.add_argument("--limit", type=int, metavar="N", help="run at most N unfinished points, then stop")
    parser.add_argument("--retry-failed", action="store_true",
                        help="also run points that failed for good (a configuration that cannot be trained or "
                             "built) again; points that failed for want of resources (out of memory, a killed "
                             "worker, a timeout) are always run again")
    parser.add_argument("--report-only", action="store_true", help="only redraw plots and summary from the results")
    parser.add_argument("--img-dir", metavar="DIR", help="write the Pareto PNGs here instead of into the output folder")
    add_output_flags(parser)


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    check_output_path(args.out, directory=True)
    if args.img_dir:
        check_output_path(args.img_dir, directory=True)
    if args.limit is not None and args.limit < 0:
        raise SweepError(f"--limit must be >= 0, not {args.limit}")
    if args.workers is not None and args.workers < 1:
        raise SweepError(f"--workers must be at least 1, not {args.workers}")
    if args.cluster and args.workers:
        raise SweepError("--workers and --cluster exclude each other (the cluster has its own workers)")
    counts = {}
    if not args.report_only:
        try:
            with progress_bars(not args.quiet) as bars:
                counts = run_sweep(spec, args.out, workers=args.workers, cluster=args.cluster, limit=args.limit,
                                   retry_failed=args.retry_failed, progress=bars)
        except KeyboardInterrupt:
            done = len(load_results(args.out))
            err.print(f"[yellow]interrupted[/]: {done} finished points are in {Path(args.out) / RESULTS_FILE}; "
                      f"run the same command again to resume")
            return 130
    rep = report(args.out, spec, img_dir=args.img_dir)
    result = {"run": counts, **rep}
    if args.json:
        print(json.dumps(result, default=float))
    else:
        transient = f", {rep['transient']} of them for want of resources: run again" if rep["transient"] else ""
        err.print(f"{rep['finished']}/{rep['points']} points finished ({rep['ok']} ok, {rep['failed']} failed"
                  f"{transient}); "
                  f"distinct syntheses: {rep['distinct_syntheses']}; summary {rep['summary']}")
        for family, b in rep["best"].items():
            err.print(f"  best that fits the {b['device']}: {b['metric']} {b['score']:.4f}, {b['luts']} LUTs, "
                      f"{b['dsps']} DSPs, {b['brams']} BRAMs: {b['describe']}")
    return 0
