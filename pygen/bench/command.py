"""``memres bench``: its arguments, the settings they make, and the command that repeats a run."""

from __future__ import annotations

import argparse
import shlex

from memres.pygen.bench.runner import BenchError, run_bench
from memres.pygen.bench.settings import BENCH_TASKS, SECTIONS, Settings
from memres.pygen.console import MODEL_HELP, MODEL_METAVAR, add_output_flags, emit, err, progress_bars

__all__ = ["add_arguments", "settings_from_args", "command_line", "run"]


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip() and x.strip().lower() != "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", "--out", dest="out", default="bench-out", metavar="DIR",
                        help="output folder: report.md, results.json, PNGs, models, RTL runs (default bench-out)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default all)")
    parser.add_argument("--tasks", help=f"comma-separated subset of {','.join(BENCH_TASKS)} (default all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings for a smoke test: henon only, no LOSO, no boards, small speed runs")
    parser.add_argument("--loso", action=argparse.BooleanOptionalAction, default=None,
                        help="FSDD leave-one-speaker-out (default: on, off with --quick)")
    parser.add_argument("--fsdd-config", metavar="FILE", help="FSDD configuration (default: the built-in one)")
    parser.add_argument("--loso-config", metavar="FILE",
                        help="configuration of the LOSO runs (default: --fsdd-config); a smaller one keeps LOSO short")
    parser.add_argument("--data", help="FSDD folder (default ../shared/data/fsdd beside the checkout)")
    parser.add_argument("--boards", help="comma-separated boards for the hardware section, or 'none' "
                                         "(default icebreaker,ulx3s)")
    parser.add_argument("--lanes", help="comma-separated lane counts for the hardware section (default 1)")
    parser.add_argument("--hardware-source", metavar=MODEL_METAVAR,
                        help=f"what the hardware section builds: {MODEL_HELP} (default: the bench's FSDD model, "
                             "else its configuration)")
    parser.add_argument("--rtl-lanes", type=int, help="lanes of the RTL checked in the accuracy section (default 8)")
    parser.add_argument("--rtl-sequences", type=int, help="FSDD test utterances simulated in RTL (default 10)")
    parser.add_argument("--rtl-steps", type=int, help="time-series test steps simulated in RTL (default 200)")
    parser.add_argument("--no-rtl", action="store_true", help="no RTL simulation")
    parser.add_argument("--no-esn", action="store_true", help="no echo state network baseline")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the sections of an earlier run in --out (default: keep those not run now)")
    add_output_flags(parser)


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, tuple[str, ...]]:
    over = {}
    if args.tasks:
        over["tasks"] = _list(args.tasks)
    if args.loso is not None:
        over["loso"] = args.loso
    if args.boards is not None:
        over["boards"] = _list(args.boards)
    if args.lanes:
        over["lanes"] = tuple(int(x) for x in _list(args.lanes))
    for key in ("fsdd_config", "loso_config", "data", "hardware_source", "rtl_lanes", "rtl_sequences", "rtl_steps"):
        if getattr(args, key) is not None:
            over[key] = getattr(args, key)
    if args.no_rtl:
        over["rtl"] = False
    if args.no_esn:
        over["esn"] = False
    s = Settings.quick_settings(**over) if args.quick else Settings(**over)
    unknown = [t for t in s.tasks if t not in BENCH_TASKS]
    if unknown:
        raise BenchError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(BENCH_TASKS)}")
    sections = _list(args.sections)
    bad = [x for x in sections if x not in SECTIONS]
    if bad:
        raise BenchError(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    return s, sections


def command_line(args: argparse.Namespace) -> str:
    """The ``memres bench`` command that repeats this run (from the parsed options)."""
    parts = ["memres bench"]
    if args.sections != ",".join(SECTIONS):
        parts += ["--sections", args.sections]
    if args.quick:
        parts.append("--quick")
    if args.loso is not None:
        parts.append("--loso" if args.loso else "--no-loso")
    for key in ("tasks", "fsdd_config", "loso_config", "data", "boards", "lanes", "hardware_source", "rtl_lanes",
                "rtl_sequences", "rtl_steps"):
        if getattr(args, key) is not None:
            parts += ["--" + key.replace("_", "-"), str(getattr(args, key))]
    parts += [flag for flag, on in (("--no-rtl", args.no_rtl), ("--no-esn", args.no_esn)) if on]
    parts += ["-o", args.out]
    return " ".join(shlex.quote(p) if i else p for i, p in enumerate(parts))


def run(args: argparse.Namespace) -> int:
    s, sections = settings_from_args(args)
    command = command_line(args)
    with progress_bars(not args.quiet) as bars:
        results = run_bench(s, args.out, sections, command=command, bars=bars, keep=not args.fresh)
    emit(args, results, lambda r: err.print(f"report: {r['report']}"))
    return 0
