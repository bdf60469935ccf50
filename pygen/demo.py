"""``memres demo``: the whole flow on a built-in default (or on FSDD with ``--data``).

Train, evaluate, generate Verilog, verify it against the integer model in RTL
simulation, build an iCEBreaker bitstream.
"""

from __future__ import annotations

import argparse

from memres.pygen import build as build_mod
from memres.pygen import generate as generate_mod
from memres.pygen import verify as verify_mod
from memres.pygen.console import UserError, add_output_flags, emit, err, progress_bars, say
from memres.pygen.train import check_training_memory, print_metrics
from memres.sw_model import workflow
from memres.sw_model.atomic import check_output_path

__all__ = ["add_arguments", "run", "hardware_steps"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="FSDD folder: run the spoken-digit task instead of the synthetic default")
    parser.add_argument("-o", "--output", "--out", dest="output", default="memres-demo", metavar="DIR",
                        help="output folder (default: memres-demo)")
    add_output_flags(parser)


def run(args: argparse.Namespace) -> int:
    out = check_output_path(args.output, directory=True)
    task = "fsdd" if args.data else "henon"
    cfg = workflow.default_config(task)
    check_training_memory(task, cfg)
    say(args, f"[bold]memres demo[/]: task {task}, outputs in {out}/")
    with progress_bars(not args.quiet) as bars:
        model = workflow.train(task, cfg, data_dir=args.data, progress=bars)
        model_path = model.save(out / "model.npz")
        evaluation = workflow.evaluate(model, data_dir=args.data, plots_dir=out / "plots", progress=bars)
    result = {"task": task, "model": str(model_path), "train": model.metrics, "evaluate": evaluation}
    steps = hardware_steps()
    for name, step in steps:
        say(args, f"[bold]{name}[/] ...")
        result[name] = step(model_path, out, args)
    emit(args, result, lambda r: (print_metrics({**r["evaluate"], "model": r["model"], "plots": out / "plots"}),
                                  err.print(f"done: {', '.join(['train', 'evaluate'] + [n for n, _ in steps])}")))
    return 0


def hardware_steps() -> list:
    """The hardware stages of the demo: generate, verify in RTL simulation, build a bitstream."""

    def generate(model_path, out, args):
        manifest = generate_mod.generate(model_path, out / "verilog", lanes=1)
        say(args, f"  Verilog in {out / 'verilog'}: {manifest['cycles_per_frame']} cycles per frame, "
                  f"latency {manifest['latency']} cycles")
        return {"dir": str(out / "verilog"), "cycles_per_frame": manifest["cycles_per_frame"],
                "latency": manifest["latency"]}

    def verify(model_path, out, args):
        # A sample of the test data keeps the demo short; `memres verify MODEL` checks it all.
        r = verify_mod.verify(model_path, out_dir=out / "verify", sequences=4, random_count=2, data_dir=args.data)
        say(args, f"  RTL on Verilator: {r['cycles']} cycles, {r['compared']} values compared, "
                  f"{r['mismatches']} mismatches")
        if r["mismatches"]:
            raise UserError(f"the RTL disagrees with the integer model: {r['first_mismatch']}")
        return {k: r[k] for k in ("cycles", "compared", "mismatches", "passed")}

    def build(model_path, out, args):
        try:
            r = build_mod.build(model_path, "icebreaker", out / "build-icebreaker")
        except build_mod.BuildError as e:
            # A model too big for the board is a finding, not a crash: report it and finish.
            say(args, f"  [yellow]no iCEBreaker bitstream:[/] {e}")
            return {"ok": False, "error": str(e)}
        say(args, f"  iCEBreaker bitstream {r['bitstream']}: Fmax {r['fmax_mhz']:.1f} MHz, "
                  f"{r['frames_per_s']:.0f} frames/s")
        return {"ok": True, **{k: r[k] for k in ("bitstream", "fmax_mhz", "frames_per_s", "realtime_factor",
                                                   "device_time_factor", "audio_realtime_factor", "utilisation")}}

    return [("generate", generate), ("verify", verify), ("build", build)]
