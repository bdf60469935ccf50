"""The options every hardware command shares: lanes, readout, board, clock, inputs, outputs.

``memres generate``, ``verify``, ``build`` and ``run`` describe the core
they make or check with the same flags; :class:`HardwareOptions` defines
them once (spelling, type, help text) and reads them back::

    HardwareOptions.add_arguments(parser, board="required", clock=True, readout_defaults=DEFAULT_READOUT)
    opts = HardwareOptions.from_args(args)
    design = opts.design(load_source(args.source))      # the one design record, hdl.design.Design

A value left ``None`` means "the command's default": for ``lanes`` 1 (or,
in ``verify``, what ``--verilog`` says), for ``readout`` the board's default
(the board table, :data:`hdl.boards.BOARDS`) or ``parallel``,
for ``clock_mhz`` the board's default clock (the same table), for
``n_inputs`` / ``n_outputs`` those of the model (or 32 / 10 for a configuration).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from memres.hdl.boards import BOARDS
from memres.hdl.design import Design
from memres.hdl.params import READOUT_MODES
from memres.pygen.source import DEFAULT_INPUTS, DEFAULT_OUTPUTS, Source

__all__ = ["HardwareOptions", "BOARD_READOUT", "board_clock_mhz"]


#: The readout crossbar of each board unless --readout says otherwise (the board table's).
BOARD_READOUT = {name: spec.default_readout for name, spec in BOARDS.items()}


def board_clock_mhz(board: str) -> float:
    """The default core clock of ``board`` (MHz), from the board table."""
    return BOARDS[board].default_clock_mhz


@dataclass(frozen=True)
class HardwareOptions:
    """What a hardware command was told about the core; ``None``: the command's default (module doc)."""

    lanes: int | None = None
    readout: str | None = None
    board: str | None = None
    clock_mhz: float | None = None
    n_inputs: int | None = None
    n_outputs: int | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser, *, board: str | None = None, clock: bool = False,
                      lanes_default: int | None = 1, lanes_help: str | None = None,
                      readout_default: str | None = None, readout_defaults: Mapping[str, str] | None = None,
                      readout_help: str | None = None, board_default: str | None = None,
                      clock_help: str | None = None, sizes: bool = True) -> None:
        """Add ``--lanes --readout --inputs --outputs`` and, as asked, ``--board`` and ``--clock-mhz``.

        board : None | "required" | "optional"
            Whether the command takes ``--board`` (``board_default`` when optional).
        sizes
            Whether to add ``--inputs`` / ``--outputs`` (for commands that accept a configuration).
        readout_default / readout_defaults
            The readout when ``--readout`` is not given: one value, or one per board.
        """
        parser.add_argument("--lanes", type=int, default=lanes_default,
                            help=lanes_help or f"cells updated per clock: 1, 2, 4, 8, ... (default {lanes_default})")
        if readout_help is None:
            if readout_defaults:
                default = ", ".join(f"{b} {r}" for b, r in readout_defaults.items())
            else:
                default = readout_default or "parallel"
            readout_help = ("readout crossbar: parallel (lanes x K multipliers) or serial (one output per clock: "
                            f"K clocks per beat, far fewer logic cells); default: {default}")
        parser.add_argument("--readout", choices=READOUT_MODES, default=readout_default, help=readout_help)
        if sizes:
            parser.add_argument("--inputs", type=int, metavar="C",
                                help=f"input channels (configuration only; default {DEFAULT_INPUTS})")
            parser.add_argument("--outputs", type=int, metavar="K",
                                help=f"readout outputs (configuration only; default {DEFAULT_OUTPUTS})")
        if board is not None:
            parser.add_argument("--board", choices=sorted(BOARDS), required=board == "required",
                                default=board_default,
                                help="the FPGA board" + (f" (default {board_default})" if board_default else ""))
        if clock:
            parser.add_argument("--clock-mhz", type=float, help=clock_help or (
                "core clock; a PLL makes it when it differs from the oscillator (default: "
                + ", ".join(f"{b} {board_clock_mhz(b):g}" for b in sorted(BOARDS)) + ")"))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "HardwareOptions":
        """The options as parsed (flags the command does not have are None)."""
        return cls(lanes=getattr(args, "lanes", None), readout=getattr(args, "readout", None),
                   board=getattr(args, "board", None), clock_mhz=getattr(args, "clock_mhz", None),
                   n_inputs=getattr(args, "inputs", None), n_outputs=getattr(args, "outputs", None))

    def resolved(self, readout_defaults: Mapping[str, str] | None = None) -> "HardwareOptions":
        """Defaults filled in: lanes 1, the board's readout (else parallel) and oscillator clock."""
        readout = self.readout
        if readout is None:
            readout = (readout_defaults or BOARD_READOUT).get(self.board, "parallel") if self.board else "parallel"
        clock = self.clock_mhz
        if clock is None and self.board in BOARDS:
            clock = board_clock_mhz(self.board)
        return dataclasses.replace(self, lanes=1 if self.lanes is None else self.lanes, readout=readout,
                                   clock_mhz=clock)

    def design(self, source: Source, readout_defaults: Mapping[str, str] | None = None) -> Design:
        """The design record of ``source`` (from :func:`pygen.source.load_source`) with these options."""
        opts = self.resolved(readout_defaults)
        return source.design(lanes=opts.lanes, readout_mode=opts.readout)
