"""``memres run``: classify WAV files on a board (or on the board top simulated with Verilator).

::

    memres run model.npz --port /dev/ttyUSB0 a.wav b.wav
    memres run model.npz --sim a.wav                  # same host code, board top on Verilator

Host side, per file: the front-end exactly as training computed it
(:func:`wav_codes`: cochleagram, the model's saved Normaliser, input
quantisation), then :class:`BoardClient` streams the frames (first/last
flags, at most :data:`WINDOW` outstanding, ``docs/link.md``) and collects
one RESULT per frame; the decision is the one of the last frame. Before any
frame it asks for STATUS and refuses a board whose configuration hash,
generator version or protocol version differ from the model's. A lost frame
(a RESULT missing) is seen from the counts, the board is resynchronised
(quiet line, STATUS) and the sequence is sent again from its first frame.

``--sim``: :class:`SimBoard` converts the very :class:`hdl.board.ReservoirBoard`
that ``memres build`` puts on the board, runs it on Verilator under cocotb
(:func:`uart_bridge`, below, drives the RX pin and decodes the TX pin bit by
bit at the board's clock and baud rate) and connects that UART to a
pseudo-terminal, which the host opens like any serial port.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pygen.protocol import COUNTERS, PROTOCOL_VERSION, LinkFormat, MsgType, Status, encode, host_decoder
from sw_model.errors import MemresError

__all__ = ["WINDOW", "BoardError", "BoardMismatch", "FrameLost", "SerialPort", "BoardClient", "Decision",
           "SimBoard", "wav_codes", "expected_decision", "add_arguments", "run"]

#: INPUT_FRAMEs in flight at most (the board holds three; docs/link.md "Flow control").
WINDOW = 3
#: Environment variable that hands the bridge its parameters inside the simulator.
BRIDGE_ENV = "MEMRES_UART_BRIDGE"
SIM_TOP = "memres_board"


class BoardError(MemresError, ValueError):
    """A problem talking to the board; the message says what and what to do."""


class BoardMismatch(BoardError):
    """The board runs another configuration, generator version or protocol than the model."""


class FrameLost(BoardError):
    """A RESULT did not come: a frame was dropped on the way (the counters say why)."""


# --- serial port ------------------------------------------------------------------------------

class SerialPort:
    """A POSIX serial port (or pseudo-terminal) in raw 8N1 mode, no flow control.

    Parameters
    ----------
    path : str
        e.g. ``/dev/ttyUSB1`` (the iCEBreaker's FT2232H shows two ports; the UART is the second).
    baud : int
    """

    def __init__(self, path: str, baud: int):
        import termios
        import tty
        speed = getattr(termios, f"B{int(baud)}", None)
        if speed is None:
            raise BoardError(f"{baud} baud is not a rate this system's serial driver offers")
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            raise BoardError(f"cannot open serial port {path}: {e.strerror}; is the board plugged in "
                                f"(ls /dev/ttyUSB*), and may you use it (group dialout)?") from None
        self.path = path
        try:
            tty.setraw(self.fd)
            attrs = termios.tcgetattr(self.fd)
            attrs[2] = (attrs[2] & ~(termios.CSTOPB | termios.PARENB | getattr(termios, "CRTSCTS", 0))) \
                | termios.CLOCAL | termios.CREAD
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
            termios.tcflush(self.fd, termios.TCIOFLUSH)
        except termios.error as e:
            os.close(self.fd)
            raise BoardError(f"{path} is not a serial port ({e})") from None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], 1.0)
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                continue
            view = view[n:]

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds (b"" if nothing)."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- the protocol session ---------------------------------------------------------------------

@dataclass
class Decision:
    """One classified sequence."""
    decision: int
    y: list[list[int]]           # y[k] of every frame, in order
    decisions: list[int]         # running decision after every frame
    latency_s: float             # last frame written -> its RESULT decoded
    seconds: float               # first frame written -> last RESULT decoded
    retries: int = 0

    @property
    def frames(self) -> int:
        return len(self.y)


@dataclass
class BoardClient:
    """Talks the framed protocol to one board over a port with ``write(bytes)`` and ``read(timeout)``.

    Parameters
    ----------
    port : SerialPort or alike
    fmt : LinkFormat
        ``hdl.board.link_format(params)`` of the board's core.
    timeout : float
        Seconds without progress after which a RESULT counts as lost.
    quiet : float
        Seconds of silence that mean the board has nothing more to send.
    """

    port: object
    fmt: LinkFormat
    timeout: float = 1.0
    quiet: float = 0.05
    decoder: object = field(init=False)

    def __post_init__(self):
        self.decoder = host_decoder(self.fmt)

    def _messages(self, timeout: float) -> list:
        # No Decoder.idle() here: on a slow (simulated) line a pause inside a frame is no truncation,
        # and the host decoder finds the next good frame behind a broken one anyway (it rescans).
        data = self.port.read(timeout)
        return self.decoder.feed(data) if data else []

    def drain(self) -> None:
        """Read until the line has been quiet for ``quiet`` seconds; forget what came."""
        while self.port.read(self.quiet):
            pass
        self.decoder = host_decoder(self.fmt)

    def status(self) -> Status:
        """Send STATUS_REQUEST and return the STATUS (RESULTs arriving meanwhile are dropped)."""
        self.port.write(encode(MsgType.STATUS_REQUEST))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for msg in self._messages(deadline - time.monotonic()):
                if msg.type == MsgType.STATUS:
                    return self.fmt.unpack_status(msg.payload)
        raise BoardError(f"no STATUS from {getattr(self.port, 'path', 'the board')} within {self.timeout:g} s: "
                            f"is the bitstream loaded, the port right (the iCEBreaker's UART is the second "
                            f"/dev/ttyUSB of its pair) and the baud rate the one it was built for?")

    def check(self, config_hash: str, version: str) -> Status:
        """STATUS, refusing a board built for another configuration, generator or protocol."""
        self.drain()
        st = self.status()
        problems = []
        if st.protocol != PROTOCOL_VERSION:
            problems.append(f"protocol {st.protocol}, this host speaks {PROTOCOL_VERSION}")
        if st.config_hash.hex() != config_hash:
            problems.append(f"configuration hash {st.config_hash.hex()}, the model's is {config_hash}")
        if st.version != version:
            problems.append(f"generator version {st.version!r}, this memres is {version!r}")
        if problems:
            raise BoardMismatch("the board runs another design: " + "; ".join(problems)
                                + ". Build and program a bitstream from this model (memres build / memres program).")
        return st

    def classify(self, codes: np.ndarray) -> Decision:
        """Stream one sequence (T, C) of input codes; raise :class:`FrameLost` if a RESULT is missing."""
        codes = np.asarray(codes)
        n = len(codes)
        if n == 0:
            raise ValueError("a sequence needs at least one frame")
        frames = [self.fmt.encode_input_frame(codes[t].tolist(), first=t == 0, last=t == n - 1) for t in range(n)]
        results, sent = [], 0
        t0 = t_last = time.perf_counter()
        progress = time.monotonic()
        while len(results) < n:
            while sent < n and sent - len(results) < WINDOW:
                self.port.write(frames[sent])
                sent += 1
                t_last = time.perf_counter()
            for msg in self._messages(0.02):
                if msg.type != MsgType.RESULT:
                    continue
                r = self.fmt.unpack_result(msg.payload)
                results.append(r)
                progress = time.monotonic()
                if r.last and len(results) < n:
                    raise FrameLost(f"the sequence's last RESULT came after {len(results)} of {n} frames")
                if len(results) == n and not r.last:
                    raise FrameLost(f"{n} RESULTs came but the last was not flagged last")
            if time.monotonic() - progress > self.timeout:
                raise FrameLost(f"no RESULT for {self.timeout:g} s after {len(results)} of {n} frames")
        t_end = time.perf_counter()
        return Decision(results[-1].decision, [list(r.y) for r in results], [r.decision for r in results],
                        t_end - t_last, t_end - t0)

    def classify_retrying(self, codes: np.ndarray, retries: int = 2) -> Decision:
        """:meth:`classify`; after a lost frame resynchronise and send the sequence again from its start."""
        for attempt in range(retries + 1):
            try:
                d = self.classify(codes)
                d.retries = attempt
                return d
            except FrameLost:
                if attempt == retries:
                    raise
                self.drain()
        raise AssertionError("unreachable")

    def write_readout(self, params, w: np.ndarray, b: np.ndarray) -> int:
        """Load readout weights and biases through WEIGHT_WRITE; returns the number of writes.

        Checked afterwards with STATUS: every write must have been counted as
        a good frame and none overrun.
        """
        from hdl.board import bias_address, weight_address
        before = self.status().counters
        writes = [(weight_address(params, j, k), int(w[j, k])) for j in range(w.shape[0]) for k in range(w.shape[1])]
        writes += [(bias_address(params, k), int(b[k])) for k in range(len(b))]
        for addr, value in writes:
            self.port.write(encode(MsgType.WEIGHT_WRITE, self.fmt.pack_weight_write(addr, value)))
        after = self.status().counters
        wrap = 1 << self.fmt.counter_bits
        ok = (after["frames_ok"] - before["frames_ok"]) % wrap
        if ok != len(writes) + 1 or after["overrun"] != before["overrun"]:
            raise BoardError(f"the board took {ok - 1} of {len(writes)} weight writes "
                                f"(overrun {(after['overrun'] - before['overrun']) % wrap}); try a lower baud rate")
        return len(writes)


def counter_delta(before: Status, after: Status, bits: int) -> dict[str, int]:
    return {name: (after.counters[name] - before.counters[name]) % (1 << bits) for name in COUNTERS}


# --- features ---------------------------------------------------------------------------------

def wav_codes(model, path) -> np.ndarray:
    """Input codes (T, C) of a WAV file, exactly as training computed them.

    Cochleagram (``sw_model.frontend``, the model's front-end settings) ->
    the model's saved Normaliser -> ``quantise_inputs`` at the model's input width.
    """
    from sw_model.datasets.fsdd import read_wav
    from sw_model.fixed import quantise_inputs
    from sw_model.frontend import Normaliser, cochleagram
    from sw_model.speech import frontend_config

    if model.task != "fsdd":
        raise BoardError(f"memres run classifies audio; this model was trained for {model.task!r}")
    fe = frontend_config(model.config)
    u = Normaliser.from_dict(model.preprocessing).transform(cochleagram(read_wav(path, fe.sample_rate), fe))
    return quantise_inputs(u, model.config.fixed.input_bits).astype(np.int64)


def expected_decision(model, codes: np.ndarray) -> tuple[int, np.ndarray]:
    """The integer model's sequence decision and per-frame readouts y (T, K) for the same codes."""
    from sw_model.fixed import FixedReservoir
    res = FixedReservoir(model.config.reservoir, model.config.fixed, model.n_inputs)
    feats = res.run_batch(np.asarray(codes, dtype=np.int64)[None])[0]
    ro = model.readout_int
    y = feats @ ro.w + ro.b
    return int(np.argmax(y.sum(axis=0))), y


# --- the simulated board ----------------------------------------------------------------------

class SimBoard:
    """The board top (without its clock) on Verilator, its UART behind a pseudo-terminal.

    ::

        with SimBoard("model.npz", "icebreaker", baud=115200) as sim:
            port = SerialPort(sim.port, 115200)

    Parameters are those of ``memres build``; ``work_dir`` keeps the Verilog,
    cocotb's log (``run/sim.log``) and results (default: a temporary folder).
    """

    def __init__(self, source, board: str = "icebreaker", *, lanes: int = 1, baud: int = 115200,
                 clock_mhz: float | None = None, n_inputs: int | None = None, n_outputs: int | None = None,
                 work_dir=None, start_timeout: float = 600.0, readout: str | None = None):
        from pygen.build import make_design
        self.design, self.info, _, _ = make_design(source, board, lanes=lanes, baud=baud, clock_mhz=clock_mhz,
                                                   n_inputs=n_inputs, n_outputs=n_outputs, readout=readout)
        self.board, self.baud = board, baud
        self._tmp = None if work_dir is not None else tempfile.TemporaryDirectory(prefix="memres-sim-")
        self.work_dir = Path(work_dir if work_dir is not None else self._tmp.name)
        self.start_timeout = start_timeout
        self.port: str | None = None
        self.result = None
        self._error: BaseException | None = None

    @property
    def params(self):
        return self.design.core.params

    @property
    def fmt(self) -> LinkFormat:
        return self.design.fmt

    def __enter__(self) -> "SimBoard":
        from pygen.generate import to_verilog
        self.work_dir.mkdir(parents=True, exist_ok=True)
        src = self.work_dir / f"{SIM_TOP}.v"
        src.write_text(to_verilog(self.design, name=SIM_TOP))
        core = self.design.core
        period_ps = 2 * round(0.5e12 / self.design.clk_freq)   # cocotb wants an even period
        divisor = self.design.link.divisor
        pty_file, self._stop = self.work_dir / "pty", self.work_dir / "stop"
        for f in (pty_file, self._stop):
            f.unlink(missing_ok=True)
        params = {"period_ps": period_ps, "divisor": divisor, "pty_file": str(pty_file), "stop_file": str(self._stop),
                  "quiet_cycles": 20 * 10 * divisor + 4 * (core.latency + WINDOW * core.cycles_per_frame),
                  "host_pid": os.getpid()}
        (self.work_dir / "bridge.json").write_text(json.dumps(params))
        self._thread = threading.Thread(target=self._simulate, args=(src,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not pty_file.is_file():
            if not self._thread.is_alive():
                why = self._error if self._error is not None else \
                    (self.result.summary() if self.result is not None else "no result")
                raise BoardError(f"the simulation ended before its UART came up: {why}")
            if time.monotonic() > deadline:
                self._stop.touch()
                raise BoardError(f"the simulation did not start within {self.start_timeout:g} s; "
                                    f"see {self.work_dir / 'run' / 'sim.log'}")
            time.sleep(0.05)
        self.port = pty_file.read_text().strip()
        return self

    def _simulate(self, src: Path) -> None:
        from testbenches.runner import run_cocotb
        try:
            self.result = run_cocotb([src], SIM_TOP, "pygen.runtime", Path(__file__).resolve().parents[1],
                                     env={BRIDGE_ENV: str(self.work_dir / "bridge.json")},
                                     run_dir=self.work_dir / "run")
        except BaseException as e:   # reported by __enter__/__exit__
            self._error = e

    def __exit__(self, *exc) -> None:
        self._stop.touch()
        self._thread.join(timeout=60)
        try:
            if exc[0] is None:
                if self._error is not None:
                    raise BoardError(f"the simulation failed: {self._error}")
                if self.result is None or not self.result.passed:
                    raise BoardError("the simulated board's bridge failed: "
                                        + (self.result.summary() if self.result else "no result"))
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()


def _define_bridge():
    """The cocotb test that is the board's UART cable (defined only inside the simulator)."""
    import pty  # noqa: F401  (POSIX only, like the rest of --sim)
    import tty

    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, Timer
    from cocotb.utils import get_sim_time

    @cocotb.test()
    async def uart_bridge(dut):
        """Bytes from the pseudo-terminal -> RX pin bit by bit; TX pin decoded bit by bit -> pseudo-terminal."""
        p = json.loads(Path(os.environ[BRIDGE_ENV]).read_text())
        period, bit = p["period_ps"], p["period_ps"] * p["divisor"]
        quiet_ps = p["quiet_cycles"] * period
        Clock(dut.clk, period, unit="ps").start()
        dut.rx.value = 1
        dut.rst.value = 1
        await Timer(10 * period, unit="ps")
        dut.rst.value = 0
        master, slave = os.openpty()
        tty.setraw(slave)
        tmp = p["pty_file"] + ".tmp"
        Path(tmp).write_text(os.ttyname(slave))
        os.replace(tmp, p["pty_file"])
        state = {"active": get_sim_time("ps")}

        async def transmit_monitor():
            while True:
                await FallingEdge(dut.tx)
                await Timer(bit // 2, unit="ps")
                if int(dut.tx.value):
                    continue   # not a start bit
                byte = 0
                for i in range(8):
                    await Timer(bit, unit="ps")
                    byte |= int(dut.tx.value) << i
                await Timer(bit, unit="ps")
                state["active"] = get_sim_time("ps")
                try:
                    os.write(master, bytes([byte]))
                except OSError:
                    return   # the host has gone

        cocotb.start_soon(transmit_monitor())
        queue = bytearray()
        slave_open = True
        while True:
            quiet = not queue and get_sim_time("ps") - state["active"] > quiet_ps
            ready, _, _ = select.select([master], [], [], 0.002 if quiet else 0)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    break     # EIO: the host closed the port
                queue += data
                if slave_open:    # the host has it open now: let its close end the bridge
                    os.close(slave)
                    slave_open = False
            if quiet and (os.path.exists(p["stop_file"]) or os.getppid() == 1):
                break
            if queue:
                byte = queue.pop(0)
                for level in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                    dut.rx.value = level
                    await Timer(bit, unit="ps")
                state["active"] = get_sim_time("ps")
            else:
                await Timer(4 * bit, unit="ps")
        os.close(master)
        if slave_open:
            os.close(slave)

    return uart_bridge


if os.environ.get(BRIDGE_ENV):   # inside the simulator only
    uart_bridge = _define_bridge()


# --- command line -----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``memres run MODEL (--port DEV | --sim) FILE.wav... [--baud B] [--json]``."""
    from hdl.board import BOARDS
    parser.add_argument("model", metavar="MODEL", help="the trained model (.npz) the board was built from")
    parser.add_argument("wavs", metavar="FILE.wav", nargs="+", help="recordings to classify")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of the board, e.g. /dev/ttyUSB1")
    where.add_argument("--sim", action="store_true", help="run against the board top simulated with Verilator")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate the bitstream was built for (115200)")
    parser.add_argument("--board", choices=sorted(BOARDS), default="icebreaker",
                        help="--sim: which board top to simulate (its clock and UART divisor)")
    parser.add_argument("--lanes", type=int, default=1, help="--sim: lanes of the simulated core")
    parser.add_argument("--readout", choices=("parallel", "serial"),
                        help="--sim: readout crossbar of the simulated core (default: the board's, as memres build)")
    parser.add_argument("--clock-mhz", type=float, help="--sim: core clock (default: the board's)")
    parser.add_argument("--timeout", type=float, help="seconds without a RESULT before a frame counts as lost "
                        "(default 1, with --sim 30)")
    parser.add_argument("--retries", type=int, default=2, help="resend a sequence after a lost frame (default 2)")
    parser.add_argument("--write-weights", action="store_true",
                        help="load the model's readout over the link first (for a bitstream built from its "
                             "configuration)")
    from pygen.cli import add_output_flags
    add_output_flags(parser, "print one JSON object with the decisions", "no progress messages")


def run(args: argparse.Namespace) -> int:
    """Run ``memres run``; 0 when every file got a decision."""
    from sw_model import __version__
    from sw_model.model_file import load_model

    model = load_model(args.model)
    if model.readout_int is None:
        raise BoardError(f"{args.model} has no integer readout")
    codes = [(str(w), wav_codes(model, w)) for w in args.wavs]
    timeout = args.timeout if args.timeout is not None else (30.0 if args.sim else 1.0)
    say = (lambda *a: None) if getattr(args, "quiet", False) else (lambda *a: print(*a, file=sys.stderr))

    def session(port_path: str, fmt: LinkFormat, params) -> dict:
        with SerialPort(port_path, args.baud) as port:
            client = BoardClient(port, fmt, timeout=timeout, quiet=0.2 if args.sim else 0.05)
            first = client.check(model.config.hash(), __version__)
            out = {"port": port_path, "config_hash": model.config.hash(), "version": first.version}
            if args.write_weights:
                out["weight_writes"] = client.write_readout(params, model.readout_int.w, model.readout_int.b)
                first = client.status()
            decisions = []
            for name, c in codes:
                d = client.classify_retrying(c, retries=args.retries)
                decisions.append({"file": name, "decision": d.decision, "latency_s": d.latency_s,
                                  "frames": d.frames, "seconds": d.seconds, "retries": d.retries})
                say(f"{name}: {d.decision}  (latency {d.latency_s * 1e3:.1f} ms, {d.frames} frames in "
                    f"{d.seconds:.2f} s{', resent' if d.retries else ''})")
            client.drain()
            out["counters"] = counter_delta(first, client.status(), fmt.counter_bits)
            out["decisions"] = decisions
            return out

    if args.sim:
        say(f"memres run --sim: simulating the {args.board} board top on Verilator (first build ~1 min) ...")
        with SimBoard(args.model, args.board, lanes=args.lanes, baud=args.baud, clock_mhz=args.clock_mhz,
                      readout=args.readout) as sim:
            result = {**session(sim.port, sim.fmt, sim.params), "sim": True, "board": args.board, "baud": args.baud}
    else:
        from hdl.board import link_format
        from hdl.params import CoreParams
        params = CoreParams(model.constants(), model.n_outputs)
        result = {**session(args.port, link_format(params), params), "sim": False, "baud": args.baud}
    if args.json:
        print(json.dumps(result))
    return 0
