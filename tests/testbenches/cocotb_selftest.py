"""cocotb tests for the ``AddConst`` self-test design (tests/testbenches/selftest_design.py).

Run by tests/testbenches/test_toolchain.py through testbenches.runner.run_cocotb.
Parameters come from the JSON file named by ``MEMRES_SELFTEST_PARAMS``:
``width``, ``constant`` (what the design is *supposed* to add), ``beats``,
``p_valid``, ``p_ready`` (probability per cycle), ``seed``.

Every cycle: inputs are driven just after the falling edge, the settled
handshake signals are read in the ReadOnly phase before the next rising edge
(nothing changes in between), and each accepted output beat is compared with a
Python model of the stream; stream rules (payload held while valid and not
ready, no beats out of nowhere, nothing lost) are checked too.
"""

import json
import os
import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly


def load_params() -> dict:
    params = {"width": 8, "constant": 3, "beats": 1000, "p_valid": 0.6, "p_ready": 0.6, "seed": 1}
    path = os.environ.get("MEMRES_SELFTEST_PARAMS")
    if path:
        with open(path) as f:
            params.update(json.load(f))
    return params


def model(x: int, p: dict) -> int:
    return (x + p["constant"]) % (1 << p["width"])


async def reset(dut) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.i__payload.value = 0
    dut.o__ready.value = 0
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_stream(dut, p: dict, p_valid: float, p_ready: float, rng: random.Random) -> int:
    """Push p['beats'] random beats through the DUT; return the number of cycles taken."""
    n = p["beats"]
    inputs = [rng.randrange(1 << p["width"]) for _ in range(n)]
    expected: deque[int] = deque()  # model outputs of beats accepted but not yet out
    sent = received = cycles = 0
    valid = i_fire = False
    held = None  # payload of an output beat seen valid but not yet accepted
    limit = 20 * n + 100
    while received < n:
        await FallingEdge(dut.clk)
        cycles += 1
        assert cycles < limit, f"stall: {received}/{n} beats out after {cycles} cycles"
        # Drive: a raised valid holds its payload until accepted; random gaps otherwise.
        if i_fire:
            valid = False
        if not valid and sent < n and rng.random() < p_valid:
            valid = True
            dut.i__payload.value = inputs[sent]
        dut.i__valid.value = int(valid)
        dut.o__ready.value = int(rng.random() < p_ready)
        await ReadOnly()  # combinational paths settled; stable until the rising edge
        i_fire = valid and bool(int(dut.i__ready.value))
        if int(dut.o__valid.value):
            payload = int(dut.o__payload.value)
            if held is not None:
                assert payload == held, f"o.payload changed from {held} to {payload} while stalled"
            assert expected, f"output beat {payload} with no input beat pending"
            if int(dut.o__ready.value):
                want = expected.popleft()
                assert payload == want, (
                    f"beat {received}: got {payload}, expected {want} "
                    f"(input {inputs[received]} + {p['constant']} mod 2**{p['width']})")
                received += 1
                held = None
            else:
                held = payload
        else:
            held = None
        # The input beat accepted at the coming edge shows at the output from the next cycle.
        if i_fire:
            expected.append(model(inputs[sent], p))
            sent += 1
    return cycles


@cocotb.test()
async def random_valid_and_backpressure(dut):
    """Random input gaps and random output back-pressure; every beat checked."""
    p = load_params()
    rng = random.Random(p["seed"])
    await reset(dut)
    await run_stream(dut, p, p["p_valid"], p["p_ready"], rng)


@cocotb.test()
async def full_throughput(dut):
    """Valid and ready always high: one beat per cycle after one cycle of latency."""
    p = load_params()
    rng = random.Random(p["seed"] + 1)
    await reset(dut)
    cycles = await run_stream(dut, p, 1.0, 1.0, rng)
    assert cycles <= p["beats"] + 2, f"{p['beats']} beats took {cycles} cycles"
