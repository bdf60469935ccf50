"""``memres run``: classify WAV files on a board (or on the board top simulated with Verilator).

::

    memres run model.npz --port /dev/ttyUSB0 a.wav b.wav
    memres run model.npz --sim a.wav                  # same host code, board top on Verilator

Per file: the front-end exactly as training computed it
(``pygen.wavfeatures.wav_codes``), then the board session
(``pygen.session.BoardClient``) over a serial port (``pygen.serialport``,
pyserial) streams the frames and collects the RESULTs. ``--sim`` talks to
``pygen.simboard.SimBoard``, the board top on Verilator behind a
pseudo-terminal. This module is the command; the names it used to define are
re-exported from those modules.
"""

from __future__ import annotations

import argparse
import json
import sys

from memres.hdl.board import link_format
from memres.hdl.boards import BOARDS
from memres.hdl.params import CoreParams
from memres.pygen.console import MODEL_METAVAR, TRAINED_MODEL_HELP, add_output_flags
from memres.pygen.options import HardwareOptions
from memres.pygen.protocol import LinkFormat
from memres.pygen.serialport import SerialPort, SerialPortError
from memres.pygen.session import WINDOW, BoardClient, BoardError, BoardMismatch, Decision, FrameLost, counter_delta
from memres.pygen.simboard import SIM_TOP, SimBoard
from memres.pygen.wavfeatures import FeatureError, expected_decision, wav_codes
from memres.sw_model import __version__
from memres.sw_model.model_file import load_model

__all__ = ["WINDOW", "BoardError", "BoardMismatch", "FrameLost", "SerialPort", "SerialPortError", "BoardClient",
           "Decision", "SimBoard", "SIM_TOP", "FeatureError", "wav_codes", "expected_decision", "counter_delta",
           "add_arguments", "run"]


# --- command line -----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``memres run MODEL (--port DEV | --sim) FILE.wav... [--baud B] [--json]``."""
    parser.add_argument("model", metavar=MODEL_METAVAR, help=f"{TRAINED_MODEL_HELP}: the one the board was built from")
    parser.add_argument("wavs", metavar="FILE.wav", nargs="+", help="recordings to classify")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of the board, e.g. /dev/ttyUSB1")
    where.add_argument("--sim", action="store_true", help="run against the board top simulated with Verilator")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate the bitstream was built for (115200)")
    HardwareOptions.add_arguments(
        parser, board="optional", board_default="icebreaker", clock=True, sizes=False,
        lanes_help="--sim: lanes of the simulated core (default 1)",
        readout_help="--sim: readout crossbar of the simulated core (default: the board's, as memres build)",
        clock_help="--sim: core clock (default: the board's)")
    parser.add_argument("--timeout", type=float, help="seconds without a RESULT before a frame counts as lost "
                        "(default 1, with --sim 30)")
    parser.add_argument("--retries", type=int, default=2, help="resend a sequence after a lost frame (default 2)")
    parser.add_argument("--write-weights", action="store_true",
                        help="load the model's readout over the link first (for a bitstream built from its "
                             "configuration)")
    add_output_flags(parser, "print one JSON object with the decisions")


def run(args: argparse.Namespace) -> int:
    """Run ``memres run``; 0 when every file got a decision."""

    model = load_model(args.model)
    if model.readout_int is None:
        raise BoardError(f"{args.model} has no integer readout")
    codes = [(str(w), wav_codes(model, w)) for w in args.wavs]
    timeout = args.timeout if args.timeout is not None else (30.0 if args.sim else 1.0)
    say = (lambda *a: None) if getattr(args, "quiet", False) else (lambda *a: print(*a, file=sys.stderr))
    # The decisions are the result: one line per file on stderr without --json, with -q too.
    show = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))

    def session(port_path: str, fmt: LinkFormat, params, spram: bool, device: dict | None = None) -> dict:
        """Classify every file; ``device``: the simulated board's device timing (``--sim``), else None."""
        with SerialPort(port_path, args.baud) as port:
            client = BoardClient(port, fmt, timeout=timeout, quiet=0.2 if args.sim else 0.05)
            first = client.check(model.config.hash(), __version__)
            out = {"port": port_path, "config_hash": model.config.hash(), "version": first.version}
            # SPRAM (the iCEBreaker's serial readout) is not set by the bitstream: write the weights always.
            if args.write_weights or spram:
                out["weight_writes"] = client.write_readout(params, model.readout_int.w, model.readout_int.b)
                first = client.status()
            decisions = []
            for name, c in codes:
                d = client.classify_retrying(c, retries=args.retries)
                if device is None:      # a real board: the host's clock is the board's
                    decisions.append({"file": name, "decision": d.decision, "latency_s": d.latency_s,
                                      "frames": d.frames, "seconds": d.seconds, "retries": d.retries})
                    show(f"{name}: {d.decision}  (latency {d.latency_s * 1e3:.1f} ms, {d.frames} frames in "
                         f"{d.seconds:.2f} s{', resent' if d.retries else ''})")
                else:                   # simulated: latency in device time, the simulator's wall time apart
                    decisions.append({"file": name, "decision": d.decision, "latency_s": device["latency_s"],
                                      "sim_wall_s": d.latency_s, "frames": d.frames, "seconds": d.seconds,
                                      "retries": d.retries})
                    show(f"{name}: {d.decision}  (board latency {device['latency_s'] * 1e3:.2f} ms; simulated "
                         f"{d.frames} frames in {d.seconds:.2f} s of wall time{', resent' if d.retries else ''})")
            client.drain()
            out["counters"] = counter_delta(first, client.status(), fmt.counter_bits)
            out["decisions"] = decisions
            return out

    if args.sim:
        say(f"memres run --sim: simulating the {args.board} board top on Verilator (first build ~1 min) ...")
        opts = HardwareOptions.from_args(args)
        with SimBoard(args.model, opts.board, lanes=opts.lanes, baud=args.baud, clock_mhz=opts.clock_mhz,
                      readout=opts.readout) as sim:
            device = sim.device_timing()
            result = {**session(sim.port, sim.fmt, sim.params, sim.params.weight_ram == "spram", device),
                      "sim": True, "board": args.board, "baud": args.baud, "device_timing": device}
    else:
        params = CoreParams(model.constants(), model.n_outputs)
        opts = HardwareOptions.from_args(args).resolved()
        spram = opts.board in BOARDS and \
            BOARDS[opts.board].core_options(readout=opts.readout).weight_ram == "spram"   # as memres build
        result = {**session(args.port, link_format(params), params, spram), "sim": False, "baud": args.baud}
    if args.json:
        print(json.dumps(result))
    return 0
