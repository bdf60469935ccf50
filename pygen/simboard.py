"""The simulated board of ``memres run --sim``: the board top on Verilator behind a pseudo-terminal.

:class:`SimBoard` converts the very :class:`hdl.board.ReservoirBoard` that
``memres build`` puts on the board, runs it on Verilator under cocotb with
``testbenches.uart_bridge`` (which drives the RX pin and decodes the TX pin
bit by bit at the board's clock and baud rate) and connects that UART to a
pseudo-terminal, which the host opens like any serial port.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

from memres.hdl.top import core_timing
from memres.hdl.wire import LinkFormat, MsgType
from memres.pygen.build import make_design
from memres.pygen.generate import to_verilog
from memres.pygen.session import WINDOW, BoardError
from memres.testbenches.runner import run_cocotb, yosys_cell_model
from memres.testbenches.uart_bridge import BRIDGE_ENV

__all__ = ["SimBoard", "SIM_TOP"]

SIM_TOP = "memres_board"
#: The cocotb test module that is the board's UART cable.
BRIDGE_MODULE = "memres.testbenches.uart_bridge"


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

    def device_timing(self) -> dict:
        """The board's latency for one frame in device time (what the simulated hardware takes, not the
        simulator's wall time), from ``hdl.top.core_timing`` and the board's clock and UART divisor.

        ``latency_s``: the last INPUT_FRAME on the wire (``input_frame_s``), the core's latency
        (``core_latency_s`` = ``latency_cycles`` / ``clock_hz``) and its RESULT on the wire
        (``result_s``); the time from the host writing a frame to reading its RESULT on an idle
        board, without the USB-serial adapter's own delay.
        """
        clk = self.design.clk_freq
        line_baud = clk / self.design.link.divisor       # the baud rate the UART really runs at
        cycles = core_timing(self.params).latency
        parts = {"input_frame_s": 1 / self.fmt.frames_per_second(line_baud, MsgType.INPUT_FRAME),
                 "core_latency_s": cycles / clk,
                 "result_s": 1 / self.fmt.frames_per_second(line_baud, MsgType.RESULT)}
        return {"latency_s": sum(parts.values()), **parts, "latency_cycles": cycles, "clock_hz": clk,
                "line_baud": line_baud}

    def __enter__(self) -> "SimBoard":
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
        try:
            sources, build_args = [src], ()
            if self.params.weight_ram == "spram":     # the readout's SPRAM blocks: Yosys' own model of the cell
                sources.append(yosys_cell_model("ice40", "SB_SPRAM256KA", self.work_dir))
                build_args = ("-Wno-BLKSEQ",)
            self.result = run_cocotb(sources, SIM_TOP, BRIDGE_MODULE, None,
                                     env={BRIDGE_ENV: str(self.work_dir / "bridge.json")},
                                     run_dir=self.work_dir / "run", build_args=build_args)
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
