"""The ``memres`` command line: the dispatcher on top of the command modules.

Every command lives in its own module with ``add_arguments(parser)`` and
``run(args) -> exit status`` (:data:`COMMANDS`); only the module of the
command being run is imported, so ``memres --help`` stays fast.

Every command takes ``--json`` and then prints exactly one JSON object with
its results on stdout; progress and messages go to stderr (``pygen/console.py``).
Errors a user can fix (:class:`sw_model.errors.MemresError`: a bad
configuration, a missing file, a corrupt model) end with exit status 2 and one
line naming the problem, not a traceback; with ``--json`` stdout then holds
``{"error": ..., "type": ...}``. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Iterable

from memres.pygen.console import UserError, add_output_flags, emit, emit_error, err, finish_progress, setup_logging
from memres.sw_model import __version__
from memres.sw_model.errors import MemresError

# UserError, add_output_flags, emit and err live in pygen.console; they are re-exported here for code that
# still imports them from pygen.cli (pygen/program.py and pygen/runtime.py do, inside functions).
__all__ = ["COMMANDS", "build_parser", "main", "UsageError", "UserError", "add_output_flags", "emit", "err"]

#: name -> (module, one-line help), in the order ``memres --help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("memres.pygen.train", "train a model on a task and save it"),
    "evaluate": ("memres.pygen.evaluate", "recompute the test metrics of a saved model"),
    "generate": ("memres.pygen.generate", "write Verilog and a manifest for a model or configuration"),
    "verify": ("memres.pygen.verify", "simulate the RTL and check it cycle by cycle against the integer model"),
    "build": ("memres.pygen.build", "build a bitstream for a dev board and report Fmax and utilisation"),
    "program": ("memres.pygen.program", "flash a bitstream onto a dev board"),
    "run": ("memres.pygen.runtime", "stream WAV files to a board (or its simulation) and print decisions"),
    "demo": ("memres.pygen.demo", "run the whole flow on a built-in default (or on FSDD with --data)"),
    "memory": ("memres.pygen.memory", "linear memory capacity of a configuration"),
    "data": ("memres.pygen.data", "download a dataset"),
    "bench": ("memres.pygen.bench", "measure accuracy, speed and hardware beside an echo state network; write a report"),
    "sweep": ("memres.pygen.sweep", "design-space sweep: integer accuracy against synthesis cost, Pareto plots"),
}

EPILOG = """\
typical order:
  memres data fsdd DIR                      fetch the spoken-digit recordings (once)
  memres train --task fsdd -o model.npz     train the reservoir's readout
  memres evaluate model.npz                 test figures of the saved model
  memres generate model.npz -o verilog/     Verilog core and manifest
  memres verify model.npz                   RTL simulation checked every clock against the integer model
  memres build model.npz --board icebreaker a bitstream, Fmax and utilisation
  memres program --board icebreaker ...     flash it; then `memres run` streams WAV files to the board

`memres COMMAND --help` describes a command. Every command takes --json (one JSON object on stdout)
and -q (no progress). Exit status 2: a problem you can fix, named on one line.
"""


class UsageError(MemresError):
    """Arguments argparse refuses (a missing one, a bad choice); ``parser`` is the (sub)parser that refused."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors reach :func:`main` (so ``--json`` can report them as JSON)."""

    def error(self, message: str):
        raise UsageError(self, message)


def _chosen(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is one), or None."""
    return next((a for a in argv if a in COMMANDS), None)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of ``commands`` (default: all; only their modules are imported)."""
    load = set(COMMANDS if commands is None else commands)
    p = _Parser(prog="memres", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Memristive reservoir computing: model to verified FPGA hardware.")
    p.add_argument("--version", action="version", version=f"memres {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name in load:
            mod = importlib.import_module(module)
            mod.add_arguments(sp)
            add_output_flags(sp)
            sp.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = _chosen(argv)
    try:
        args = build_parser([chosen] if chosen else []).parse_args(argv)
    except UsageError as e:   # argparse's own report (usage, then the error), and JSON with --json
        e.parser.print_usage(sys.stderr)
        print(f"{e.parser.prog}: error: {e}", file=sys.stderr)
        if "--json" in argv:
            print(json.dumps({"error": f"{e.parser.prog}: {e}", "type": type(e).__name__}))
        return 2
    args.argv = argv     # the command line as given (memres verify records it)
    setup_logging(quiet=getattr(args, "quiet", False))
    try:
        return args.func(args)
    except MemresError as e:
        finish_progress()   # the error line goes below the bars, not into them
        emit_error(args, e)
        return 2
    finally:
        finish_progress()


if __name__ == "__main__":
    sys.exit(main())
