"""What the ``memres`` commands share to talk to people: stderr, ``--json``, logging, progress.

* :data:`err`, the rich console on stderr for the few lines a command prints
  for people (its summary);
* :func:`emit` prints a command's result: one JSON object on stdout with
  ``--json``, else the human summary;
* :func:`say` prints a message for people (a step, a note) unless ``-q``:
  ``-q`` means "no progress bars or messages" in every command; the result
  (:func:`emit`) and errors are still printed;
* :func:`add_output_flags` gives a command its ``--json`` and ``-q/--quiet``;
* :func:`setup_logging`, called once by the dispatcher (``pygen/cli.py``),
  routes the :mod:`logging` records of the library (``sw_model``, ``hdl``,
  ``testbenches``, ``pygen``) to stderr: through rich's ``RichHandler`` on a
  terminal, as plain unwrapped lines otherwise, and renders the progress
  records of :mod:`sw_model.progress` as rich bars on a terminal or, when
  stderr is not a terminal (a log file, CI), as a plain line every 10 % or
  every 10 s;
* :func:`progress_bars` yields the ``(description, total) -> advance(n)``
  factory the training functions take.

Library code never imports this module to report progress: it logs (and
uses :mod:`sw_model.progress`); only command modules use it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from memres.sw_model import progress as progress_mod
from memres.sw_model.errors import MemresError

__all__ = ["err", "UserError", "emit", "emit_error", "say", "QUIET_HELP", "MODEL_METAVAR", "MODEL_HELP",
           "TRAINED_MODEL_HELP", "add_output_flags", "setup_logging", "finish_progress",
           "progress_bars", "ProgressHandler", "LIBRARY_LOGGERS"]

#: The console on stderr. Its file is looked up at each print (``sys.stderr``), so redirection works.
err = Console(stderr=True)

#: The help of ``-q/--quiet``, the same in every command.
QUIET_HELP = "no progress bars or messages"
#: The metavar and help of the model argument of the commands that take a model or a configuration.
MODEL_METAVAR = "MODEL"
#: The help of a model argument that must be trained (``evaluate``, ``run``): no configuration.
TRAINED_MODEL_HELP = "a trained model .npz"
MODEL_HELP = f"{TRAINED_MODEL_HELP} or a configuration .json/.toml"

#: Loggers of the memres layers whose INFO records a command shows (``-q``: warnings only).
LIBRARY_LOGGERS = ("memres",)


class UserError(MemresError):
    """A problem the user can fix, found by a command itself; printed without a traceback."""


# --- output ------------------------------------------------------------------------------

def add_output_flags(parser: argparse.ArgumentParser, json_help: str = "print one JSON object with the results "
                     "on stdout", quiet_help: str = QUIET_HELP) -> None:
    """``--json`` and ``-q/--quiet`` for a command, unless the parser already has them."""
    dests = {a.dest for a in parser._actions}
    if "json" not in dests:
        parser.add_argument("--json", action="store_true", help=json_help)
    if "quiet" not in dests:
        parser.add_argument("-q", "--quiet", action="store_true", help=quiet_help)


def emit(args: argparse.Namespace, result: dict, human: Callable[[dict], None]) -> None:
    """One JSON object on stdout with ``--json``, else ``human(result)`` (which prints to :data:`err`)."""
    if getattr(args, "json", False):
        print(json.dumps(result, indent=None, sort_keys=False, default=float))
    else:
        human(result)


def say(args: argparse.Namespace, text: str) -> None:
    """A message for people on stderr (rich markup), unless the command was given ``-q``."""
    if not getattr(args, "quiet", False):
        err.print(text)


def emit_error(args: argparse.Namespace, error: MemresError) -> None:
    """A user error: one line on stderr; with ``--json`` also ``{"error", "type"}`` on stdout."""
    err.print(f"[red]memres {getattr(args, 'command', '')}: error:[/] {escape(str(error))}", highlight=False)
    if getattr(args, "json", False):
        print(json.dumps({"error": str(error), "type": type(error).__name__}))


# --- logging and progress ------------------------------------------------------------------

class _PlainHandler(logging.Handler):
    """One line per record on the console's file (stderr), never wrapped (for logs and pipes)."""

    def __init__(self, console: Console):
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.WARNING:
                text = f"{record.levelname.lower()}: {text}"
            self.console.file.write(text + "\n")
            self.console.file.flush()
        except Exception:  # noqa: BLE001 - logging must not raise
            self.handleError(record)


def _count(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.1f}"


class ProgressHandler(logging.Handler):
    """Renders :class:`sw_model.progress.Update` records: rich bars on a terminal, else plain lines.

    Plain lines (stderr not a terminal): one when a task starts, one each time
    it passes another ``step`` of its total (10 %) or ``interval`` seconds
    after the last line (10 s), one when it ends.
    """

    def __init__(self, console: Console, interval: float = 10.0, step: float = 0.1):
        super().__init__()
        self.console = console
        self.interval = interval
        self.step = step
        self.bars: Progress | None = None
        self.rich_ids: dict[int, int] = {}
        self.plain: dict[int, tuple[float, float, int]] = {}   # id -> (start, last print, last step)
        self.open: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        u = getattr(record, "progress", None)
        if not isinstance(u, progress_mod.Update):
            return
        try:
            if self.console.is_terminal:
                self._bar(u)
            else:
                self._line(u)
        except Exception:  # noqa: BLE001
            self.handleError(record)

    def _bar(self, u) -> None:
        if u.id not in self.rich_ids:
            if self.bars is None:
                self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.console, transient=False)
                self.bars.start()
            self.rich_ids[u.id] = self.bars.add_task(u.description, total=u.total)
            self.open.add(u.id)
        self.bars.update(self.rich_ids[u.id], completed=u.completed)
        if u.done:
            self.open.discard(u.id)
            if not self.open:
                self.close_bars()

    def _line(self, u) -> None:
        now = time.monotonic()
        total = f"/{_count(u.total)}" if u.total else ""
        if u.id not in self.plain:
            self.plain[u.id] = (now, now, 0)
            self.console.file.write(f"{u.description}: {_count(u.completed)}{total}\n")
            self.console.file.flush()
            if not u.done:
                return
        start, last, last_step = self.plain[u.id]
        if u.done:
            del self.plain[u.id]
            self.console.file.write(f"{u.description}: {_count(u.completed)}{total} done in {now - start:.1f} s\n")
            self.console.file.flush()
            return
        k = math.floor(u.completed / u.total / self.step) if u.total else last_step
        if k > last_step or now - last >= self.interval:
            pct = f" ({100 * u.completed / u.total:.0f} %)" if u.total else ""
            self.console.file.write(f"{u.description}: {_count(u.completed)}{total}{pct}, "
                                    f"{now - start:.0f} s\n")
            self.console.file.flush()
            self.plain[u.id] = (start, now, max(k, last_step))

    def close_bars(self) -> None:
        if self.bars is not None:
            self.bars.stop()
        self.bars = None
        self.rich_ids.clear()
        self.open.clear()

    def close(self) -> None:
        self.close_bars()
        self.plain.clear()
        super().close()


_installed: list[tuple[logging.Logger, logging.Handler]] = []


def setup_logging(quiet: bool = False, console: Console = err) -> None:
    """Route library logging and progress to stderr (once per command; replaces an earlier setup).

    On a terminal log records go through rich's ``RichHandler``; otherwise each
    is one plain line, never wrapped at the console width, and the console
    does not wrap what commands print either (``soft_wrap``).
    """
    finish_progress()
    for logger, handler in _installed:
        logger.removeHandler(handler)
        handler.close()
    _installed.clear()
    terminal = console.is_terminal
    console.soft_wrap = not terminal
    if terminal:
        handler: logging.Handler = RichHandler(console=console, show_time=False, show_path=False,
                                               markup=False, rich_tracebacks=False)
    else:
        handler = _PlainHandler(console)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    _installed.append((root, handler))
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.INFO)
    progress_logger = logging.getLogger(progress_mod.LOGGER_NAME)
    progress_logger.setLevel(logging.WARNING if quiet else logging.INFO)
    progress_logger.propagate = False
    bars = ProgressHandler(console)
    progress_logger.addHandler(bars)
    _installed.append((progress_logger, bars))


def finish_progress() -> None:
    """Stop any live progress bars (the end of a command)."""
    for _, handler in _installed:
        if isinstance(handler, ProgressHandler):
            handler.close_bars()


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Yield a factory ``(description, total) -> advance(n)``: :func:`sw_model.progress.factory`.

    The bars are drawn by the handler :func:`setup_logging` installed; they
    stop at the end of the block. ``enabled=False`` yields a factory that reports nothing.
    """
    try:
        yield progress_mod.factory if enabled else progress_mod.no_progress
    finally:
        finish_progress()
