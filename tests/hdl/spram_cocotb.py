"""cocotb side of test_spram.py: drive the port operations of a JSON file, compare every defined read."""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer


@cocotb.test()
async def spram_ops(dut):
    job = json.loads(open(os.environ["MEMRES_SPRAM_JOB"]).read())
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 0
    dut.en.value = dut.we.value = dut.addr.value = dut.wdata.value = 0
    await RisingEdge(dut.clk)
    checked = 0
    for (addr, en, we, wdata), want in zip(job["ops"], job["expected"]):
        dut.addr.value, dut.en.value, dut.we.value, dut.wdata.value = addr, en, we, wdata
        await RisingEdge(dut.clk)
        await ReadOnly()
        if want is not None:
            got = int(dut.rdata.value)
            assert got == want, f"op {checked}: rdata {got:#x}, reference {want:#x}"
            checked += 1
        await Timer(1, unit="ns")      # leave the read-only phase before driving again
    assert checked > len(job["ops"]) // 4, checked
