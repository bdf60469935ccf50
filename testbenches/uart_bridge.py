"""cocotb test module: the UART cable between a simulated board top and a pseudo-terminal.

``pygen.simboard.SimBoard`` runs the board top (``hdl.board.ReservoirBoard``)
on Verilator with this module as its cocotb test: :func:`uart_bridge` drives
the RX pin bit by bit with the bytes the host writes to the pseudo-terminal,
and decodes the TX pin bit by bit into it, at the board's clock and baud rate.
Its parameters come as JSON in the file named by :data:`BRIDGE_ENV`.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import tty
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer
from cocotb.utils import get_sim_time

__all__ = ["BRIDGE_ENV", "uart_bridge"]

#: Environment variable that hands the bridge its parameters inside the simulator.
BRIDGE_ENV = "MEMRES_UART_BRIDGE"
#: Bit times between two looks at the pseudo-terminal while there is nothing to send (each look is a
#: return to Python: fewer of them while the core computes make the simulation faster; a byte the host
#: writes meanwhile starts at most this late, about three byte times).
IDLE_BITS = 32


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
            # start bit, 8 data bits LSB first, stop bit; a run of equal bits is one wait (fewer returns
            # to Python, the same waveform on the pin)
            for level, run in itertools.groupby([0] + [(byte >> i) & 1 for i in range(8)] + [1]):
                dut.rx.value = level
                await Timer(len(list(run)) * bit, unit="ps")
            state["active"] = get_sim_time("ps")
        else:   # nothing to send: look at the pseudo-terminal again after IDLE_BITS bit times
            await Timer(IDLE_BITS * bit, unit="ps")
    os.close(master)
    if slave_open:
        os.close(slave)
